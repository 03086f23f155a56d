-- Vectors of a collection's chunks made by embedders other than the one it queries with: staged before
-- `ragbot embedder use` switches the collection to another embedder, and kept after (the previous embedder's
-- vectors), so that switching back re-encodes nothing. Queries read only chunks.embedding: a switch copies a set
-- from here into it and records the embedder in collections, in one transaction. `ragbot embedder drop` deletes
-- a set. A chunk's vectors go with it (a re-ingested document gets new chunks, encoded at the next switch).
CREATE TABLE chunk_vectors (
    collection_id    bigint NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    embedder_model   text NOT NULL,
    embedder_backend text NOT NULL,
    chunk_id         bigint NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
    embedding        vector({embedding_dim}) NOT NULL,
    PRIMARY KEY (collection_id, embedder_model, embedder_backend, chunk_id)
);
-- For the cascade when chunks are deleted.
CREATE INDEX chunk_vectors_chunk ON chunk_vectors (chunk_id);
