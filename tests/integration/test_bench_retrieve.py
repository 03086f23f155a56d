"""`ragbot bench retrieve` on the real database: synthetic collections mixed from a real one's embeddings and
asked its own headings, latency figures for the retriever and its SQL, and HNSW recall against exact search at
several ef_search values, each overlapping synthetic collection through its own index."""

from __future__ import annotations

import psycopg.sql
import pytest

pytestmark = pytest.mark.integration


def test_retrieve_benchmark_measures_both_collections(services, examples_ingested):
    from benchmarks.retrieve import (
        EF_SEARCHES,
        LONG_CHUNKS,
        LONG_DOCUMENT,
        SYNTHETIC,
        domain_questions,
        run_retrieve_benchmark,
    )
    from chatbot.retriever import lead_blended_sql

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
        configured = services.settings.ef_search
        for side in ("real", "synthetic"):
            assert set(result[side]["by_ef_search"]) == {configured, *EF_SEARCHES}
            assert result[side]["by_ef_search"][configured]["hnsw_recall@10"] == result[side]["hnsw_recall@10"]
        questions = domain_questions(services.store, "examples")
        headings = {h or t for t, h, _ in services.store.titled_chunks("examples")}
        assert result["questions"] == len(questions) > 1 and set(questions) <= headings
        spread = result["spread"]
        assert 0 < spread["real"]["nn10_median"] <= spread["real"]["nn1_median"] <= 1
        assert 0 < spread["synthetic_same_size"]["nn10_median"] <= spread["synthetic_same_size"]["nn1_median"] <= 1
        long_document = result["long_document"]
        assert long_document["chunks"] == LONG_CHUNKS == services.store.chunk_count(LONG_DOCUMENT)
        for side in ("without_lead", "with_lead"):
            assert 0 < long_document[side]["p50_ms"] <= long_document[side]["p95_ms"]
        assert long_document["ratio_p50"] > 0
        with services.pool.connection() as conn:
            ids = [conn.execute("SELECT id FROM collections WHERE name = %s", (n,)).fetchone()[0] for n in names]
            # each hit's section lead is one probe of chunks_section_lead, not a walk through the document
            vector = services.embedder.encode(["Section 7"])[0]
            plan = conn.execute(psycopg.sql.SQL("EXPLAIN ") + lead_blended_sql(services.store.collection_id(
                LONG_DOCUMENT)), {"q": vector, "collection": LONG_DOCUMENT, "limit": 40, "lead": 0.5}).fetchall()
            assert "chunks_section_lead" in "\n".join(row[0] for row in plan)
    finally:
        for name in [*names, LONG_DOCUMENT]:
            services.store.delete_collection(name)
    with services.pool.connection() as conn:  # each collection's index went with it
        left = conn.execute("SELECT count(*) FROM pg_indexes WHERE indexname = ANY(%s)",
                            ([f"chunks_hnsw_c{i}" for i in ids],)).fetchone()[0]
    assert left == 0
