-- A collection's HNSW index built by one function, so that a bulk load can drop it, COPY its chunks and build
-- the graph once (a 100k-chunk collection: one build instead of 100k incremental inserts).
CREATE FUNCTION collection_hnsw_build(collection_id bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON chunks USING hnsw (embedding vector_cosine_ops)'
                   ' WHERE collection_id = %s', collection_hnsw_name(collection_id), collection_id);
END $$;

CREATE OR REPLACE FUNCTION collection_hnsw_create() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM collection_hnsw_build(NEW.id);
    RETURN NULL;
END $$;
