"""Gaps: what the documents are missing (Admin → Gaps, `ragbot gaps`). The questions users voted down, the bot
abstained on or handed off (`chatbot.storage.gap_inputs`) are grouped into topics per collection with the
collection's embedder (`chatbot.gaps`), then each question is retrieved again, now, with the collection's
retriever: a topic shows its closest documents and whether the store covers its questions now, by the chain's own
coverage rule. Nothing is stored: a report is recomputed when it is viewed, so it follows every ingest."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from langchain_core.documents import Document

from chatbot.chain import public_source
from chatbot.gaps import (
    DISTANCE_THRESHOLD,
    GapQuestion,
    Topic,
    best_similarity,
    group_topics,
    is_covered,
    nearest_topic,
)
from chatbot.storage.gap_inputs import DEFAULT_LIMIT, gap_questions

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

    from chatbot.ab_grouping import BlindVote, Grouping
    from chatbot.retriever import PgRetriever

COVERED, MISSING = "covered now", "still missing"
SOURCES_SHOWN = 3


@dataclass(frozen=True)
class QuestionCoverage:
    """A gap question and its best similarity in the store now."""

    question: GapQuestion
    best_similarity: float
    covered: bool


@dataclass(frozen=True)
class ClosestSource:
    """A document among the closest to a topic's questions: its best chunk's similarity to any of them."""

    document_id: int
    title: str
    source: str
    where: str
    similarity: float
    snippet: str


@dataclass(frozen=True)
class GapCluster:
    """One topic of one collection, ranked among the others by `count` then `last_seen`."""

    topic_id: str
    label: str
    collection: str
    count: int
    last_seen: datetime
    questions: tuple[QuestionCoverage, ...]  # most recently seen first
    sources: tuple[ClosestSource, ...]  # closest first
    threshold: float

    @property
    def covered(self) -> bool:
        """Every question of the topic is covered now."""
        return all(q.covered for q in self.questions)

    @property
    def status(self) -> str:
        return COVERED if self.covered else MISSING

    def to_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic_id, "label": self.label, "collection": self.collection, "count": self.count,
            "last_seen": self.last_seen.isoformat(), "covered": self.covered, "status": self.status,
            "covered_questions": sum(q.covered for q in self.questions), "threshold": self.threshold,
            "questions": [q.question.question for q in self.questions],
            "question_details": [
                {"question": q.question.question, "occurrences": q.question.occurrences,
                 "last_seen": q.question.last_seen.isoformat(), "reasons": list(q.question.reasons),
                 "best_similarity": round(q.best_similarity, 4), "covered": q.covered} for q in self.questions],
            "sources": [{"document_id": s.document_id, "title": s.title, "source": s.source, "where": s.where,
                         "similarity": round(s.similarity, 4)} for s in self.sources],
        }


@dataclass(frozen=True)
class CollectionTopics:
    """One collection's gap questions, their vectors and their topics (ranked)."""

    collection: str
    questions: list[GapQuestion]
    vectors: np.ndarray
    topics: list[Topic]
    retriever: PgRetriever


def _key(question: str) -> str:
    return " ".join(question.lower().split())


@dataclass(frozen=True)
class TopicRef:
    """The gap topic a question belongs to."""

    topic_id: str
    label: str


class GapTopics:
    """The period's gap topics of each collection, to assign questions (or messages) to them."""

    def __init__(self, collections: Sequence[CollectionTopics], threshold: float = DISTANCE_THRESHOLD) -> None:
        self.collections = {c.collection: c for c in collections}
        self.threshold = threshold

    def topic_of(self, question: str, collection: str) -> TopicRef | None:
        """The topic of `collection` that `question` belongs to (see `topics_of`); None when none."""
        return self.topics_of([(question, collection)])[0]

    def topics_of(self, asked: Sequence[tuple[str, str]]) -> list[TopicRef | None]:
        """For each (question, collection), e.g. a stored message's: the topic of that collection it belongs to,
        its own when it is one of the gap questions, else the nearest by the clustering's linkage under the
        threshold (`gaps.nearest_topic`), or None. New questions are embedded in one batch per collection."""
        refs: list[TopicRef | None] = [None] * len(asked)
        for name, found in self.collections.items():
            member = {_key(q.question): i for i, q in enumerate(found.questions)}
            topic_of_member = {i: n for n, t in enumerate(found.topics) for i in t.members}
            mine = [i for i, (_, collection) in enumerate(asked) if collection == name]
            new = [i for i in mine if _key(asked[i][0]) not in member]
            vectors = found.retriever.embedder.encode([asked[i][0] for i in new]) if new else np.empty((0, 0))
            nearest = {i: nearest_topic(np.asarray(v, dtype=np.float64), found.vectors, found.topics, self.threshold)
                       for i, v in zip(new, vectors, strict=True)}
            for i in mine:
                index = nearest[i] if i in nearest else topic_of_member[member[_key(asked[i][0])]]
                if index is not None:
                    topic = found.topics[index]
                    refs[i] = TopicRef(topic.topic_id(found.questions), topic.label(found.questions))
        return refs


def closest_sources(documents: Sequence[Document], limit: int = SOURCES_SHOWN) -> tuple[ClosestSource, ...]:
    """The documents of these retrieved chunks, each by its most similar chunk, closest first."""
    best: dict[int, Document] = {}
    for doc in documents:
        document_id = int(doc.metadata["document_id"])
        held = best.get(document_id)
        if held is None or doc.metadata.get("similarity", 0.0) > held.metadata.get("similarity", 0.0):
            best[document_id] = doc
    ranked = sorted(best.values(), key=lambda d: -d.metadata.get("similarity", 0.0))[:limit]
    return tuple(ClosestSource(int(d.metadata["document_id"]), str(d.metadata.get("title") or ""),
                               public_source(d.metadata.get("source")) or "", _where(d.metadata),
                               float(d.metadata.get("similarity", 0.0)), d.page_content[:400]) for d in ranked)


def _where(metadata: dict[str, Any]) -> str:
    return f"page {metadata['page']}" if metadata.get("page") else str(metadata.get("heading") or "")


class GapFinder:
    """Builds gap reports and topics from the database, a retriever per collection and the coverage threshold."""

    def __init__(self, pool: ConnectionPool, retriever_for: Callable[[str], PgRetriever],
                 threshold_for: Callable[[str], float], distance_threshold: float = DISTANCE_THRESHOLD) -> None:
        self.pool, self.retriever_for, self.threshold_for = pool, retriever_for, threshold_for
        self.distance_threshold = distance_threshold

    def topics(self, days: int = 30, collection: str | None = None, limit: int = DEFAULT_LIMIT) -> GapTopics:
        """The gap topics of the period (of `collection`, or of every collection with gap questions)."""
        by_collection: dict[str, list[GapQuestion]] = {}
        for question in gap_questions(self.pool, days, collection, limit):
            by_collection.setdefault(question.collection, []).append(question)
        found = []
        for name, questions in sorted(by_collection.items()):
            retriever = self.retriever_for(name)
            vectors = np.asarray(retriever.embedder.encode([q.question for q in questions]), dtype=np.float64)
            found.append(CollectionTopics(name, questions, vectors,
                                          group_topics(questions, vectors, self.distance_threshold), retriever))
        return GapTopics(found, self.distance_threshold)

    def vote_topics(self, votes: Sequence[BlindVote], days: int = 30) -> Grouping:
        """A grouping of these blind votes by the gap topic (its label) of their question, over the same period;
        the questions are assigned in one batch per collection."""
        refs = self.topics(days).topics_of([(vote.question, vote.collection) for vote in votes])
        labels = {vote.id: ref.label for vote, ref in zip(votes, refs, strict=True) if ref is not None}
        return lambda vote: labels.get(vote.id)

    def report(self, days: int = 30, collection: str | None = None, limit: int = DEFAULT_LIMIT) -> list[GapCluster]:
        """Every topic of the period with its questions retrieved again now, most asked first, then most recent."""
        clusters = []
        for found in self.topics(days, collection, limit).collections.values():
            threshold = self.threshold_for(found.collection)
            retrieved = [found.retriever.invoke(q.question) for q in found.questions]
            for topic in found.topics:
                coverage = tuple(QuestionCoverage(found.questions[i], best_similarity(retrieved[i]),
                                                  is_covered(best_similarity(retrieved[i]), threshold))
                                 for i in topic.members)
                documents = [d for i in topic.members for d in retrieved[i]]
                clusters.append(GapCluster(topic.topic_id(found.questions), topic.label(found.questions),
                                           found.collection, topic.count, topic.last_seen, coverage,
                                           closest_sources(documents), threshold))
        return sorted(clusters, key=lambda c: (-c.count, -c.last_seen.timestamp(), c.collection, c.label))
