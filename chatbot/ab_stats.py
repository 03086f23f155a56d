"""The statistics behind "is one generator better?": Wilson score intervals for blind-vote win rates, the votes
still needed to tell two generators apart, and paired bootstrap intervals for score differences.

Ties count half a win (the convention of every win rate in ragbot): a record of `wins`, `losses`, `ties` is
`wins + ties / 2` successes in `wins + losses + ties` trials. Pure functions, no database, no UI."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0

BETTER, WORSE, UNDECIDED, NO_VOTES = "better", "worse", "not yet distinguishable", "no votes"


def z_score(confidence: float = CONFIDENCE) -> float:
    """The two-sided normal quantile (1.96 for 95 %)."""
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson(successes: float, trials: float, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of a proportion; (0, 1) without trials."""
    if trials <= 0:
        return 0.0, 1.0
    z = z_score(confidence)
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z / (1 + z * z / trials) * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return max(0.0, centre - half), min(1.0, centre + half)


def trials_to_exclude_half(rate: float, confidence: float = CONFIDENCE) -> int | None:
    """The smallest number of trials at which the Wilson interval of `rate` leaves out 0.5; None at exactly 0.5.

    0.5 lies inside the Wilson interval exactly when (rate - 0.5)² ≤ z²·0.25 / n (the score test), so the
    answer is the smallest n above z² / (4·(rate - 0.5)²)."""
    gap = abs(rate - 0.5)
    if gap < 1e-12:
        return None
    return math.floor(z_score(confidence) ** 2 / (4 * gap * gap)) + 1


@dataclass(frozen=True)
class VoteVerdict:
    """What a record of blind votes says about a generator against its opponent."""

    rate: float  # wins + ties / 2 over votes; 0.0 without votes
    low: float
    high: float
    votes_needed: int | None  # further votes at this rate before the interval leaves out 50 %; None: never
    verdict: str  # BETTER, WORSE, UNDECIDED or NO_VOTES


def judge(wins: int, losses: int, ties: int, confidence: float = CONFIDENCE) -> VoteVerdict:
    """The interval, the votes still needed and the verdict: better or worse only when the interval leaves
    out 50 %."""
    votes = wins + losses + ties
    if votes == 0:
        return VoteVerdict(0.0, 0.0, 1.0, None, NO_VOTES)
    successes = wins + 0.5 * ties
    rate = successes / votes
    low, high = wilson(successes, votes, confidence)
    needed = trials_to_exclude_half(rate, confidence)
    verdict = BETTER if low > 0.5 else WORSE if high < 0.5 else UNDECIDED
    return VoteVerdict(rate, low, high, None if needed is None else max(0, needed - votes), verdict)


@dataclass(frozen=True)
class Difference:
    """The mean paired difference a − b and its bootstrap interval."""

    mean: float
    low: float
    high: float
    n: int

    def to_json(self, digits: int = 4) -> dict[str, float | int]:
        return {"mean": round(self.mean, digits), "low": round(self.low, digits), "high": round(self.high, digits),
                "n": self.n}


def paired_bootstrap(a: Sequence[float], b: Sequence[float], *, resamples: int = BOOTSTRAP_RESAMPLES,
                     seed: int = BOOTSTRAP_SEED, confidence: float = CONFIDENCE) -> Difference:
    """The percentile bootstrap interval of mean(a − b), resampling the paired items (questions) with
    replacement; deterministic for a given seed."""
    if len(a) != len(b):
        raise ValueError("a paired bootstrap needs paired scores")
    diffs = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if diffs.size == 0:
        return Difference(0.0, 0.0, 0.0, 0)
    rng = np.random.default_rng(seed)
    means = diffs[rng.integers(0, diffs.size, size=(resamples, diffs.size))].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Difference(float(diffs.mean()), float(low), float(high), int(diffs.size))
