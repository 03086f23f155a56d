"""Blind-vote win rates split by a grouping: the collection the question was asked of, or any mapping of a vote
to a topic (e.g. the gap clusters of `ragbot gaps`). Counting is the same as `win_rates_sql`: each vote counts for
both sides, once when a generator met itself, a tie for neither side."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chatbot.storage.conversations import WinRate

NO_GROUP = "(none)"  # the group of a vote the grouping maps to nothing


@dataclass(frozen=True)
class BlindVote:
    """One stored blind vote with what a grouping may look at."""

    id: int
    message_a: uuid.UUID
    message_b: uuid.UUID
    generator_a: str
    generator_b: str
    winner: str  # 'a', 'b' or 'tie'
    collection: str
    question: str
    created_at: datetime


Grouping = Callable[[BlindVote], str | None]

GROUPINGS: dict[str, Grouping] = {"collection": lambda vote: vote.collection}


def grouping(by: str | Grouping) -> Grouping:
    """A named grouping (`GROUPINGS`) or a callable as it is; `ValueError` naming the choices otherwise."""
    if callable(by):
        return by
    if by not in GROUPINGS:
        raise ValueError(f"unknown grouping '{by}' (choose from {', '.join(GROUPINGS)})")
    return GROUPINGS[by]


def _sides(vote: BlindVote) -> list[tuple[str, str, str]]:
    outcome_a = {"a": "win", "b": "loss"}.get(vote.winner, "tie")
    outcome_b = {"a": "loss", "b": "win"}.get(vote.winner, "tie")
    sides = [(vote.generator_a, vote.generator_b, outcome_a)]
    if vote.generator_a != vote.generator_b:
        sides.append((vote.generator_b, vote.generator_a, outcome_b))
    return sides


def grouped_win_rates(votes: Iterable[BlindVote], by: str | Grouping) -> list[WinRate]:
    """Wins, losses and ties per (group, generator, opponent), sorted so."""
    key = grouping(by)
    counts: Counter[tuple[str, str, str, str]] = Counter()
    for vote in votes:
        group = key(vote) or NO_GROUP
        for generator, opponent, outcome in _sides(vote):
            counts[(group, generator, opponent, outcome)] += 1
    pairs = sorted({(g, gen, opp) for g, gen, opp, _ in counts})
    return [WinRate(gen, opp, counts[(g, gen, opp, "win")], counts[(g, gen, opp, "loss")],
                    counts[(g, gen, opp, "tie")], group=g) for g, gen, opp in pairs]


def win_rate_summary(rate: WinRate) -> dict[str, Any]:
    """A win rate as JSON: counts, the rate (ties half), its 95 % Wilson interval, the further votes needed
    at this rate to tell the two apart (None: never, the rate is exactly 50 %, or no votes yet) and the verdict."""
    judged = rate.judged
    return {**({"group": rate.group} if rate.group else {}), "generator": rate.generator, "opponent": rate.opponent,
            "wins": rate.wins, "losses": rate.losses, "ties": rate.ties, "votes": rate.votes,
            "win_rate": round(judged.rate, 4), "interval": [round(judged.low, 4), round(judged.high, 4)],
            "votes_needed": judged.votes_needed, "verdict": judged.verdict}
