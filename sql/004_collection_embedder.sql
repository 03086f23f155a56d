-- The embedder that wrote each collection's vectors: model (the bundled name or the configured id/path),
-- backend (torch, onnx, onnx-int8) and dimension. Vectors from another embedder differ, even slightly, so
-- the app refuses to query or ingest a collection with another one (or re-embeds it on request).
-- NULL in all three: the collection predates this record. Before it only the torch backend existed, so the app
-- reads such a collection as written by torch with the configured model, and records it at its next write.
ALTER TABLE collections
    ADD COLUMN embedder_model   text,
    ADD COLUMN embedder_backend text,
    ADD COLUMN embedder_dim     integer,
    ADD CONSTRAINT collections_embedder_complete CHECK (
        (embedder_model IS NULL) = (embedder_backend IS NULL) AND (embedder_model IS NULL) = (embedder_dim IS NULL));
