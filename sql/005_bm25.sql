-- BM25 over Postgres' own lexemes (english stemming and stop words, the heading counted with the text):
-- an inverted index of (collection, term) → chunk with the term's frequency and the chunk's length, plus
-- per-collection totals. Triggers keep both current for every writer, so the lexical arm scores exact BM25
-- with live statistics (IDF and average length are read at query time, nothing is frozen at ingest).
-- Fusion: the lexical arm's weight, calibrated per collection without labels (chatbot/fusion_calibration.py),
-- with the chunk count it was calibrated at (a collection that grew or shrank much is calibrated again).
ALTER TABLE collections
    ADD COLUMN chunk_count       bigint NOT NULL DEFAULT 0,
    ADD COLUMN term_total        bigint NOT NULL DEFAULT 0,
    ADD COLUMN lexical_weight    real CHECK (lexical_weight BETWEEN 0 AND 1),
    ADD COLUMN calibrated_chunks bigint,
    ADD COLUMN calibration       jsonb;

CREATE TABLE chunk_terms (
    collection_id bigint  NOT NULL,
    term          text    NOT NULL,
    chunk_id      bigint  NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
    tf            integer NOT NULL CHECK (tf > 0),
    chunk_length  integer NOT NULL CHECK (chunk_length > 0),
    PRIMARY KEY (collection_id, term, chunk_id)
);
CREATE INDEX chunk_terms_chunk ON chunk_terms (chunk_id);

-- Positions per lexeme (at most 256 are kept per lexeme, enough for a chunk); a stripped lexeme counts once.
CREATE FUNCTION chunk_terms_add() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    total integer;
BEGIN
    SELECT coalesce(sum(coalesce(array_length(positions, 1), 1)), 0) INTO total FROM unnest(NEW.tsv);
    IF total > 0 THEN
        INSERT INTO chunk_terms (collection_id, term, chunk_id, tf, chunk_length)
        SELECT NEW.collection_id, lexeme, NEW.id, coalesce(array_length(positions, 1), 1), total
        FROM unnest(NEW.tsv);
    END IF;
    UPDATE collections SET chunk_count = chunk_count + 1, term_total = term_total + total
    WHERE id = NEW.collection_id;
    RETURN NULL;
END $$;

CREATE FUNCTION chunk_terms_remove() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE collections SET chunk_count = chunk_count - 1,
        term_total = term_total - (SELECT coalesce(sum(coalesce(array_length(positions, 1), 1)), 0) FROM unnest(OLD.tsv))
    WHERE id = OLD.collection_id;
    RETURN NULL;
END $$;

CREATE TRIGGER chunks_terms_insert AFTER INSERT ON chunks FOR EACH ROW EXECUTE FUNCTION chunk_terms_add();
CREATE TRIGGER chunks_terms_delete AFTER DELETE ON chunks FOR EACH ROW EXECUTE FUNCTION chunk_terms_remove();

-- Chunks stored before this migration.
INSERT INTO chunk_terms (collection_id, term, chunk_id, tf, chunk_length)
SELECT k.collection_id, t.lexeme, k.id, coalesce(array_length(t.positions, 1), 1),
       sum(coalesce(array_length(t.positions, 1), 1)) OVER (PARTITION BY k.id)
FROM chunks k, unnest(k.tsv) t;
UPDATE collections c SET chunk_count = s.chunks, term_total = s.terms
FROM (SELECT k.collection_id, count(DISTINCT k.id) AS chunks,
             coalesce(sum(coalesce(array_length(t.positions, 1), 1)), 0) AS terms
      FROM chunks k LEFT JOIN LATERAL unnest(k.tsv) t ON true GROUP BY k.collection_id) s
WHERE c.id = s.collection_id;
