"""Retriever latency (query embedding + SQL) and HNSW recall against exact search: on a real collection and on
several synthetic ones that overlap (each searched through its own HNSW index, sql/007)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from benchmarks.stats import summary_ms
from chatbot.retriever import vector_sql
from chatbot.services import Services
from chatbot.store import NewChunk

SYNTHETIC = "bench-synthetic"
QUESTIONS = [
    "How do I reset the device to factory settings?", "What does a blinking amber light mean?",
    "How long is the warranty?", "Which port does the local API listen on?", "How do I cancel my subscription?",
    "Why does my hub keep going offline?", "Can I export my data?", "How do I update the firmware?",
    "What payment methods are accepted?", "How do I add a second user to my account?",
    "Is my data encrypted at rest?", "What is the maximum number of connected devices?",
]


def _seed_vectors(services: Services, real_collection: str | None, rng: np.random.Generator) -> np.ndarray:
    """Real embeddings to perturb (they have the structure HNSW meets in practice), else random centers."""
    if real_collection:
        vectors = services.store.embeddings(real_collection)
        if vectors:
            return np.stack(vectors)
    return rng.normal(size=(512, services.embedder.dimension)).astype(np.float32)


def _synthetic_documents(centers: np.ndarray, dim: int, chunks: int,
                         seed: int) -> Iterator[tuple[str, str, str, list[NewChunk]]]:
    """Documents of 50 chunks: perturbed copies of `centers` with word-salad text from a fixed vocabulary."""
    rng = np.random.default_rng(seed)
    noise = 0.45 / np.sqrt(dim)  # a copy keeps ~0.9 cosine similarity to its seed
    vocabulary = [f"term{i}" for i in range(5000)] + [w.lower() for q in QUESTIONS for w in q.split()]
    per_document = 50
    for start in range(0, chunks, per_document):
        count = min(per_document, chunks - start)
        vectors = centers[rng.integers(len(centers), size=count)] + noise * rng.normal(size=(count, dim))
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        texts = [" ".join(rng.choice(vocabulary, size=12)) for _ in range(count)]
        yield (f"synthetic-{start}", "0" * 64, f"Synthetic {start}",
               [NewChunk(text, 12, vector.astype(np.float32), {}) for text, vector in zip(texts, vectors, strict=True)])


def ensure_synthetic(services: Services, chunks: int, real_collection: str | None = None, seed: int = 7,
                     name: str = SYNTHETIC) -> int:
    """A collection of `chunks` synthetic chunks: perturbed copies of a real collection's embeddings (or of
    random centers) and word-salad text from a fixed vocabulary. Reused when already at that size. Its vectors
    stand for any embedder's: it is recorded as the configured one's, so that the retriever accepts it.
    Collections built with other seeds from the same centers overlap in vector space, as real ones do."""
    store, embedder = services.store, services.embedder.identity
    if store.chunk_count(name) == chunks:
        store.claim_for(name, embedder)
        return chunks
    store.delete_collection(name)
    centers = _seed_vectors(services, real_collection, np.random.default_rng(0))
    store.bulk_load(name, embedder, _synthetic_documents(centers, services.embedder.dimension, chunks, seed))
    return chunks


def measure(services: Services, collection: str, repeats: int = 3) -> dict[str, Any]:
    """Latency of the full retriever, of the query embedding and of the vector SQL alone, plus recall@10 of the
    collection's HNSW index vs exact search."""
    retriever = services.retriever(collection, k=10)
    retriever.search(QUESTIONS[0])  # warm the connection and caches
    full, embedding, sql_only, recalls = [], [], [], []
    vectors = services.embedder.encode(QUESTIONS)
    query = vector_sql(services.store.collection_id(collection))
    for _ in range(repeats):
        for question, vector in zip(QUESTIONS, vectors, strict=True):
            started = time.perf_counter()
            services.embedder.encode([question])
            embedding.append(time.perf_counter() - started)
            started = time.perf_counter()
            retriever.search(question)
            full.append(time.perf_counter() - started)
            params = {"q": vector, "collection": collection, "limit": 10, "filter": None}
            approx, exact, seconds = services.store.approximate_and_exact(query, params, services.settings.ef_search)
            sql_only.append(seconds)
            recalls.append(len(set(approx) & set(exact)) / max(len(exact), 1))
    without_embedding = [f - e for f, e in zip(full, embedding, strict=True)]
    return {"collection": collection, "chunks": services.store.chunk_count(collection),
            "retriever": summary_ms(full), "query_embedding": summary_ms(embedding),
            "retriever_without_embedding": summary_ms(without_embedding), "vector_sql": summary_ms(sql_only),
            "hnsw_recall@10": round(float(np.mean(recalls)), 4)}


def run_retrieve_benchmark(services: Services, chunks: int, real_collection: str | None,
                           collections: int = 1) -> dict[str, Any]:
    """The real collection (when ingested), then `collections` overlapping synthetic ones of `chunks` each; the
    synthetic figures are medians over the collections (recall: the lowest too)."""
    results: dict[str, Any] = {"mode": services.settings.retrieval_mode}
    if real_collection and services.store.chunk_count(real_collection):
        results["real"] = measure(services, real_collection)
    names = [SYNTHETIC] + [f"{SYNTHETIC}-{i}" for i in range(1, collections)]
    started = time.perf_counter()
    for seed, name in enumerate(names, start=7):
        ensure_synthetic(services, chunks, real_collection, seed=seed, name=name)
    results["synthetic_build_seconds"] = round(time.perf_counter() - started, 1)
    measured = [measure(services, name, repeats=1 if collections > 1 else 3) for name in names]
    recalls = [m["hnsw_recall@10"] for m in measured]
    results["synthetic"] = {
        "collections": collections, "chunks_each": chunks,
        **{key: {"p50_ms": round(float(np.median([m[key]["p50_ms"] for m in measured])), 2),
                 "p95_ms": round(float(np.median([m[key]["p95_ms"] for m in measured])), 2)}
           for key in ("retriever", "query_embedding", "retriever_without_embedding", "vector_sql")},
        "hnsw_recall@10": round(float(np.median(recalls)), 4), "hnsw_recall@10_min": min(recalls)}
    return results
