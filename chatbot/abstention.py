"""Calibrated abstention, per collection: the best cosine similarity a question's retrieved chunks must reach
before a generator answers it. Below it every generator says the documents do not cover the question.

Calibrated without labels from the store itself: the collection's titles and headings are the answerable
questions; the other collections' titles and headings and a shipped set of general questions
(`chatbot/data/general_questions.txt`) are the unanswerable ones. With a QA file, its questions are the
answerable ones instead. See `pick_threshold` for the rule and docs/abstention.md for what it measured."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib.resources import files

import numpy as np

from chatbot.calibration_arms import ArmsSource
from chatbot.storage.abstention_records import AbstentionRecords
from chatbot.storage.store import FusionRecords

MIN_QUERIES = 30  # fewer answerable questions than this: the global RAGBOT_RELEVANCE_THRESHOLD applies
OTHER_COLLECTIONS_QUERIES = 200  # titles/headings of the other collections taken as unanswerable, shared out
ABSTAIN_SHARE = 0.95  # the share of unanswerable calibration questions the threshold sits above
ANSWER_SHARE = 0.95  # ... and the share of answerable ones (titles, or a QA file's questions) it stays below


@dataclass(frozen=True)
class AbstentionCalibration:
    collection: str
    threshold: float | None  # None: too few answerable questions, the global setting applies
    source: str  # "titles" (label-free) or the QA file's name
    answerable: int
    unanswerable: int
    answerable_kept: float | None = None  # share of the calibration's answerable questions at or over it
    unanswerable_abstained: float | None = None  # share of its unanswerable ones under it
    quantiles: dict[str, list[float]] = field(default_factory=dict)


def general_questions() -> list[str]:
    """The shipped general-domain questions (cooking, travel, sports, ... other software), one a line."""
    text = files("chatbot").joinpath("data", "general_questions.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def best_similarity(retriever: ArmsSource, question: str) -> float:
    """The best cosine similarity between `question` and any candidate chunk of either arm: what the chain's
    coverage check compares with the threshold (a document's `best_similarity`)."""
    vector_hits, lexical_hits = retriever.arms(question)
    return max((hit.similarity for hit, _ in (*vector_hits, *lexical_hits)), default=0.0)


def pick_threshold(answerable: Sequence[float], unanswerable: Sequence[float]) -> float:
    """The threshold: the `ABSTAIN_SHARE` quantile of the unanswerable scores, so that about that share of
    questions like them is refused, but never over the score that keeps `ANSWER_SHARE` of the answerable ones
    answered: answering a covered question matters more than refusing an off-topic one, which the prompt still
    tells the generator to decline. Label-free, the answerable side is titles and headings, which share their very
    words with the chunks and score higher than users' questions, so the cap binds less often than with a QA file's
    questions. The cap is an answerable score itself (the lower one, not interpolated) and rounding goes down, so
    at least `ANSWER_SHARE` of them stay answered. (A cap at the titles' 10 % quantile answered 91.7 % of
    python-faq's test questions; at 5 %, 95.8 %, the same or better on the other corpora measured but for 2 points
    of abstention on one: docs/abstention.md.)"""
    floor = float(np.quantile(unanswerable, ABSTAIN_SHARE))
    cap = float(np.quantile(answerable, 1 - ANSWER_SHARE, method="lower"))  # a score: ≥ ANSWER_SHARE are at least it
    return math.floor(min(floor, cap) * 10_000 + 1e-9) / 10_000  # rounded down: the score at the cap is answered


def _quantiles(scores: Sequence[float]) -> list[float]:
    return [round(float(q), 4) for q in np.quantile(scores, (0.05, 0.25, 0.5, 0.75, 0.95))]


def unanswerable_questions(fusion: FusionRecords, records: AbstentionRecords, collection: str) -> list[str]:
    """The other collections' titles and headings (`OTHER_COLLECTIONS_QUERIES` shared out among them, at least
    10 each), then the shipped general questions."""
    names = records.other_collections(collection)
    each = max(10, OTHER_COLLECTIONS_QUERIES // max(len(names), 1))
    others = [text for other in names for text, _ in fusion.pseudo_queries(other, each)]
    return others[:OTHER_COLLECTIONS_QUERIES] + general_questions()


def calibrate_abstention(retriever: ArmsSource, fusion: FusionRecords, records: AbstentionRecords, limit: int,
                         qa: tuple[str, Sequence[str]] | None = None) -> AbstentionCalibration:
    """Score the answerable questions (up to `limit` titles/headings, or `qa`'s (name, questions)) and the
    unanswerable ones against the collection, and record `pick_threshold`'s choice."""
    collection = retriever.collection
    source, answerable_texts = qa or ("titles", [t for t, _ in fusion.pseudo_queries(collection, limit)])
    if len(answerable_texts) < MIN_QUERIES:
        calibration = AbstentionCalibration(collection, None, source, len(answerable_texts), 0)
    else:
        answerable = [best_similarity(retriever, text) for text in answerable_texts]
        unanswerable = [best_similarity(retriever, text)
                        for text in unanswerable_questions(fusion, records, collection)]
        threshold = pick_threshold(answerable, unanswerable)
        calibration = AbstentionCalibration(
            collection, threshold, source, len(answerable), len(unanswerable),
            round(float(np.mean(np.array(answerable) >= threshold)), 4),
            round(float(np.mean(np.array(unanswerable) < threshold)), 4),
            {"answerable": _quantiles(answerable), "unanswerable": _quantiles(unanswerable)})
    records.record(collection, calibration.threshold, asdict(calibration))
    return calibration


def threshold_lookup(records: Callable[[], AbstentionRecords], default: float) -> Callable[[str], float]:
    """collection → its calibrated threshold, else `default` (the global setting)."""

    def threshold(collection: str) -> float:
        calibrated = records().threshold(collection)
        return default if calibrated is None else calibrated

    return threshold
