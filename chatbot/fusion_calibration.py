"""Label-free calibration of hybrid fusion, per collection: the store's own titles and headings are the queries,
the one document each names is the answer, and `RULE` picks the fusion method and lexical weight from how those
documents rank (see `pick_fusion`).

`RULE = "zscore-prior"`: each arm's scores become standard deviations above its own list's mean (z-scores), and
among the weights the titles cannot tell from their best (within `TOLERANCE` nDCG@10) the one nearest
`PRIOR_WEIGHT` (0.3, the shipped `RAGBOT_LEXICAL_WEIGHT`, set before any corpus below was measured) is kept.
Why: min-max scales an arm by its two extreme scores, so one outlying BM25 hit sets the scale and a weight
means something different from query to query; z-scores use all of the arm's candidates. And titles share their
very words with their documents, so their best weight overrates the lexical arm, while where they are solved at
every weight (a small collection: nDCG@10 1.0 from w = 0.2) they say nothing: the old rule (min-max, the smallest
weight within the tolerance) then fell to 0.1, near the vector arm. The prior moves only when the titles show it
costs more than the tolerance.

Measured (`python -m benchmarks.fusion_rules`, every question of each corpus; docs/retrieval.md has the table of
every rule): hybrid nDCG@10 minus its better arm, old rule → this one: python-faq +0.005 → +0.002, git-docs
+0.074 → +0.073, postgres-docs (hand-written questions) +0.000 → +0.005, and the product manual of
`examples/docs` −0.049 → −0.005. On the small test splits neither rule holds everywhere (python-faq −0.008,
examples −0.030 with this one; postgres-docs −0.022, examples −0.045 with the old)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from chatbot.calibration_arms import ArmsSource
from chatbot.retriever import FusionMethod, Hit, fuse
from chatbot.storage.store import FusionRecords

WEIGHTS = tuple(round(0.1 * i, 1) for i in range(11))
MIN_QUERIES = 30  # fewer titles/headings than this: the measurement is noise, keep the default weight
RECALIBRATE_CHANGE = 0.2  # recalibrate when the chunk count moved by more than this share
RULE = "zscore-prior"  # the rule `calibrate` applies (see `pick_fusion` and the module docstring)
TOLERANCE = 0.01  # nDCG@10 on the pseudo-queries a larger lexical weight must gain to be chosen (pick_weight)


@dataclass(frozen=True)
class Calibration:
    collection: str
    lexical_weight: float | None  # None: too few pseudo-queries, the default applies
    queries: int
    ndcg_by_weight: dict[str, float]  # the pseudo-queries' nDCG@10 at every weight, with `method`
    rule: str = ""
    method: str = "minmax"
    margin: float | None = None  # pseudo-query nDCG@10 at the chosen weight minus at 0 (the vector arm)
    fallback: str = ""


def document_ranking(hits: list[tuple[Hit, float]], k: int = 10) -> list[str]:
    """Sources in rank order; a document ranks where its best chunk does."""
    ranked: list[str] = []
    for hit, _ in hits:
        if hit.source not in ranked:
            ranked.append(hit.source)
            if len(ranked) == k:
                break
    return ranked


ArmLists = tuple[list[tuple[str, int, float]], list[tuple[str, int, float]]]  # (source, chunk id, score) per arm


@dataclass(frozen=True)
class FusionChoice:
    """A rule's fusion: method, lexical weight and how it came about."""

    method: FusionMethod
    weight: float
    margin: float = 0.0  # pseudo-query nDCG@10 at `weight` minus at 0 (the vector arm alone)
    fallback: str = ""  # why the rule left the pseudo-queries' pick, if it did
    curve: dict[float, float] = field(default_factory=dict)  # the pseudo-queries' nDCG@10 by weight, if measured


def ndcg_at(ranking: list[str], gold: set[str], k: int = 10) -> float:
    """Binary-relevance nDCG@k of a document ranking."""
    dcg = sum(1.0 / math.log2(i + 2) for i, doc in enumerate(ranking[:k]) if doc in gold)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(gold), k)))
    return dcg / ideal if ideal else 0.0


def _as_hits(arm: list[tuple[str, int, float]]) -> list[tuple[Hit, float]]:
    return [(Hit(chunk_id, 0, "", {}, source, "", "", 0.0), score) for source, chunk_id, score in arm]


def rank_documents(arms: ArmLists, method: FusionMethod, weight: float, k: int = 10) -> list[str]:
    """The top `k` documents of the fused arms."""
    return document_ranking(fuse(_as_hits(arms[0]), _as_hits(arms[1]), weight, method)[: k * 4], k)


def weight_curve(pseudo: list[tuple[str, ArmLists]], method: FusionMethod) -> dict[float, float]:
    """Mean pseudo-query nDCG@10 at every weight in `WEIGHTS`."""
    return {w: sum(ndcg_at(rank_documents(arms, method, w), {source}) for source, arms in pseudo) / len(pseudo)
            for w in WEIGHTS}


def pick_weight(ndcg_by_weight: dict[float, float]) -> float:
    """The smallest lexical weight within `TOLERANCE` of the best score: a title shares its words with its own
    document far more than a user's question does, so the pseudo-queries overrate the lexical arm, and a weight
    step that buys less than `TOLERANCE` on them is not trusted."""
    top = max(ndcg_by_weight.values())
    return min(w for w, score in ndcg_by_weight.items() if score >= top - TOLERANCE - 1e-9)


def nearest_to_prior(ndcg_by_weight: dict[float, float], prior: float) -> float:
    """Among the weights the pseudo-queries cannot tell from their best (within `TOLERANCE`), the one nearest
    `prior`: the titles only move the weight off the prior when they show that it costs more than the tolerance."""
    top = max(ndcg_by_weight.values())
    near = [w for w, score in ndcg_by_weight.items() if score >= top - TOLERANCE - 1e-9]
    return min(near, key=lambda w: (abs(w - prior), w))


PRIOR_WEIGHT = 0.3  # the shipped RAGBOT_LEXICAL_WEIGHT default, set before any of the corpora was measured
RULES = ("vector", "fts", "tolerance", "best", "half", "zscore", "dbsf", "zscore-half", "dbsf-half",
         "fixed-0.2", "zscore-0.3", "dbsf-0.3", "prior", "zscore-prior", "dbsf-prior")


def pick_fusion(pseudo: list[tuple[str, ArmLists]], rule: str) -> FusionChoice:
    """The fusion `rule` picks from the pseudo-queries' (source, arms)."""
    if rule in ("vector", "fts"):
        return FusionChoice("minmax", 0.0 if rule == "vector" else 1.0)
    method: FusionMethod = next((m for m in ("zscore", "dbsf") if rule.startswith(m)), "minmax")
    if rule.split("-")[-1].replace(".", "").isdigit():
        return FusionChoice(method, float(rule.split("-")[-1]))
    curve = weight_curve(pseudo, method)
    if rule == "best":
        weight = max(curve, key=lambda w: (curve[w], -w))
    elif rule.endswith("prior"):
        weight = nearest_to_prior(curve, PRIOR_WEIGHT)
    else:
        weight = pick_weight(curve)
    if rule.endswith("half"):
        weight = round(weight / 2, 2)
    return FusionChoice(method, weight, round(curve.get(weight, curve[pick_weight(curve)]) - curve[0.0], 4),
                        curve=curve)


def calibrate(retriever: ArmsSource, records: FusionRecords, limit: int) -> Calibration:
    """Fetch both arms for up to `limit` pseudo-queries, apply `RULE` and record its choice with how it came
    about (the pseudo-queries' nDCG@10 at every weight, the margin over the vector arm, any fallback)."""
    collection = retriever.collection
    queries = records.pseudo_queries(collection, limit)
    if len(queries) < MIN_QUERIES:
        return Calibration(collection, None, len(queries), {})
    pseudo = [(source, _arm_lists(retriever.arms(text))) for text, source in queries]
    choice = pick_fusion(pseudo, RULE)
    scores = {f"{w:.1f}": round(t, 4) for w, t in choice.curve.items()}
    calibration = Calibration(collection, choice.weight, len(queries), scores, RULE, choice.method, choice.margin,
                              choice.fallback)
    records.record(collection, choice.weight, asdict(calibration))
    return calibration


def _arm_lists(arms: tuple[list[tuple[Hit, float]], list[tuple[Hit, float]]]) -> ArmLists:
    return ([(h.source, h.chunk_id, s) for h, s in arms[0]], [(h.source, h.chunk_id, s) for h, s in arms[1]])


def is_stale(records: FusionRecords, collection: str) -> bool:
    """True when the collection was never calibrated or its chunk count moved by more than `RECALIBRATE_CHANGE`."""
    state = records.state(collection)
    if state is None or state.chunk_count == 0:
        return False
    if state.calibrated_chunks is None:
        return True
    return abs(state.chunk_count - state.calibrated_chunks) > RECALIBRATE_CHANGE * max(state.calibrated_chunks, 1)
