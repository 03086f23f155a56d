-- ragbot schema: collections → documents → chunks (embedding + full text).
-- {embedding_dim} is replaced by the embedder's dimension when the migration is applied.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE collections (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE documents (
    id            bigserial PRIMARY KEY,
    collection_id bigint NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    source        text NOT NULL,
    sha256        char(64) NOT NULL,
    title         text NOT NULL DEFAULT '',
    metadata      jsonb NOT NULL DEFAULT '{}'::jsonb,
    ingested_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (collection_id, source)
);

CREATE TABLE chunks (
    id           bigserial PRIMARY KEY,
    document_id  bigint NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    -- Denormalised from documents so that a collection-filtered top-k stays a plain HNSW index scan.
    collection_id bigint NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    ordinal      integer NOT NULL CHECK (ordinal >= 0),
    text         text NOT NULL,
    token_count  integer NOT NULL CHECK (token_count > 0),
    embedding    vector({embedding_dim}) NOT NULL,
    metadata     jsonb NOT NULL DEFAULT '{}'::jsonb,
    tsv          tsvector GENERATED ALWAYS AS (
                     setweight(to_tsvector('english'::regconfig, coalesce(metadata->>'heading', '')), 'B')
                     || setweight(to_tsvector('english'::regconfig, text), 'A')
                 ) STORED,
    UNIQUE (document_id, ordinal)
);

CREATE INDEX chunks_embedding_hnsw ON chunks USING hnsw (embedding vector_cosine_ops);
CREATE INDEX chunks_tsv_gin ON chunks USING gin (tsv);
CREATE INDEX documents_collection ON documents (collection_id);
CREATE INDEX chunks_collection ON chunks (collection_id);
