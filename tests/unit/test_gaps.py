"""Gap topics without a database or a model: clustering, ranking, assignment and the coverage rule on deterministic
vectors (each topic's paraphrases near one random direction of a 384-d space, every other question on its own)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from langchain_core.documents import Document

import chatbot.gap_report as gap_report
from chatbot.chain import RagChain
from chatbot.gap_report import COVERED, MISSING, GapFinder, closest_sources
from chatbot.gaps import GapQuestion, best_similarity, cluster_labels, group_topics, is_covered, nearest_topic
from chatbot.settings import Settings
from tests.gap_fixture import SINGLETONS, TOPICS

NOW = datetime(2026, 12, 4, 12, tzinfo=UTC)
QUESTIONS = [q for paraphrases in TOPICS.values() for q in paraphrases] + list(SINGLETONS)
TRUE_GROUPS = [{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9, 10, 11}, {12}, {13}, {14}]


def unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


class FakeEmbedder:
    """A topic's paraphrases 0.3 (relative noise) from the topic's direction; any other text a direction of its own.
    The same text always gets the same vector."""

    def __init__(self, seed: int = 7) -> None:
        rng = np.random.default_rng(seed)
        self.directions = {name: rng.normal(size=384) for name in TOPICS}
        self.seed = seed

    def encode(self, texts: list[str]) -> np.ndarray:
        rows = []
        for text in texts:
            rng = np.random.default_rng(abs(hash((self.seed, text))) % 2**32)
            topic = next((name for name, qs in TOPICS.items() if text in qs or text.startswith(f"{name}:")), None)
            noise = rng.normal(size=384)
            rows.append(self.directions[topic] + 0.3 * noise if topic else noise)
        return unit(np.asarray(rows))


def asked(question: str, occurrences: int = 1, hours_ago: float = 1.0, collection: str = "c") -> GapQuestion:
    return GapQuestion(collection, question, occurrences, NOW - timedelta(hours=hours_ago), ("thumbs_down",))


def groups(labels: np.ndarray) -> list[set[int]]:
    return sorted(({i for i, x in enumerate(labels) if x == label} for label in set(labels.tolist())), key=min)


def test_paraphrases_group_and_other_questions_stay_alone():
    assert groups(cluster_labels(FakeEmbedder().encode(QUESTIONS))) == TRUE_GROUPS


def test_one_question_is_one_topic_and_none_is_none():
    assert cluster_labels(FakeEmbedder().encode(QUESTIONS[:1])).tolist() == [0]
    assert cluster_labels(np.zeros((0, 384))).tolist() == []


def test_topics_rank_by_count_then_recency_and_name_themselves_by_their_central_question():
    questions = [asked(q, hours_ago=i + 1) for i, q in enumerate(QUESTIONS)]
    questions[12] = asked(QUESTIONS[12], occurrences=9, hours_ago=50)  # one question asked 9 times
    questions[13] = asked(QUESTIONS[13], occurrences=4, hours_ago=0.5)  # as often as a topic, more recently
    vectors = FakeEmbedder().encode(QUESTIONS)
    topics = group_topics(questions, vectors)
    assert [(set(t.members), t.count) for t in topics] == [
        ({12}, 9), ({13}, 4), ({0, 1, 2, 3}, 4), ({4, 5, 6, 7}, 4), ({8, 9, 10, 11}, 4), ({14}, 1)]
    assert topics[2].members == (0, 1, 2, 3)  # most recently seen first
    assert topics[2].last_seen == NOW - timedelta(hours=1) and topics[0].last_seen == NOW - timedelta(hours=50)
    block = vectors[:4] @ vectors[:4].T
    assert topics[2].central == int(np.argmax(block.mean(axis=1)))
    assert topics[2].label(questions) == QUESTIONS[topics[2].central]
    ids = {t.topic_id(questions) for t in topics}
    assert len(ids) == len(topics) and all(len(i) == 12 for i in ids)


def test_a_new_question_joins_the_nearest_topic_under_the_threshold_only():
    embedder = FakeEmbedder()
    vectors = embedder.encode(QUESTIONS)
    topics = group_topics([asked(q) for q in QUESTIONS], vectors)
    rental = next(i for i, t in enumerate(topics) if 8 in t.members)
    assert nearest_topic(embedder.encode(["rental guests: can my tenants switch lights?"])[0], vectors,
                         topics) == rental
    assert nearest_topic(embedder.encode(["something else entirely"])[0], vectors, topics) is None
    assert nearest_topic(vectors[8], vectors, topics, threshold=0.0) is None


@pytest.mark.parametrize("similarities, best", [((0.1, 0.29), 0.29), ((0.31,), 0.31), ((), 0.0)])
def test_coverage_is_the_chains_rule(similarities, best):
    documents = [Document("x", metadata={"similarity": s, "best_similarity": max(similarities)})
                 for s in similarities]
    chain = RagChain(Settings(_env_file=None, relevance_threshold=0.3), None, lambda c: None)
    assert best_similarity(documents) == pytest.approx(best)
    assert is_covered(best_similarity(documents), 0.3) is chain.covered(documents)
    assert is_covered(0.3, 0.3) and not is_covered(0.2999, 0.3)


def test_closest_sources_take_each_document_once_by_its_best_chunk():
    def chunk(document_id: int, similarity: float) -> Document:
        return Document(f"text {document_id}", metadata={
            "document_id": document_id, "similarity": similarity, "title": f"Doc {document_id}",
            "source": f"/srv/docs/d{document_id}.md", "heading": "Setup", "page": None})

    found = closest_sources([chunk(1, 0.2), chunk(2, 0.5), chunk(1, 0.6), chunk(3, 0.1), chunk(4, 0.3)], limit=3)
    assert [(s.document_id, s.similarity) for s in found] == [(1, 0.6), (2, 0.5), (4, 0.3)]
    assert found[0].source == "d1.md" and found[0].where == "Setup" and found[0].title == "Doc 1"


class FakeRetriever:
    """Returns one chunk per question whose similarity is 0.8 for solar questions, else 0.1."""

    def __init__(self, embedder: FakeEmbedder) -> None:
        self.embedder = embedder

    def invoke(self, question: str) -> list[Document]:
        similarity = 0.8 if question in TOPICS["solar"] else 0.1
        metadata = {"document_id": 7, "similarity": similarity, "best_similarity": similarity, "title": "Solar",
                    "source": "s.md"}
        return [Document("Solar panels …", metadata=metadata)]


def test_a_report_ranks_topics_and_says_which_are_covered_now(monkeypatch):
    questions = [asked(q, occurrences=2 if q in TOPICS["aquarium"] else 1, hours_ago=i)
                 for i, q in enumerate(QUESTIONS)]
    monkeypatch.setattr(gap_report, "gap_questions", lambda pool, days, collection, limit: questions)
    embedder = FakeEmbedder()
    finder = GapFinder(None, lambda c: FakeRetriever(embedder), lambda c: 0.3)
    clusters = finder.report(30)
    assert [len(c.questions) for c in clusters] == [4, 4, 4, 1, 1, 1]
    assert clusters[0].count == 8 and set(clusters[0].to_json()["questions"]) == set(TOPICS["aquarium"])
    solar = next(c for c in clusters if set(c.to_json()["questions"]) == set(TOPICS["solar"]))
    assert (solar.covered, solar.status) == (True, COVERED) and clusters[0].status == MISSING
    shown = solar.to_json()
    assert shown["count"] == 4 and shown["covered_questions"] == 4 and shown["threshold"] == 0.3
    assert shown["sources"] == [{"document_id": 7, "title": "Solar", "source": "s.md", "where": "",
                                 "similarity": 0.8}]
    assert shown["question_details"][0]["reasons"] == ["thumbs_down"]
    assert clusters[1].last_seen > clusters[2].last_seen  # equal counts: the more recent first

    topics = finder.topics(30)
    assert topics.topic_of(QUESTIONS[9].upper(), "c").topic_id == next(
        c.topic_id for c in clusters if QUESTIONS[9] in c.to_json()["questions"])
    assert topics.topic_of("solar: is my inverter supported?", "c").label in TOPICS["solar"]
    assert topics.topic_of("unrelated", "c") is None and topics.topic_of(QUESTIONS[0], "other") is None
    batch = topics.topics_of([("solar: inverter?", "c"), (QUESTIONS[4], "c"), ("unrelated", "c"), ("x", "other")])
    assert [ref.label in TOPICS["solar"] if ref else None for ref in batch] == [True, False, None, None]
    assert batch[1] == topics.topic_of(QUESTIONS[5], "c")
