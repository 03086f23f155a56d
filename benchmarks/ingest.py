"""Ingest throughput against the embedder's raw throughput on the same chunk texts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from chatbot.services import Services
from ingestion.beir import corpus_items, dataset_name


def run_ingest_benchmark(services: Services, data: Path, limit: int | None = None) -> dict[str, Any]:
    """Ingest `data/corpus.jsonl` into a fresh collection, then encode its chunks raw; report both."""
    items = corpus_items(data)[:limit]
    collection = f"bench-{dataset_name(data)}"
    services.store.delete_collection(collection)
    ingestor = services.ingestor
    report = ingestor.ingest_items(items, collection, total=len(items))

    with services.pool.connection() as conn:
        texts = [r[0] for r in conn.execute(
            "SELECT k.text FROM chunks k JOIN documents d ON d.id = k.document_id"
            " JOIN collections c ON c.id = d.collection_id WHERE c.name = %s ORDER BY d.id, k.ordinal",
            (collection,),
        )]
    started = time.perf_counter()
    services.embedder.model.encode(texts, batch_size=services.embedder.batch_size, normalize_embeddings=True)
    raw_seconds = time.perf_counter() - started
    services.store.delete_collection(collection)

    pipeline_rate = report.chunks_added / report.seconds if report.seconds else 0.0
    raw_rate = len(texts) / raw_seconds if raw_seconds else 0.0
    return {
        "dataset": dataset_name(data),
        "documents": len(items),
        "files_failed": len(report.files_failed),
        "chunks": report.chunks_added,
        "seconds": round(report.seconds, 2),
        "chunks_per_s": round(pipeline_rate, 2),
        "raw_encode_seconds": round(raw_seconds, 2),
        "raw_encode_chunks_per_s": round(raw_rate, 2),
        "ratio": round(pipeline_rate / raw_rate, 3) if raw_rate else 0.0,
    }
