-- The adapter registry is the one truth for every replica and worker: each row carries its artifact (the adapter
-- folder as an uncompressed tar), that tar's sha256 and a version that grows on every replace. One counter, bumped
-- by any change to the table, lets a replica notice an activation, replacement or deletion made elsewhere with
-- one cheap read (chatbot.adapter_catalog polls it at most once a second on use).
CREATE SEQUENCE adapter_versions;
ALTER TABLE adapters
    ADD COLUMN version bigint NOT NULL DEFAULT nextval('adapter_versions'),
    ADD COLUMN sha256  text,
    ADD COLUMN archive bytea;

CREATE TABLE adapter_registry_state (
    id      boolean PRIMARY KEY DEFAULT true CHECK (id),
    version bigint NOT NULL DEFAULT 0
);
INSERT INTO adapter_registry_state DEFAULT VALUES;

CREATE FUNCTION adapter_registry_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE adapter_registry_state SET version = version + 1;
    RETURN NULL;
END $$;

CREATE TRIGGER adapters_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON adapters
    FOR EACH STATEMENT EXECUTE FUNCTION adapter_registry_bump();
