"""Ingestion: load files of several formats, split them into chunks, and store them with their embeddings."""
