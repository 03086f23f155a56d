"""Gaps, the pure part: group the questions the documents failed on into topics, name each topic, rank the topics,
assign a new question to one, and decide whether retrieved documents cover a question. No database, no model:
callers pass unit vectors (the collection's embedder) and retrieved documents.

Topics come from scikit-learn's agglomerative clustering with complete linkage on cosine distance, cut at
`DISTANCE_THRESHOLD` (no cluster count to choose): two groups merge only while every question of one is closer
than the threshold to every question of the other. The threshold was measured on a labelled set of paraphrases
(`python -m benchmarks.gap_threshold`, docs/gaps.md)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sklearn.cluster import AgglomerativeClustering

# Complete-linkage cosine distance at which topics stop merging (measured: docs/gaps.md).
DISTANCE_THRESHOLD = 0.65
LINKAGE = "complete"


@dataclass(frozen=True)
class GapQuestion:
    """A distinct question (case and spacing ignored) of one collection that was voted down, abstained on or
    handed off: how often and when last, and why (`thumbs_down`, `not_covered`, `handoff`)."""

    collection: str
    question: str
    occurrences: int
    last_seen: datetime
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Topic:
    """Questions of one collection grouped as one topic: the indexes of its questions (most recent first), the one
    that names it (the most central), how often they were asked and when last."""

    collection: str
    members: tuple[int, ...]
    central: int
    count: int
    last_seen: datetime

    def label(self, questions: Sequence[GapQuestion]) -> str:
        return questions[self.central].question

    def topic_id(self, questions: Sequence[GapQuestion]) -> str:
        """A short id that stays the same while the topic's central question does."""
        key = f"{self.collection}\n{' '.join(self.label(questions).lower().split())}"
        return hashlib.sha256(key.encode()).hexdigest()[:12]


def cluster_labels(vectors: np.ndarray, threshold: float = DISTANCE_THRESHOLD) -> np.ndarray:
    """A cluster number per row of `vectors` (unit vectors); a single row is its own cluster."""
    if len(vectors) < 2:
        return np.zeros(len(vectors), dtype=int)
    model = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage=LINKAGE,
                                    distance_threshold=threshold)
    return model.fit_predict(np.asarray(vectors, dtype=np.float64))


def central_member(vectors: np.ndarray, members: Sequence[int]) -> int:
    """The member most similar, on average, to the others (the first on ties)."""
    block = vectors[list(members)]
    return members[int(np.argmax((block @ block.T).mean(axis=1)))]


def group_topics(questions: Sequence[GapQuestion], vectors: np.ndarray,
                 threshold: float = DISTANCE_THRESHOLD) -> list[Topic]:
    """Topics of one collection's questions (row i of `vectors` embeds question i), ranked: most asked first,
    then most recently seen."""
    labels = cluster_labels(vectors, threshold)
    topics = []
    for label in sorted(set(labels.tolist())):
        members = sorted((i for i in range(len(questions)) if labels[i] == label),
                         key=lambda i: questions[i].last_seen, reverse=True)
        topics.append(Topic(questions[members[0]].collection, tuple(members), central_member(vectors, members),
                            sum(questions[i].occurrences for i in members),
                            max(questions[i].last_seen for i in members)))
    return sorted(topics, key=lambda t: (-t.count, -t.last_seen.timestamp(), t.central))


def nearest_topic(vector: np.ndarray, vectors: np.ndarray, topics: Sequence[Topic],
                  threshold: float = DISTANCE_THRESHOLD) -> int | None:
    """The index in `topics` a new question (its unit vector) joins: by the clustering's own linkage, the topic
    whose farthest question is nearest, when that distance is under `threshold`; else None."""
    best, best_distance = None, threshold
    for index, topic in enumerate(topics):
        distance = 1.0 - float((vectors[list(topic.members)] @ vector).min())
        if distance < best_distance:
            best, best_distance = index, distance
    return best


def best_similarity(documents: Sequence[Any]) -> float:
    """The best cosine similarity among what the retriever considered for a question (the `similarity` and
    `best_similarity` metadata of its documents, as the chain's coverage check reads them); 0 with none."""
    return max((max(d.metadata.get("similarity", 0.0), d.metadata.get("best_similarity", 0.0)) for d in documents),
               default=0.0)


def is_covered(similarity: float, threshold: float) -> bool:
    """The chain's coverage rule (`RagChain.covered`): covered when the best similarity reaches the threshold."""
    return similarity >= threshold
