"""Builders for retrieval/QA evaluation corpora in the BEIR layout read by `ingestion.beir`."""
