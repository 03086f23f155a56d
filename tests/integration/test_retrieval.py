"""The lexical arm's BM25 and the fusion's calibration, on the real embedded Postgres with the real embedder."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from chatbot.fusion_calibration import RULE, WEIGHTS, is_stale
from chatbot.retrieval_eval import LEAD_WEIGHTS
from ingestion.loaders import LoadedDocument, Section
from ingestion.pipeline import SourceItem, sha256_hex

pytestmark = pytest.mark.integration

TOPICS = ["amber", "basalt", "cedar", "delta", "ember", "fjord", "garnet", "harbor", "indigo", "juniper", "kelp",
          "lagoon", "marble", "nectar", "onyx", "pebble", "quartz", "raven", "saffron", "tundra", "umber", "velvet",
          "willow", "xenon", "yarrow", "zephyr", "acorn", "birch", "cobalt", "dune", "elm", "flint", "glacier",
          "heath", "iris", "jasper", "kestrel", "lichen", "meadow", "nimbus"]


def topic_text(topic: str, extra: str = "") -> str:
    return (f"The {topic} module controls the {topic} relay. To change the {topic} schedule, open Settings, choose"
            f" {topic.title()} and press Save. A blinking {topic} light means the relay lost power. {extra}")


def item(source: str, title: str, text: str, metadata: dict | None = None) -> SourceItem:
    document = LoadedDocument(title=title, sections=[Section(text, {})], metadata=metadata or {})
    return SourceItem(source, sha256_hex(json.dumps([title, text]).encode()), lambda: document, source)


def bm25_expected(services, collection: str, query: str, k1: float = 1.2, b: float = 0.75) -> dict[int, float]:
    """BM25 computed here, from each chunk's own tsvector, with Lucene's IDF: what the SQL arm must return."""
    with services.pool.connection() as conn:
        rows = conn.execute(
            "SELECT k.id, t.lexeme, coalesce(array_length(t.positions, 1), 1) FROM chunks k"
            " JOIN collections c ON c.id = k.collection_id, unnest(k.tsv) t WHERE c.name = %s",
            (collection,)).fetchall()
        chunks = conn.execute("SELECT count(*) FROM chunks k JOIN collections c ON c.id = k.collection_id"
                              " WHERE c.name = %s", (collection,)).fetchone()[0]
        terms = conn.execute("SELECT tsvector_to_array(to_tsvector('english', %s))", (query,)).fetchone()[0]
    tf: dict[int, Counter] = {}
    for chunk_id, lexeme, count in rows:
        tf.setdefault(chunk_id, Counter())[lexeme] = count
    lengths = {c: sum(t.values()) for c, t in tf.items()}
    avgdl = sum(lengths.values()) / chunks
    scores: dict[int, float] = {}
    for term in set(terms):
        df = sum(1 for t in tf.values() if term in t)
        idf = math.log(1 + (chunks - df + 0.5) / (df + 0.5))
        for chunk_id, counts in tf.items():
            if term in counts:
                f = counts[term]
                scores[chunk_id] = scores.get(chunk_id, 0.0) + idf * f * (k1 + 1) / (
                    f + k1 * (1 - b + b * lengths[chunk_id] / avgdl))
    return scores


def lexical_scores(services, collection: str, query: str) -> dict[int, float]:
    retriever = services.retriever(collection, mode="fts", k=100)
    return {hit.chunk_id: score for hit, score in retriever.search(query)}


def test_bm25_arm_is_exact_bm25_and_stays_current(services, collection):
    ingestor = services.ingestor
    ingestor.ingest_items([item(f"{t}.txt", f"{t} guide", topic_text(t)) for t in TOPICS[:12]], collection)
    query = "Why is the basalt light blinking?"
    expected, got = bm25_expected(services, collection, query), lexical_scores(services, collection, query)
    assert set(got) == set(expected) and all(got[c] == pytest.approx(expected[c], rel=1e-6) for c in got)
    top = services.retriever(collection, mode="fts", k=1).search(query)[0][0]
    assert top.source == "basalt.txt"

    # An update, a new document and a deletion: statistics and postings follow every write.
    ingestor.ingest_items([item("basalt.txt", "basalt guide", topic_text("basalt", "basalt basalt basalt"))],
                          collection)
    ingestor.ingest_items([item("extra.txt", "extra", topic_text("cedar", "blinking light"))], collection)
    services.store.delete_source(collection, "amber.txt")
    expected, got = bm25_expected(services, collection, query), lexical_scores(services, collection, query)
    assert set(got) == set(expected) and all(got[c] == pytest.approx(expected[c], rel=1e-6) for c in got)
    with services.pool.connection() as conn:
        count, total, stored = conn.execute(
            "SELECT c.chunk_count, c.term_total, (SELECT count(*) FROM chunks k WHERE k.collection_id = c.id)"
            " FROM collections c WHERE c.name = %s", (collection,)).fetchone()
        orphans = conn.execute("SELECT count(*) FROM chunk_terms t WHERE NOT EXISTS"
                               " (SELECT 1 FROM chunks k WHERE k.id = t.chunk_id)").fetchone()[0]
    assert count == stored == 12 and total > 0 and orphans == 0


def test_lexical_arm_neutralises_query_syntax(services, collection):
    services.ingestor.ingest_items([item("cobalt.txt", "cobalt", topic_text("cobalt"))], collection)
    retriever = services.retriever(collection, mode="fts", k=3)
    for hostile in ["'; DROP TABLE chunks; --", "cobalt & | ! <-> :*", "\"cobalt\" -relay OR schedule"]:
        assert [h.source for h, _ in retriever.search(hostile)] in ([], ["cobalt.txt"])
    assert retriever.search("???") == []


def test_a_metadata_filter_holds_in_every_arm(services, collection):
    services.ingestor.ingest_items([item(f"{t}.txt", f"{t} guide", topic_text(t), {"line": "pro" if i % 2 else "home"})
                                    for i, t in enumerate(TOPICS[:10])], collection)
    for mode in ("fts", "vector", "hybrid"):
        hits = services.retriever(collection, mode=mode, k=10, metadata_filter={"line": "pro"}).search(
            "Why is the basalt light blinking?")
        assert hits and {h.source for h, _ in hits} <= {f"{t}.txt" for t in TOPICS[1:10:2]}, mode
        assert hits[0][0].source == "basalt.txt", mode


def test_fusion_is_calibrated_per_collection_and_again_when_it_grows(services, collection):
    records = services.fusion_records
    services.ingestor.ingest_items([item(f"{t}.txt", f"{t} guide", topic_text(t)) for t in TOPICS[:32]], collection)
    state = records.state(collection)  # the ingest calibrated it: 32 titles name one document each
    assert state.lexical_weight in WEIGHTS and state.calibrated_chunks == state.chunk_count == 32
    assert not is_stale(records, collection)
    retriever = services.retriever(collection, mode="hybrid", k=3)
    assert retriever.search("How do I change the onyx schedule?")[0][0].source == "onyx.txt"

    services.ingestor.ingest_items([item(f"{t}.txt", f"{t} guide", topic_text(t)) for t in TOPICS[32:]], collection)
    assert records.state(collection).calibrated_chunks == 40  # grew by 25 %: calibrated again


def test_the_hybrid_fuses_with_the_method_the_calibration_recorded(services, collection):
    from chatbot.retriever import fuse

    services.ingestor.ingest_items([item(f"{t}.txt", f"{t} guide", topic_text(t)) for t in TOPICS[:32]], collection)
    state = services.fusion_records.state(collection)
    method = state.calibration["method"]
    assert method == next((m for m in ("zscore", "dbsf") if RULE.startswith(m)), "minmax")
    retriever = services.retriever(collection, mode="hybrid", k=40)
    query = "What does a blinking onyx light mean?"
    expected = fuse(*retriever.arms(query), state.lexical_weight, method)
    assert [(h.chunk_id, round(s, 6)) for h, s in retriever.search(query)] == \
        [(h.chunk_id, round(s, 6)) for h, s in expected[:40]]


def test_a_small_collection_keeps_the_default_weight(services, collection):
    services.ingestor.ingest_items([item(f"{t}.txt", f"{t} guide", topic_text(t)) for t in TOPICS[:5]], collection)
    calibration = services.calibrate_fusion(collection, force=True)
    assert calibration.queries == 5 and calibration.lexical_weight is None
    assert services.fusion_records.state(collection).lexical_weight is None


def write_beir(folder: Path) -> None:
    (folder / "qrels").mkdir(parents=True)
    corpus = [{"_id": t, "title": f"{t} guide", "text": topic_text(t)} for t in TOPICS]
    questions = [{"_id": f"q{i}", "text": f"How do I change the {t} schedule?"} for i, t in enumerate(TOPICS)]
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps(r) for r in corpus))
    (folder / "queries.jsonl").write_text("\n".join(json.dumps(r) for r in questions))
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\t{t}\t1\n" for i, t in enumerate(TOPICS)))
    (folder / "qa.jsonl").write_text("\n".join(json.dumps(
        {"_id": f"q{i}", "question": f"How do I change the {t} schedule?", "answer": "Open Settings.",
         "split": "test" if i % 4 == 0 else "train", "corpus_id": t}) for i, t in enumerate(TOPICS)))


def test_the_vector_arm_blends_each_chunk_with_its_sections_lead(services, collection):
    """A chunk's vector score is (1 - w)·its similarity + w·its section's first chunk's (sections by heading);
    the hit keeps its own similarity (coverage reads it), and w = 0 is the chunk alone."""
    long_tail = " ".join(f"Step {i}: the {TOPICS[i]} gauge reads the {TOPICS[i + 1]} level." for i in range(30))
    document = LoadedDocument(title="Relays", metadata={}, sections=[
        Section(topic_text("amber", long_tail), {"heading": "Amber"}),
        Section(topic_text("basalt", long_tail), {"heading": "Basalt"})])
    source = SourceItem("relays.md", sha256_hex(b"relays"), lambda: document, "relays.md")
    services.ingestor.ingest_items([source, item("cedar.md", "Cedar", topic_text("cedar"))], collection)
    question = "What does a blinking basalt light mean?"
    query = services.embedder.encode([question])[0]
    with services.pool.connection() as conn:
        rows = conn.execute(
            "SELECT k.id, k.document_id, k.metadata ->> 'heading', k.ordinal, 1 - (k.embedding <=> %s) FROM chunks k"
            " JOIN collections c ON c.id = k.collection_id WHERE c.name = %s ORDER BY k.ordinal",
            (query, collection)).fetchall()
    assert sum(1 for r in rows if r[2] == "Basalt") >= 2  # the section's lead is not every chunk's own
    lead: dict[tuple[int, str | None], float] = {}
    for _, document_id, heading, _, similarity in rows:
        lead.setdefault((document_id, heading), similarity)
    meta = {r[0]: (r[1], r[2]) for r in rows}
    retriever = services.retriever(collection, mode="vector", k=100)
    for weight in (0.0, 0.5, 1.0):
        hits = retriever.model_copy(update={"lead_weight": weight}).search(question)
        assert len(hits) == len(rows)
        for hit, score in hits:
            expected = (1 - weight) * hit.similarity + weight * lead[meta[hit.chunk_id]]
            assert score == pytest.approx(expected, abs=1e-5), (weight, hit.chunk_id)
        assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)


def test_eval_retrieval_scores_every_mode_on_the_test_split(settings, tmp_path):
    beir = tmp_path / "toy-corpus"
    write_beir(beir)
    report = tmp_path / "misses.md"
    env = {"RAGBOT_HOME": str(settings.home), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "chatbot", "eval", "retrieval", "--beir", str(beir), "--mode", "all",
                          "--split", "test", "--sweep", "--report", str(report), "--json"],
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["queries"] == 10 and result["split"] == "test"
    modes = {"hybrid", "vector", "fts", "bm25-reference"}
    leads = {f"{mode} lead={w:.2f}" for mode in ("vector", "hybrid") for w in LEAD_WEIGHTS}
    assert set(result["results"]) == modes | {f"hybrid@{w:.1f}" for w in WEIGHTS} | leads
    assert all(result["results"][mode]["recall@10"] == 1.0 for mode in modes)
    assert result["results"]["hybrid@0.0"] == result["results"]["vector"]
    assert result["results"]["vector lead=0.50"] == result["results"]["vector"]  # 0.5: the default
    assert result["lexical_weight"] in WEIGHTS and result["cpu"]["capability"]
    fusion = result["fusion"]  # how the default's weight was chosen: the calibration's record
    assert fusion["chosen_by"] == "calibration" and fusion["lexical_weight"] == result["lexical_weight"]
    assert fusion["rule"] == RULE and fusion["queries"] == 40 and isinstance(fusion["margin"], float)
    text = subprocess.run([sys.executable, "-m", "chatbot", "eval", "retrieval", "--beir", str(beir), "--mode", "all"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert text.returncode == 0, text.stderr
    assert (f"fusion: lexical weight {result['lexical_weight']} ({fusion['method']}), chosen by calibration (rule "
            f"'{RULE}' on 40 titles/headings, margin") in text.stdout
    assert all(f"{label}: recall@5" in text.stdout for label in ("hybrid (default)", "vector", "fts", "bm25-reference"))
    assert "| bm25-reference |" in report.read_text()
    bad = subprocess.run([sys.executable, "-m", "chatbot", "eval", "retrieval", "--beir", str(beir), "--split",
                          "dev"], capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode != 0 and "unknown split 'dev'" in bad.stderr + bad.stdout
