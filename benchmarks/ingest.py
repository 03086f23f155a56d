"""Ingest throughput and query-embedding latency per embedder backend, measured in one run on the same chunks."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from chatbot.embeddings import Backend, Embedder, load_embedder, resolve_backend
from chatbot.services import Services
from chatbot.storage.store import Store
from ingestion.beir import corpus_items
from ingestion.chunking import Chunker
from ingestion.pipeline import Ingestor, IngestReport, expand_paths

QUERIES = [
    "How do I reset the hub to factory settings?",
    "What does a blinking amber LED mean?",
    "Can I get a refund after 30 days?",
    "How do I update the firmware?",
    "Which smart home platforms are supported?",
    "How is my data protected?",
]


def _ingest(store: Store, chunker: Chunker, max_upload_bytes: int, embedder: Embedder, data: Path, collection: str,
            limit: int | None) -> IngestReport:
    """A fresh ingest of `data` (a BEIR folder or files and folders) with `embedder`."""
    store.delete_collection(collection)
    ingestor = Ingestor(store, embedder, chunker, max_upload_bytes)
    if (data / "corpus.jsonl").is_file():
        items = corpus_items(data)[:limit]
        return ingestor.ingest_items(items, collection, total=len(items))
    return ingestor.ingest_paths(expand_paths([data])[:limit], collection)


def _query_p50_ms(embedder: Embedder, rounds: int = 10) -> float:
    embedder.encode(QUERIES[:1])  # warm-up
    times = []
    for _ in range(rounds):
        for query in QUERIES:
            started = time.perf_counter()
            embedder.encode([query])
            times.append(time.perf_counter() - started)
    return round(1000 * statistics.median(times), 2)


def interleaved_runs(services: Services, embedders: dict[str, Embedder], data: Path, limit: int | None = None,
                     repeats: int = 3) -> tuple[dict[str, dict[str, Any]], list[str], IngestReport]:
    """Per embedder: the whole ingest (load, chunk, embed, write) and the embedder alone on the same chunks, each the
    median of `repeats` runs interleaved across embedders (so that load drifts hit them alike), and query p50; with
    the chunks' texts and the last ingest's report."""
    for embedder in embedders.values():
        embedder.encode(QUERIES)  # warm-up: first runs allocate and pick kernels
    ingests: dict[str, list[float]] = {name: [] for name in embedders}
    encodes: dict[str, list[float]] = {name: [] for name in embedders}
    texts: list[str] = []
    report = IngestReport()
    for _ in range(repeats):
        for name, embedder in embedders.items():
            collection = f"bench-ingest-{name}"
            report = _ingest(services.store, services.chunker, services.settings.max_upload_bytes, embedder, data,
                             collection, limit)
            texts = texts or services.store.texts_in_document_order(collection)
            ingests[name].append(report.chunks_added / report.seconds)
            started = time.perf_counter()
            embedder.encode(texts)
            encodes[name].append(len(texts) / (time.perf_counter() - started))
            services.store.delete_collection(collection)
    figures = {name: {"chunks_per_s": round(statistics.median(ingests[name]), 2),
                      "encode_chunks_per_s": round(statistics.median(encodes[name]), 2),
                      "query_p50_ms": _query_p50_ms(embedder)} for name, embedder in embedders.items()}
    return figures, texts, report


def run_ingest_benchmark(services: Services, data: Path, backends: list[Backend], limit: int | None = None,
                         repeats: int = 3) -> dict[str, Any]:
    """`interleaved_runs` per backend, with each backend's cosine to torch's vectors and its ratios to torch."""
    from chatbot.precision import cpu_report

    embedders: dict[str, Embedder] = {name: load_embedder(services.settings, name) for name in backends}
    results, texts, report = interleaved_runs(services, embedders, data, limit, repeats)
    reference = embedders["torch"].encode(texts) if "torch" in embedders else None
    for name, embedder in embedders.items():
        if reference is not None:
            cosine = np.sum(embedder.encode(texts) * reference, axis=1)
            results[name]["cosine_vs_torch"] = {"mean": round(float(cosine.mean()), 5),
                                                "min": round(float(cosine.min()), 5)}
    if "torch" in results:
        for figures in results.values():
            figures["vs_torch"] = {key: round(figures[key] / results["torch"][key], 2)
                                   for key in ("chunks_per_s", "encode_chunks_per_s", "query_p50_ms")}
    return {
        "cpu": cpu_report(services.settings),
        "data": str(data),
        "files_failed": len(report.files_failed),
        "chunks": len(texts),
        "repeats": repeats,
        "backends": results,
        "default": resolve_backend(services.settings.model_copy(update={"embedder_backend": "auto"}))[0],
    }
