"""`ragbot bench retrieve` on the real database: a synthetic collection seeded from a real one's embeddings,
latency figures for the retriever and its SQL, and HNSW recall against exact search."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_retrieve_benchmark_measures_both_collections(services, examples_ingested):
    from benchmarks.retrieve import SYNTHETIC, run_retrieve_benchmark

    try:
        result = run_retrieve_benchmark(services, 300, "examples")
        assert result["real"]["chunks"] == examples_ingested.chunks_added
        assert result["synthetic"]["chunks"] == 300
        for side in ("real", "synthetic"):
            assert 0 < result[side]["vector_sql"]["p50_ms"] <= result[side]["retriever"]["p95_ms"]
            assert 0.8 <= result[side]["hnsw_recall@10"] <= 1.0
    finally:
        services.store.delete_collection(SYNTHETIC)
