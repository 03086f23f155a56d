"""Retriever latency (query embedding + SQL) and HNSW recall against exact search: on a real collection and on
several synthetic ones that overlap (each searched through its own HNSW index, sql/007), with questions from the
real collection's own domain."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from benchmarks.stats import summary_ms
from chatbot.retriever import vector_sql
from chatbot.services import Services
from chatbot.storage.store import NewChunk, Store

SYNTHETIC = "bench-synthetic"
# Asked only when there is no real collection to draw questions from (the synthetic vectors are random then too).
FALLBACK_QUESTIONS = [
    "How do I reset the device to factory settings?", "What does a blinking amber light mean?",
    "How long is the warranty?", "Which port does the local API listen on?", "How do I cancel my subscription?",
    "Why does my hub keep going offline?", "Can I export my data?", "How do I update the firmware?",
]
QUESTION_COUNT = 24
EF_SEARCHES = (40, 100, 200)  # recall and SQL latency at each: the speed / recall trade-off in one run
# A synthetic vector mixes MIX real chunk vectors (random convex weights) plus noise: at the real collection's size
# its nearest-neighbour similarities match the real ones (python-faq NN1 / NN10 median 0.76 / 0.61, this mix 0.79 /
# 0.58; git-docs 0.76 / 0.62). Perturbed copies of single vectors (noise 0.45, the generator before) make tight
# clusters of near-duplicates (NN1 0.83, NN10 0.51) that no real corpus has and HNSW cannot connect.
MIX, NOISE = 2, 0.2
# One long manual (3,000 chunks in 300 sections): each vector hit is blended with its section's first chunk, a
# lookup whose cost must not grow with the document (sql/012).
LONG_DOCUMENT, LONG_CHUNKS, LONG_SECTIONS = "bench-long-document", 3000, 300


def domain_questions(store: Store, real_collection: str | None, count: int = QUESTION_COUNT) -> list[str]:
    """Distinct section headings and titles of the real collection, a seeded sample: what its users ask about."""
    rows = store.titled_chunks(real_collection) if real_collection else []
    names = sorted({heading or title for title, heading, _ in rows if heading or title})
    if not names:
        return FALLBACK_QUESTIONS
    picked = np.random.default_rng(0).choice(len(names), size=min(count, len(names)), replace=False)
    return [names[i] for i in sorted(picked)]


def _seed_vectors(services: Services, real_collection: str | None, rng: np.random.Generator) -> np.ndarray:
    """Real embeddings to mix (they have the structure HNSW meets in practice), else random centers."""
    if real_collection:
        vectors = services.store.embeddings(real_collection)
        if vectors:
            return np.stack(vectors)
    return rng.normal(size=(512, services.embedder.dimension)).astype(np.float32)


def mixed_vectors(centers: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` unit vectors, each a random convex mix of MIX rows of `centers` plus Gaussian noise."""
    dim = centers.shape[1]
    weights = rng.dirichlet(np.ones(MIX), size=count)
    vectors = np.einsum("nk,nkd->nd", weights, centers[rng.integers(len(centers), size=(count, MIX))])
    vectors += NOISE / np.sqrt(dim) * rng.normal(size=(count, dim))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def neighbour_spread(vectors: np.ndarray, sample: int = 500) -> dict[str, float]:
    """Median cosine similarity of a sample of vectors to their nearest and 10th-nearest other vector."""
    rng = np.random.default_rng(1)
    picked = rng.choice(len(vectors), size=min(sample, len(vectors)), replace=False)
    similarities = vectors[picked] @ vectors.T
    similarities[np.arange(len(picked)), picked] = -1.0
    nearest = -np.sort(-similarities, axis=1)
    return {"nn1_median": round(float(np.median(nearest[:, 0])), 3),
            "nn10_median": round(float(np.median(nearest[:, min(9, nearest.shape[1] - 1)])), 3)}


def _synthetic_documents(centers: np.ndarray, chunks: int, vocabulary: list[str],
                         seed: int) -> Iterator[tuple[str, str, str, list[NewChunk]]]:
    """Documents of 50 chunks: mixed vectors (`mixed_vectors`) with word-salad text from `vocabulary`."""
    rng = np.random.default_rng(seed)
    per_document = 50
    for start in range(0, chunks, per_document):
        count = min(per_document, chunks - start)
        vectors = mixed_vectors(centers, count, rng)
        texts = [" ".join(rng.choice(vocabulary, size=12)) for _ in range(count)]
        yield (f"synthetic-{start}", "0" * 64, f"Synthetic {start}",
               [NewChunk(text, 12, vector, {}) for text, vector in zip(texts, vectors, strict=True)])


def ensure_synthetic(services: Services, chunks: int, centers: np.ndarray, questions: list[str], seed: int = 7,
                     name: str = SYNTHETIC) -> int:
    """A collection of `chunks` synthetic chunks mixed from `centers`, with word-salad text over a fixed vocabulary
    and the questions' words. Reused when already at that size. Its vectors stand for any embedder's: it is
    recorded as the configured one's, so that the retriever accepts it. Collections built with other seeds from
    the same centers overlap in vector space, as real ones do."""
    store, embedder = services.store, services.embedder.identity
    if store.chunk_count(name) == chunks:
        store.claim_for(name, embedder)
        return chunks
    store.delete_collection(name)
    vocabulary = [f"term{i}" for i in range(5000)] + [w.lower() for q in questions for w in q.split()]
    store.bulk_load(name, embedder, _synthetic_documents(centers, chunks, vocabulary, seed))
    return chunks


def ensure_long_document(services: Services, centers: np.ndarray, seed: int = 3) -> None:
    """The LONG_DOCUMENT collection: one document of LONG_CHUNKS mixed vectors under LONG_SECTIONS headings."""
    store, embedder = services.store, services.embedder.identity
    if store.chunk_count(LONG_DOCUMENT) == LONG_CHUNKS:
        store.claim_for(LONG_DOCUMENT, embedder)
        return
    store.delete_collection(LONG_DOCUMENT)
    vectors = mixed_vectors(centers, LONG_CHUNKS, np.random.default_rng(seed))
    chunks = [NewChunk(f"part {i}", 2, vector, {"heading": f"Section {i * LONG_SECTIONS // LONG_CHUNKS}"})
              for i, vector in enumerate(vectors)]
    store.bulk_load(LONG_DOCUMENT, embedder, [("long-manual", "0" * 64, "A long manual", chunks)])


def lead_cost(services: Services, questions: list[str], repeats: int = 5) -> dict[str, Any]:
    """The vector arm on the long document without and with the section-lead blend, its query embedding
    subtracted (timed beside each search, as in `measure`)."""
    results: dict[str, Any] = {"chunks": LONG_CHUNKS, "sections": LONG_SECTIONS}
    for label, weight in (("without_lead", 0.0), ("with_lead", services.settings.lead_weight)):
        retriever = services.retriever(LONG_DOCUMENT, mode="vector", k=10).model_copy(update={"lead_weight": weight})
        retriever.search(questions[0])
        seconds = []
        for _ in range(repeats):
            for question in questions:
                started = time.perf_counter()
                services.embedder.encode([question])
                embedded = time.perf_counter()
                retriever.search(question)
                seconds.append(time.perf_counter() - embedded - (embedded - started))
        results[label] = summary_ms(seconds)
    results["ratio_p50"] = round(results["with_lead"]["p50_ms"] / results["without_lead"]["p50_ms"], 2)
    return results


def _recall(approximate: list[Any], exact: list[Any]) -> float:
    return len(set(approximate) & set(exact)) / max(len(exact), 1)


def measure(services: Services, collection: str, questions: list[str], repeats: int = 3,
            ef_searches: Sequence[int] = EF_SEARCHES) -> dict[str, Any]:
    """Latency of the full retriever, of the query embedding and of the vector SQL alone (at the configured
    ef_search), plus recall@10 of the collection's HNSW index vs exact search at each of `ef_searches`. Exact
    searches run after every timed one: each reads the whole collection and would evict the index from the
    cache that serving keeps warm."""
    configured = services.settings.ef_search
    efs = sorted({configured, *ef_searches})
    retriever = services.retriever(collection, k=10)
    retriever.search(questions[0])  # warm the connection and caches
    full, embedding = [], []
    sql_seconds: dict[int, list[float]] = {ef: [] for ef in efs}
    vectors = services.embedder.encode(questions)
    query = vector_sql(services.store.collection_id(collection))
    params = [{"q": vector, "collection": collection, "limit": 10, "filter": None} for vector in vectors]
    found: list[dict[int, list[Any]]] = []
    for _ in range(repeats):
        found.clear()
        for question, question_params in zip(questions, params, strict=True):
            started = time.perf_counter()
            services.embedder.encode([question])
            embedding.append(time.perf_counter() - started)
            started = time.perf_counter()
            retriever.search(question)
            full.append(time.perf_counter() - started)
            ids, seconds = services.store.indexed_ids(query, question_params, efs)
            found.append(ids)
            for ef in efs:
                sql_seconds[ef].append(seconds[ef])
    exact = [services.store.exact_ids(query, question_params) for question_params in params]
    recalls = {ef: [_recall(ids[ef], truth) for ids, truth in zip(found, exact, strict=True)] for ef in efs}
    without_embedding = [f - e for f, e in zip(full, embedding, strict=True)]
    return {"collection": collection, "chunks": services.store.chunk_count(collection), "ef_search": configured,
            "retriever": summary_ms(full), "query_embedding": summary_ms(embedding),
            "retriever_without_embedding": summary_ms(without_embedding),
            "vector_sql": summary_ms(sql_seconds[configured]),
            "hnsw_recall@10": round(float(np.mean(recalls[configured])), 4),
            "by_ef_search": {ef: {"hnsw_recall@10": round(float(np.mean(recalls[ef])), 4),
                                  "vector_sql_p50_ms": summary_ms(sql_seconds[ef])["p50_ms"]} for ef in efs}}


def _medians(measured: list[dict[str, Any]]) -> dict[str, Any]:
    """Median latencies and recalls over the synthetic collections, with the lowest recall beside each."""
    recalls = [m["hnsw_recall@10"] for m in measured]
    return {
        **{key: {"p50_ms": round(float(np.median([m[key]["p50_ms"] for m in measured])), 2),
                 "p95_ms": round(float(np.median([m[key]["p95_ms"] for m in measured])), 2)}
           for key in ("retriever", "query_embedding", "retriever_without_embedding", "vector_sql")},
        "hnsw_recall@10": round(float(np.median(recalls)), 4), "hnsw_recall@10_min": min(recalls),
        "by_ef_search": {ef: {"hnsw_recall@10": round(float(np.median([m["by_ef_search"][ef]["hnsw_recall@10"]
                                                                       for m in measured])), 4),
                              "hnsw_recall@10_min": min(m["by_ef_search"][ef]["hnsw_recall@10"] for m in measured),
                              "vector_sql_p50_ms": round(float(np.median([m["by_ef_search"][ef]["vector_sql_p50_ms"]
                                                                          for m in measured])), 2)}
                         for ef in measured[0]["by_ef_search"]}}


def run_retrieve_benchmark(services: Services, chunks: int, real_collection: str | None,
                           collections: int = 1) -> dict[str, Any]:
    """The real collection (when ingested), then `collections` overlapping synthetic ones of `chunks` each, all
    asked the real collection's headings and titles; the synthetic figures are medians over the collections
    (recall: the lowest too), beside how closely the synthetic vectors' neighbours match the real ones'."""
    if real_collection and not services.store.chunk_count(real_collection):
        real_collection = None
    questions = domain_questions(services.store, real_collection)
    results: dict[str, Any] = {"mode": services.settings.retrieval_mode, "questions": len(questions)}
    centers = _seed_vectors(services, real_collection, np.random.default_rng(0))
    if real_collection:
        results["real"] = measure(services, real_collection, questions)
        results["spread"] = {"real": neighbour_spread(centers), "synthetic_same_size": neighbour_spread(
            mixed_vectors(centers, len(centers), np.random.default_rng(2)))}
    names = [SYNTHETIC] + [f"{SYNTHETIC}-{i}" for i in range(1, collections)]
    started = time.perf_counter()
    for seed, name in enumerate(names, start=7):
        ensure_synthetic(services, chunks, centers, questions, seed=seed, name=name)
    results["synthetic_build_seconds"] = round(time.perf_counter() - started, 1)
    ensure_long_document(services, centers)
    results["long_document"] = lead_cost(services, questions)
    measured = [measure(services, name, questions, repeats=1 if collections > 1 else 3) for name in names]
    results["synthetic"] = {"collections": collections, "chunks_each": chunks, **_medians(measured)}
    return results
