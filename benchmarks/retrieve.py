"""Retriever latency (query embedding + SQL) and HNSW recall against exact search: on a real collection and on
several synthetic ones that overlap (each searched through its own HNSW index, sql/007)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from psycopg.types.json import Jsonb

from benchmarks.stats import summary_ms
from chatbot.retriever import vector_sql
from chatbot.services import Services
from chatbot.store import record_embedder

SYNTHETIC = "bench-synthetic"
QUESTIONS = [
    "How do I reset the device to factory settings?", "What does a blinking amber light mean?",
    "How long is the warranty?", "Which port does the local API listen on?", "How do I cancel my subscription?",
    "Why does my hub keep going offline?", "Can I export my data?", "How do I update the firmware?",
    "What payment methods are accepted?", "How do I add a second user to my account?",
    "Is my data encrypted at rest?", "What is the maximum number of connected devices?",
]


def _collection_size(services: Services, collection: str) -> int:
    with services.pool.connection() as conn:
        return conn.execute(
            "SELECT count(k.id) FROM chunks k JOIN documents d ON d.id = k.document_id"
            " JOIN collections c ON c.id = d.collection_id WHERE c.name = %s", (collection,)).fetchone()[0]


def _seed_vectors(services: Services, real_collection: str | None, rng: np.random.Generator) -> np.ndarray:
    """Real embeddings to perturb (they have the structure HNSW meets in practice), else random centers."""
    if real_collection:
        with services.pool.connection() as conn:
            rows = conn.execute("SELECT k.embedding FROM chunks k JOIN collections c ON c.id = k.collection_id"
                                " WHERE c.name = %s", (real_collection,)).fetchall()
        if rows:
            return np.stack([r[0].to_numpy().astype(np.float32) for r in rows])
    return rng.normal(size=(512, services.embedder.dimension)).astype(np.float32)


def ensure_synthetic(services: Services, chunks: int, real_collection: str | None = None, seed: int = 7,
                     name: str = SYNTHETIC) -> int:
    """A collection of `chunks` synthetic chunks: perturbed copies of a real collection's embeddings (or of
    random centers) and word-salad text from a fixed vocabulary. Reused when already at that size. Its vectors
    stand for any embedder's: it is recorded as the configured one's, so that the retriever accepts it.
    Collections built with other seeds from the same centers overlap in vector space, as real ones do."""
    embedder = services.embedder.identity
    if _collection_size(services, name) == chunks:
        with services.pool.connection() as conn:
            collection_id = conn.execute("SELECT id FROM collections WHERE name = %s", (name,)).fetchone()[0]
            record_embedder(conn, collection_id, embedder)
        return chunks
    services.store.delete_collection(name)
    centers = _seed_vectors(services, real_collection, np.random.default_rng(0))
    rng = np.random.default_rng(seed)
    dim = services.embedder.dimension
    noise = 0.45 / np.sqrt(dim)  # a copy keeps ~0.9 cosine similarity to its seed
    vocabulary = [f"term{i}" for i in range(5000)] + [w.lower() for q in QUESTIONS for w in q.split()]
    per_document = 50
    with services.pool.connection() as conn, conn.transaction():
        conn.execute("INSERT INTO collections (name, embedder_model, embedder_backend, embedder_dim)"
                     " VALUES (%s, %s, %s, %s)", (name, embedder.model, embedder.backend, embedder.dimension))
        for start in range(0, chunks, per_document):
            count = min(per_document, chunks - start)
            document_id, collection_id = conn.execute(
                "INSERT INTO documents (collection_id, source, sha256, title) SELECT id, %s, %s, %s"
                " FROM collections WHERE name = %s RETURNING id, collection_id",
                (f"synthetic-{start}", "0" * 64, f"Synthetic {start}", name)).fetchone()
            vectors = centers[rng.integers(len(centers), size=count)] + noise * rng.normal(size=(count, dim))
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            with conn.cursor().copy(
                "COPY chunks (document_id, collection_id, ordinal, text, token_count, embedding, metadata)"
                " FROM STDIN"
            ) as copy:
                for i in range(count):
                    text = " ".join(rng.choice(vocabulary, size=12))
                    copy.write_row((document_id, collection_id, i, text, 12, vectors[i].astype(np.float32), Jsonb({})))
    return chunks


def measure(services: Services, collection: str, repeats: int = 3) -> dict[str, Any]:
    """Latency of the full retriever, of the query embedding and of the vector SQL alone, plus recall@10 of the
    collection's HNSW index vs exact search."""
    retriever = services.retriever(collection, k=10)
    retriever.search(QUESTIONS[0])  # warm the connection and caches
    full, embedding, sql_only, recalls = [], [], [], []
    vectors = services.embedder.encode(QUESTIONS)
    with services.pool.connection() as conn:
        collection_id = conn.execute("SELECT id FROM collections WHERE name = %s", (collection,)).fetchone()[0]
        query = vector_sql(collection_id)
        for _ in range(repeats):
            for question, vector in zip(QUESTIONS, vectors, strict=True):
                started = time.perf_counter()
                services.embedder.encode([question])
                embedding.append(time.perf_counter() - started)
                started = time.perf_counter()
                retriever.search(question)
                full.append(time.perf_counter() - started)
                params = {"q": vector, "collection": collection, "limit": 10, "filter": None}
                with conn.transaction():
                    conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(services.settings.ef_search),))
                    conn.execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)")
                    started = time.perf_counter()
                    approx = [r[0] for r in conn.execute(query, params, prepare=False)]
                    sql_only.append(time.perf_counter() - started)
                with conn.transaction():
                    conn.execute("SET LOCAL enable_indexscan = off")
                    exact = [r[0] for r in conn.execute(query, params, prepare=False)]  # never share a plan
                recalls.append(len(set(approx) & set(exact)) / max(len(exact), 1))
    without_embedding = [f - e for f, e in zip(full, embedding, strict=True)]
    return {"collection": collection, "chunks": _collection_size(services, collection),
            "retriever": summary_ms(full), "query_embedding": summary_ms(embedding),
            "retriever_without_embedding": summary_ms(without_embedding), "vector_sql": summary_ms(sql_only),
            "hnsw_recall@10": round(float(np.mean(recalls)), 4)}


def run_retrieve_benchmark(services: Services, chunks: int, real_collection: str | None,
                           collections: int = 1) -> dict[str, Any]:
    """The real collection (when ingested), then `collections` overlapping synthetic ones of `chunks` each; the
    synthetic figures are medians over the collections (recall: the lowest too)."""
    results: dict[str, Any] = {"mode": services.settings.retrieval_mode}
    if real_collection and _collection_size(services, real_collection):
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
