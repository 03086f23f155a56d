"""Gaps on the real embedded Postgres with the bundled embedder: the fixture's thumbs-down questions group into
their topics; a topic examples/docs do not cover is "still missing" until a document answering it is ingested,
then "covered now"; `ragbot gaps --json` lists the same clusters. The collection is the module's own."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pytest

from chatbot.chain import Answer
from chatbot.gap_report import COVERED, MISSING, GapCluster, GapFinder
from chatbot.gaps import cluster_labels
from tests.conftest import EXAMPLE_DOCS
from tests.gap_fixture import SINGLETONS, SOLAR_DOCUMENT, TOPICS
from tests.integration.private_db import run_cli

pytestmark = pytest.mark.integration

QUESTIONS = [q for paraphrases in TOPICS.values() for q in paraphrases] + list(SINGLETONS)
# A collection's calibrated threshold (issue 31, part 1). The default 0.3 counts nearly any question about the hub
# as covered by some Lumio document (MiniLM gives them 0.3–0.5); the solar questions' best is 0.45 without
# SOLAR_DOCUMENT.
THRESHOLD = 0.5


@pytest.fixture(scope="module")
def gap_collection(services) -> str:
    """examples/docs in a collection of this module's own, with the fixture's questions voted down (the solar
    ones also abstained on, one of them handed off too, and one handed off without an answer)."""
    name = f"gaps-{uuid.uuid4().hex[:8]}"
    assert not services.ingestor.ingest_paths([EXAMPLE_DOCS], name).files_failed
    services.abstention_records.record(name, THRESHOLD, {"source": "test"})  # as a calibration would
    store = services.conversations
    conversation = store.create("gaps")
    for question in QUESTIONS:
        solar = question in TOPICS["solar"]
        answer = Answer("I don't know.", "base", question, question, not_covered=solar)
        message = store.add_message(conversation, answer, name)
        assert store.record_feedback(message, -1, "client-a") and store.record_feedback(message, -1, "client-b")
        if question == TOPICS["solar"][0]:
            handoff(services, name, question, message)
    handoff(services, name, f"  {TOPICS['solar'][1].upper()} ", None)  # the same question, another occurrence
    return name


def handoff(services, collection: str, question: str, message_id: uuid.UUID | None) -> None:
    with services.pool.connection() as conn:
        conn.execute("INSERT INTO handoffs (collection, question, message_id, reason) VALUES (%s, %s, %s,"
                     " 'abstained')", (collection, question, message_id))


def keys(questions: list[str]) -> set[str]:
    return {" ".join(q.lower().split()) for q in questions}


def by_topic(clusters: list[GapCluster]) -> dict[str, GapCluster]:
    """Each fixture topic's cluster, found by its questions (each must be exactly one cluster)."""
    found = {}
    for name, paraphrases in TOPICS.items():
        matching = [c for c in clusters if keys(c.to_json()["questions"]) == keys(list(paraphrases))]
        assert len(matching) == 1, (name, [c.to_json()["questions"] for c in clusters])
        found[name] = matching[0]
    return found


def test_the_bundled_embedder_groups_the_paraphrases(services):
    vectors = np.asarray(services.embedder.encode(QUESTIONS), dtype=np.float64)
    labels = cluster_labels(vectors).tolist()
    found = sorted(({i for i, x in enumerate(labels) if x == label} for label in set(labels)), key=min)
    assert found == [{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9, 10, 11}, {12}, {13}, {14}]


def test_a_missing_topic_is_covered_once_a_document_answers_it(services, gap_collection, tmp_path: Path):
    finder = GapFinder(services.pool, services.retriever, lambda collection: THRESHOLD)
    clusters = finder.report(7, gap_collection)
    assert len(clusters) == 6 and {c.collection for c in clusters} == {gap_collection}
    topics = by_topic(clusters)
    solar = topics["solar"]
    assert clusters[0] is solar and solar.count == 5  # 4 answers (one also handed off) + 1 handoff on its own
    assert solar.status == MISSING and not solar.covered
    details = {d["question"]: d for d in solar.to_json()["question_details"]}
    assert details[TOPICS["solar"][0]]["reasons"] == ["handoff", "not_covered", "thumbs_down"]
    assert details[TOPICS["solar"][1].upper()]["occurrences"] == 2  # shown in its latest wording, trimmed
    assert all(d["best_similarity"] < solar.threshold for d in details.values())
    assert solar.sources and solar.sources[0].similarity < solar.threshold
    before = {name: c.status for name, c in topics.items()}

    (tmp_path / "solar-energy.md").write_text(SOLAR_DOCUMENT, encoding="utf-8")
    assert services.ingestor.ingest_paths([tmp_path / "solar-energy.md"], gap_collection).documents_added == 1
    after = by_topic(finder.report(7, gap_collection))
    assert after["solar"].status == COVERED and after["solar"].covered
    assert after["solar"].sources[0].title.startswith("Solar Energy Monitoring")
    assert after["solar"].sources[0].similarity >= after["solar"].threshold
    assert {name: c.status for name, c in after.items() if name != "solar"} == {
        name: status for name, status in before.items() if name != "solar"}
    assert after["solar"].topic_id == solar.topic_id

    topics_now = finder.topics(7, gap_collection)
    assert topics_now.topic_of(TOPICS["aquarium"][2], gap_collection).topic_id == after["aquarium"].topic_id
    assert topics_now.topic_of("Can the hub show my solar panel production?", gap_collection).topic_id == \
        solar.topic_id
    assert topics_now.topic_of("What is the capital of Peru?", gap_collection) is None


def test_cli_lists_the_clusters_as_json(settings, services, gap_collection):
    result = run_cli(["gaps", "--json", "--collection", gap_collection, "--days", "7"], settings)
    assert result.returncode == 0, result.stderr
    clusters = json.loads(result.stdout)
    expected = GapFinder(services.pool, services.retriever, lambda collection: THRESHOLD).report(7, gap_collection)
    # the chain's threshold: the collection's calibrated one, not the global setting
    assert services.gap_finder.threshold_for(gap_collection) == THRESHOLD != settings.relevance_threshold
    assert [(c["count"], c["covered"], c["topic"]) for c in clusters] == [
        (c.count, c.covered, c.topic_id) for c in expected]
    solar = next(c for c in clusters if keys(c["questions"]) == keys(list(TOPICS["solar"])))
    assert solar["count"] == 5 and isinstance(solar["covered"], bool) and keys([solar["label"]]) <= keys(
        list(TOPICS["solar"]))
    assert solar["sources"] and {"title", "similarity", "document_id"} <= set(solar["sources"][0])
    assert all(c["collection"] == gap_collection and c["last_seen"] for c in clusters)
    assert {c["threshold"] for c in clusters} == {THRESHOLD}
    table = run_cli(["gaps", "--collection", gap_collection, "--days", "7"], settings)
    assert table.returncode == 0, table.stderr
    assert "still missing" in table.stdout and "aquarium" in table.stdout
