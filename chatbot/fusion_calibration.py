"""Label-free calibration of hybrid fusion, per collection: the store's own titles and headings are the queries,
the one document each names is the answer, and the lexical weight that ranks those documents best (within a
tolerance, see `pick_weight`) is kept.

Measured (`ragbot eval retrieval --sweep`, 200 titles each, the vector arm lead-blended): the titles' best
weights are 0.3 (python-faq) and 0.5 (git-docs), but the labels' are 0.1 and 0.5: titles overrate the lexical
arm. Taking the smallest weight within 0.01 of the titles' best picks 0.2 and 0.4, and the hybrid then beats its
better arm on both corpora (python-faq test questions 0.778 vs vector 0.774, where 0.3 lost 0.017; git-docs
0.584 vs BM25 0.506)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from chatbot.retriever import Hit, PgRetriever, fuse
from chatbot.storage.store import FusionRecords

WEIGHTS = tuple(round(0.1 * i, 1) for i in range(11))
MIN_QUERIES = 30  # fewer titles/headings than this: the measurement is noise, keep the default weight
RECALIBRATE_CHANGE = 0.2  # recalibrate when the chunk count moved by more than this share
TOLERANCE = 0.01  # nDCG@10 on the pseudo-queries a larger lexical weight must gain to be chosen (pick_weight)


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


def pick_weight(ndcg_by_weight: dict[float, float]) -> float:
    """The smallest lexical weight within `TOLERANCE` of the best score: a title shares its words with its own
    document far more than a user's question does, so the pseudo-queries overrate the lexical arm, and a weight
    step that buys less than `TOLERANCE` on them is not trusted."""
    top = max(ndcg_by_weight.values())
    return min(w for w, score in ndcg_by_weight.items() if score >= top - TOLERANCE - 1e-9)


def calibrate(retriever: PgRetriever, records: FusionRecords, limit: int) -> Calibration:
    """Measure every weight in `WEIGHTS` on up to `limit` pseudo-queries and record `pick_weight`'s choice."""
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
    best = pick_weight({w: t / len(queries) for w, t in totals.items()})
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
