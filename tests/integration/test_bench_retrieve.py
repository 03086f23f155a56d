"""`ragbot bench retrieve` on the real database: a synthetic collection seeded from a real one's embeddings,
latency figures for the retriever and its SQL, and HNSW recall against exact search, each overlapping synthetic
collection through its own index."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_retrieve_benchmark_measures_both_collections(services, examples_ingested):
    from benchmarks.retrieve import SYNTHETIC, run_retrieve_benchmark

    names = [SYNTHETIC, f"{SYNTHETIC}-1"]
    try:
        result = run_retrieve_benchmark(services, 300, "examples", collections=2)
        assert result["real"]["chunks"] == examples_ingested.chunks_added
        assert result["synthetic"]["collections"] == 2 and result["synthetic"]["chunks_each"] == 300
        for side in ("real", "synthetic"):
            assert 0 < result[side]["vector_sql"]["p50_ms"] <= result[side]["retriever"]["p95_ms"]
            assert 0 < result[side]["retriever_without_embedding"]["p50_ms"] < result[side]["retriever"]["p95_ms"]
        assert 0.8 <= result["real"]["hnsw_recall@10"] <= 1.0
        assert 0.8 <= result["synthetic"]["hnsw_recall@10_min"] <= 1.0
        with services.pool.connection() as conn:
            ids = [conn.execute("SELECT id FROM collections WHERE name = %s", (n,)).fetchone()[0] for n in names]
    finally:
        for name in names:
            services.store.delete_collection(name)
    with services.pool.connection() as conn:  # each collection's index went with it
        left = conn.execute("SELECT count(*) FROM pg_indexes WHERE indexname = ANY(%s)",
                            ([f"chunks_hnsw_c{i}" for i in ids],)).fetchone()[0]
    assert left == 0
