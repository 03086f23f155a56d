"""An embedder tuned on the store (real bundled MiniLM, a few steps on examples/docs) and the per-collection
vector switch on the embedded Postgres: atomic, reversible without re-encoding, used by retrieval and ingestion."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

from chatbot.embedder_registry import BASE, EmbedderRegistryError, embedders_dir, tuned_identity
from chatbot.storage.store import EmbedderMismatch
from chatbot.storage.vector_sets import saved_sets, stage, switch
from tests.conftest import EXAMPLE_DOCS, EXAMPLES
from training.embedder_pairs import build_pairs, store_pairs
from training.embedder_tune import TuneConfig, tune

pytestmark = pytest.mark.integration

NAME = "examples-tuned"
QUESTION = "How do I reset the hub?"
DOCS = sorted(EXAMPLE_DOCS.glob("*.md"))


@pytest.fixture(scope="module")
def tuned(services, examples_ingested):
    """A tuned embedder: three steps (mined hard negatives, GISTEmbedLoss) on the `examples` collection's store
    pairs, questions the bundled generator wrote for 4 chunks, and examples/qa.jsonl's train split (its test split
    is the held-out check)."""
    return tune(services.corpus, services.settings,
                TuneConfig("examples", NAME, qa=str(EXAMPLES / "qa.jsonl"), max_pairs=100, batch_size=8,
                           learning_rate=1e-4, max_steps=3, questions=4, sentence_share=0.5, hard_negatives=True))


def vectors(services, collection: str) -> tuple[str, dict[int, np.ndarray]]:
    """The recorded embedder and every chunk's vector, read in one statement (one snapshot)."""
    with services.pool.connection() as conn:
        rows = conn.execute("SELECT c.embedder_model, k.id, k.embedding FROM collections c JOIN chunks k"
                            " ON k.collection_id = c.id WHERE c.name = %s ORDER BY k.id", (collection,)).fetchall()
    return rows[0][0], {chunk_id: vector.to_numpy() for _, chunk_id, vector in rows}


def chunk_texts(services, collection: str) -> dict[int, str]:
    with services.pool.connection() as conn:
        return dict(conn.execute("SELECT k.id, k.text FROM chunks k JOIN collections c ON c.id = k.collection_id"
                                 " WHERE c.name = %s", (collection,)).fetchall())


def same(a: dict[int, np.ndarray], b: dict[int, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[i], b[i]) for i in a)


def test_tune_writes_a_loadable_embedder_with_its_manifest(services, tuned):
    manifest = json.loads((embedders_dir(services.settings) / NAME / "manifest.json").read_text())
    assert manifest == tuned.manifest and manifest["identity"]["model"] == f"tuned:{NAME}"
    assert manifest["base_model"]["name"] == "bundled:all-MiniLM-L6-v2" and manifest["dimension"] == 384
    data = manifest["data"]
    assert data["train"] == 100 and 0 < data["train_qa"] < 100 and data["train_heading"] + data["train_title"] > 0
    assert data["train_sentence"] > 0  # a sentence of a chunk → the rest of it, asked for half of the store pairs
    assert len(data["sha256"]) == 64 and data["collection"] == "examples" and data["split"] == "train"
    assert data["heldout_kind"] == "qa" and data["heldout"] > 0  # the test split's real questions, never titles
    assert data["generated"]["chunks"] == 4 and data["generated"]["kept"] <= data["generated"]["written"] <= 4
    assert data["train_generated"] == data["generated"]["kept"] and data["generated"]["seconds"] > 0
    assert manifest["training"]["loss"] == "GISTEmbedLoss" and manifest["training"]["batch_size"] == 8
    assert manifest["training"]["hard_negatives"] and manifest["metrics"]["negatives_seconds"] > 0
    assert manifest["training"]["mix"] == 0.5  # saved halfway between the base and the tuned weights
    assert manifest["metrics"]["steps"] == 3 and manifest["metrics"]["heldout_after"]["queries"] > 0
    change = manifest["metrics"]["heldout_change"]  # the paired interval over the same held-out questions
    assert change["n"] == manifest["metrics"]["heldout_after"]["queries"] and change["low"] <= change["high"]
    assert data["generated"]["heldout"] == 0  # with a QA file the real questions are the check
    assert manifest["runtime"]["precision"]["device"] == "cpu" and manifest["runtime"]["precision"]["name"]
    model = services.embedder_named(NAME)
    assert model.identity == tuned_identity(NAME, 384) and model.max_seq_length == 256  # the base's limit is kept
    base = services.embedder.encode([QUESTION])[0]
    assert 0.9 < float(model.encode([QUESTION])[0] @ base) < 0.99999  # trained: close to the base, not equal


def test_without_qa_the_check_is_every_question_of_the_held_out_chunks(services, examples_ingested):
    """The bundled generator writes for 8 chunks: half are held out, their questions the check as written."""
    result = tune(services.corpus, services.settings,
                  TuneConfig("examples", "examples-generated", max_pairs=16, batch_size=4, max_steps=1, questions=8))
    data, metrics = result.manifest["data"], result.manifest["metrics"]
    assert result.manifest["training"]["loss"] == "MultipleNegativesRankingLoss"  # the default: in-batch negatives
    assert metrics["negatives_seconds"] == 0
    assert data["heldout_kind"] == "generated" and 0 < data["heldout"] == data["generated"]["heldout"] <= 4
    assert data["train_generated"] == data["generated"]["kept"] <= data["generated"]["written"] - data["heldout"]
    assert metrics["heldout_before"]["queries"] == metrics["heldout_change"]["n"] <= data["heldout"]
    assert metrics["heldout_change"]["verdict"] in ("better", "worse", "no clear change")


def test_store_pairs_query_each_chunk_by_its_heading_else_its_title(services, examples_ingested):
    pairs = store_pairs(services.store, "examples")
    assert len(pairs) == sum(d.chunks for d in services.store.list_documents("examples"))
    assert {p.kind for p in pairs} == {"heading", "title"}
    titles = {d.title for d in services.store.list_documents("examples")}
    assert all(p.query in titles for p in pairs if p.kind == "title")
    assert all(p.query not in titles for p in pairs if p.kind == "heading")
    first, again = (build_pairs(services.corpus, "examples", max_pairs=30),
                    build_pairs(services.corpus, "examples", max_pairs=30))
    assert len(first.train) == 30 and first.sha256() == again.sha256()  # seeded
    assert first.heldout == []  # titles and headings are never the held-out check


def test_use_switches_atomically_keeps_the_old_vectors_and_switches_back_without_encoding(services, tuned,
                                                                                          collection):
    services.ingestor.ingest_paths(DOCS[:2], collection)
    base_model, before = vectors(services, collection)
    tuned_embedder = services.embedder_named(NAME)
    assert stage(services.pool, collection, tuned_embedder.identity, tuned_embedder.encode) == len(before)
    staged_model, unchanged = vectors(services, collection)
    assert staged_model == base_model and same(unchanged, before)  # staging is invisible to queries
    services.ingestor.ingest_paths(DOCS[2:3], collection)  # chunks added after staging: encoded at the switch
    _, before = vectors(services, collection)

    snapshots: list[tuple[str, dict[int, np.ndarray]]] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            snapshots.append(vectors(services, collection))

    def slow_encode(texts: list[str]) -> np.ndarray:
        time.sleep(0.2)  # widen the window in which a non-atomic switch would show a mix
        return tuned_embedder.encode(texts)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        result = switch(services.pool, collection, tuned_embedder.identity, slow_encode,
                        services.embedder.identity, batch=4)
    finally:
        time.sleep(0.2)
        done.set()
        reader.join()
    assert result.encoded_at_switch > 0 and result.chunks == len(before)
    model, after = vectors(services, collection)
    texts = chunk_texts(services, collection)
    expected = tuned_embedder.encode([texts[i] for i in sorted(texts)])
    assert model == f"tuned:{NAME}" and np.allclose(np.stack([after[i] for i in sorted(after)]), expected, atol=1e-5)
    old, new = [s for s in snapshots if s[0] == base_model], [s for s in snapshots if s[0] == model]
    assert old and new and len(old) + len(new) == len(snapshots)
    assert all(same(s[1], before) for s in old) and all(same(s[1], after) for s in new)

    kept = {(s.collection, s.model): s.chunks for s in saved_sets(services.pool)}
    assert kept[(collection, base_model)] == len(before) and (collection, model) not in kept

    def must_not_encode(texts: list[str]) -> np.ndarray:
        raise AssertionError("switching back re-encoded")

    switch(services.pool, collection, services.embedder.identity, must_not_encode, services.embedder.identity)
    back_model, back = vectors(services, collection)
    assert back_model == base_model and same(back, before)
    assert saved_sets_of(services, collection) == {model: len(before)}  # the tuned ones are kept now
    assert services.embedder_admin.drop_vectors(NAME, collection) == (len(before), False)
    assert saved_sets_of(services, collection) == {}
    assert (embedders_dir(services.settings) / NAME).is_dir()  # dropped in one collection only: files stay


def saved_sets_of(services, collection: str) -> dict[str, int]:
    return {s.model: s.chunks for s in saved_sets(services.pool) if s.collection == collection}


def test_retrieval_and_ingestion_use_the_embedder_the_collection_records(services, tuned, collection):
    services.ingestor.ingest_paths(DOCS[:1], collection)
    services.embedder_admin.use_embedder(NAME, collection)
    retriever = services.retriever(collection)
    assert retriever.embedder.identity == tuned_identity(NAME, 384)
    assert retriever.search(QUESTION)
    assert services.embedder_for(collection) is services.embedder_for(collection)  # loaded once

    report = services.ingestor.ingest_paths(DOCS[1:2], collection)  # a new document, encoded by the tuned model
    assert report.documents_added == 1
    _, stored = vectors(services, collection)
    texts = chunk_texts(services, collection)
    ids = sorted(texts)
    cosine_tuned = np.sum(np.stack([stored[i] for i in ids]) * services.embedder_named(NAME).encode(
        [texts[i] for i in ids]), axis=1)
    cosine_base = np.sum(np.stack([stored[i] for i in ids]) * services.embedder.encode([texts[i] for i in ids]), axis=1)
    assert cosine_tuned.min() > 0.9999 and cosine_base.min() < 0.9999

    with pytest.raises(EmbedderMismatch):  # a retriever built with another embedder is still refused
        services.retriever(collection).model_copy(update={"embedder": services.embedder}).search(QUESTION)
    with pytest.raises(EmbedderRegistryError, match="switch them to another embedder first"):
        services.embedder_admin.drop_vectors(NAME)
    rows = {r.name: r for r in services.embedder_admin.embedder_rows()}
    assert any(u.startswith(f"{collection} ") for u in rows[NAME].used_by)
    assert any(k.startswith(f"{collection}: ") for k in rows[BASE].kept_in)
    services.embedder_admin.use_embedder(BASE, collection)
    assert services.retriever(collection).embedder is services.embedder


def test_use_refuses_unknown_embedders_and_collections(services, tuned):
    with pytest.raises(EmbedderRegistryError, match="no tuned embedder 'nope'"):
        services.embedder_admin.use_embedder("nope", "examples")
    with pytest.raises(ValueError, match="no collection"):
        services.embedder_admin.use_embedder(NAME, "no-such-collection")
    with pytest.raises(EmbedderRegistryError, match="invalid embedder name"):
        TuneConfig("examples", BASE)


def test_a_tune_then_switch_runs_as_a_background_job(services, tuned, collection, job_worker):
    from chatbot.queue.records import JobRefused
    from training.embedder_background import submit_tune, submit_use

    services.ingestor.ingest_paths(DOCS[:1], collection)
    job = submit_tune(services.jobs, services.embedder_admin,
                      TuneConfig(collection, "bg-tuned", max_pairs=16, batch_size=4, max_steps=1, questions=0),
                      switch=True, queued_by="test")
    with pytest.raises(JobRefused, match=rf"'tune embedder 'bg-tuned' on '{collection}'' \(job {job.id}"):
        submit_tune(services.jobs, services.embedder_admin, TuneConfig(collection, "bg-tuned"), queued_by="test")
    job = services.jobs.wait(job.id, 300)
    assert job.status == "succeeded", job.error
    assert job.result["tuned"] == "bg-tuned" and job.result["steps"] == 1
    assert job.result["held-out MRR@10"].startswith("not measured")  # no QA file, no generated questions
    assert job.result["embedder"] == "tuned:bg-tuned on torch (384-d)"
    assert services.store.recorded_embedder(collection) == tuned_identity("bg-tuned", 384)
    back = services.jobs.wait(submit_use(services.jobs, services.embedder_admin, BASE, collection,
                                         queued_by="test").id, 300)
    assert back.status == "succeeded" and services.store.recorded_embedder(collection) == services.embedder.identity
