"""Label-free calibration of hybrid fusion, per collection: the store's own titles and headings are the queries,
the one document each names is the answer, and the lexical weight that ranks those documents best is kept.

Measured (`ragbot eval retrieval --sweep`, 200 titles each): python-faq's pick is 0.3, the labels' best too
(nDCG@10 0.706, vector arm 0.686); git-docs' pick is 0.5, 0.015 below the labels' 0.6 and 0.043 above its better
arm, where a fixed 0.3 would only tie that arm."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from chatbot.retriever import Hit, PgRetriever, fuse
from chatbot.store import FusionRecords

WEIGHTS = tuple(round(0.1 * i, 1) for i in range(11))
MIN_QUERIES = 30  # fewer titles/headings than this: the measurement is noise, keep the default weight
RECALIBRATE_CHANGE = 0.2  # recalibrate when the chunk count moved by more than this share


@dataclass(frozen=True)
class Calibration:
    collection: str
    lexical_weight: float | None  # None: too few pseudo-queries, the default applies
    queries: int
    ndcg_by_weight: dict[str, float]


def document_ranking(hits: list[tuple[Hit, float]], k: int = 10) -> list[str]:
    """Sources in rank order; a document ranks where its best chunk does."""
    ranked: list[str] = []
    for hit, _ in hits:
        if hit.source not in ranked:
            ranked.append(hit.source)
            if len(ranked) == k:
                break
    return ranked


def _ndcg_one(ranking: list[str], source: str) -> float:
    return 1.0 / math.log2(ranking.index(source) + 2) if source in ranking else 0.0


def calibrate(retriever: PgRetriever, records: FusionRecords, limit: int) -> Calibration:
    """Measure every weight in `WEIGHTS` on up to `limit` pseudo-queries and record the best (ties: the smaller
    lexical weight)."""
    collection = retriever.collection
    queries = records.pseudo_queries(collection, limit)
    if len(queries) < MIN_QUERIES:
        return Calibration(collection, None, len(queries), {})
    totals = dict.fromkeys(WEIGHTS, 0.0)
    for text, source in queries:
        vector_hits, lexical_hits = retriever.arms(text)
        for weight in WEIGHTS:
            totals[weight] += _ndcg_one(document_ranking(fuse(vector_hits, lexical_hits, weight)), source)
    scores = {f"{w:.1f}": round(t / len(queries), 4) for w, t in totals.items()}
    best = max(WEIGHTS, key=lambda w: (round(totals[w], 9), -w))
    calibration = Calibration(collection, best, len(queries), scores)
    records.record(collection, best, asdict(calibration))
    return calibration


def is_stale(records: FusionRecords, collection: str) -> bool:
    """True when the collection was never calibrated or its chunk count moved by more than `RECALIBRATE_CHANGE`."""
    state = records.state(collection)
    if state is None or state.chunk_count == 0:
        return False
    if state.calibrated_chunks is None:
        return True
    return abs(state.chunk_count - state.calibrated_chunks) > RECALIBRATE_CHANGE * max(state.calibrated_chunks, 1)
