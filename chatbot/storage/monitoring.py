"""Read-only monitoring queries over the stored conversations, thumbs votes and blind A/B votes.

Every query covers a period of `days` whole UTC days ending today (7 = today and the six days before).
Answers (per day, not covered, slowest) are counted by when they were given; votes (thumbs, blind votes,
worst rated) by when they were cast. Days are UTC dates."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from psycopg_pool import ConnectionPool

from chatbot.ab_grouping import BlindVote, Grouping, grouped_win_rates
from chatbot.storage.conversations import WinRate, win_rates_sql

PERIODS = (7, 30, 90)
MAX_DAYS = 3660

# The first instant of the period: midnight UTC, `days - 1` days before today (UTC).
_SINCE = "((now() AT TIME ZONE 'UTC')::date - (%(days)s::int - 1)) AT TIME ZONE 'UTC'"
_DAYS = ("SELECT d::date AS day FROM generate_series((now() AT TIME ZONE 'UTC')::date - (%(days)s::int - 1),"
         " (now() AT TIME ZONE 'UTC')::date, interval '1 day') AS d")
_DAY = "(m.created_at AT TIME ZONE 'UTC')::date"
# Questions count as the same when they differ only in case and spacing.
_QUESTION_KEY = r"lower(regexp_replace(btrim(m.question), '\s+', ' ', 'g'))"

ANSWERS_PER_DAY_SQL = f"""
WITH days AS ({_DAYS}),
counts AS (
    SELECT {_DAY} AS day, m.generator, count(*) AS answers
    FROM messages m WHERE m.created_at >= {_SINCE} GROUP BY 1, 2
),
generators AS (SELECT DISTINCT generator FROM counts)
SELECT days.day, g.generator, coalesce(c.answers, 0) AS answers
FROM days CROSS JOIN generators g
LEFT JOIN counts c ON c.day = days.day AND c.generator = g.generator
ORDER BY days.day, g.generator
"""

NOT_COVERED_PER_DAY_SQL = f"""
WITH days AS ({_DAYS}),
counts AS (
    SELECT {_DAY} AS day, count(*) AS answers, count(*) FILTER (WHERE m.not_covered) AS not_covered
    FROM messages m WHERE m.created_at >= {_SINCE} GROUP BY 1
)
SELECT days.day, coalesce(c.answers, 0), coalesce(c.not_covered, 0)
FROM days LEFT JOIN counts c ON c.day = days.day ORDER BY days.day
"""

THUMBS_SQL = f"""
SELECT m.generator, count(*) FILTER (WHERE f.vote = 1), count(*) FILTER (WHERE f.vote = -1)
FROM feedback f JOIN messages m ON m.id = f.message_id
WHERE f.created_at >= {_SINCE}
GROUP BY m.generator ORDER BY m.generator
"""

WIN_RATES_SQL = win_rates_sql(f"v.created_at >= {_SINCE}")

BLIND_VOTES_SQL = f"""
SELECT v.id, v.message_a, v.message_b, ma.generator, mb.generator, v.winner, ma.collection, ma.question, v.created_at
FROM ab_votes v JOIN messages ma ON ma.id = v.message_a JOIN messages mb ON mb.id = v.message_b
WHERE v.created_at >= {_SINCE} ORDER BY v.id
"""

SLOWEST_SQL = f"""
SELECT m.id, m.conversation_id, m.created_at, m.generator, m.question, m.seconds, m.first_token_seconds,
       m.not_covered
FROM messages m WHERE m.created_at >= {_SINCE}
ORDER BY m.seconds DESC, m.created_at DESC LIMIT %(limit)s
"""

WORST_RATED_SQL = f"""
WITH rated AS (
    SELECT {_QUESTION_KEY} AS key, m.id, m.conversation_id, m.question, m.generator, f.vote, f.created_at
    FROM feedback f JOIN messages m ON m.id = f.message_id
    WHERE f.created_at >= {_SINCE}
)
SELECT (array_agg(question ORDER BY created_at DESC, id) FILTER (WHERE vote = -1))[1],
       count(*) FILTER (WHERE vote = -1) AS down, count(*) FILTER (WHERE vote = 1) AS up,
       (array_agg(id ORDER BY created_at DESC, id) FILTER (WHERE vote = -1))[1],
       (array_agg(conversation_id ORDER BY created_at DESC, id) FILTER (WHERE vote = -1))[1],
       (array_agg(generator ORDER BY created_at DESC, id) FILTER (WHERE vote = -1))[1],
       max(created_at) FILTER (WHERE vote = -1) AS last_down
FROM rated GROUP BY key HAVING count(*) FILTER (WHERE vote = -1) > 0
ORDER BY down DESC, up, last_down DESC LIMIT %(limit)s
"""

TOTALS_SQL = f"""
SELECT (SELECT count(*) FROM messages m WHERE m.created_at >= {_SINCE}),
       (SELECT count(DISTINCT m.conversation_id) FROM messages m WHERE m.created_at >= {_SINCE}),
       (SELECT count(*) FROM messages m WHERE m.created_at >= {_SINCE} AND m.not_covered),
       (SELECT avg(m.seconds) FROM messages m WHERE m.created_at >= {_SINCE}),
       (SELECT count(*) FILTER (WHERE f.vote = 1) FROM feedback f WHERE f.created_at >= {_SINCE}),
       (SELECT count(*) FILTER (WHERE f.vote = -1) FROM feedback f WHERE f.created_at >= {_SINCE}),
       (SELECT count(*) FROM ab_votes v WHERE v.created_at >= {_SINCE})
"""

CONVERSATION_SQL = """
SELECT m.id, m.created_at, m.generator, m.collection, m.question, m.answer, m.sources, m.not_covered, m.seconds,
       (SELECT sign(sum(f.vote))::int FROM feedback f WHERE f.message_id = m.id) AS vote
FROM messages m
WHERE m.conversation_id = %s ORDER BY m.created_at, m.id
"""


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class DayCount:
    day: date
    generator: str
    answers: int


@dataclass(frozen=True)
class NotCoveredDay:
    day: date
    answers: int
    not_covered: int

    @property
    def rate(self) -> float | None:
        """Share of the day's answers that were 'not covered'; None on a day without answers."""
        return _share(self.not_covered, self.answers)


@dataclass(frozen=True)
class Thumbs:
    generator: str
    up: int
    down: int

    @property
    def votes(self) -> int:
        return self.up + self.down

    @property
    def up_share(self) -> float:
        return self.up / self.votes if self.votes else 0.0


@dataclass(frozen=True)
class SlowAnswer:
    message_id: uuid.UUID
    conversation_id: uuid.UUID
    created_at: datetime
    generator: str
    question: str
    seconds: float
    first_token_seconds: float | None
    not_covered: bool


@dataclass(frozen=True)
class BadQuestion:
    """A question (case and spacing ignored) with thumbs-down votes; ids are those of its latest downvoted answer."""

    question: str
    down: int
    up: int
    message_id: uuid.UUID
    conversation_id: uuid.UUID
    generator: str
    last_down_at: datetime


@dataclass(frozen=True)
class Totals:
    answers: int
    conversations: int
    not_covered: int
    mean_seconds: float | None
    thumbs_up: int
    thumbs_down: int
    blind_votes: int


class Monitor:
    """The admin Monitor tab's numbers; every method is one SQL query."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def _rows(self, sql: str, days: int, **params: Any) -> list[tuple]:
        days = min(max(int(days), 1), MAX_DAYS)
        with self.pool.connection() as conn:
            return conn.execute(sql, {"days": days, **params}).fetchall()

    def answers_per_day(self, days: int = 30) -> list[DayCount]:
        """Answers given per UTC day and generator; every day of the period for every generator seen (0s)."""
        return [DayCount(d, g, n) for d, g, n in self._rows(ANSWERS_PER_DAY_SQL, days)]

    def not_covered_per_day(self, days: int = 30) -> list[NotCoveredDay]:
        """Per UTC day: answers and how many were 'not covered' (no chunk close enough, messages.not_covered)."""
        return [NotCoveredDay(d, n, nc) for d, n, nc in self._rows(NOT_COVERED_PER_DAY_SQL, days)]

    def thumbs(self, days: int = 30) -> list[Thumbs]:
        """Thumbs up / down per generator of the rated answer, for votes cast in the period."""
        return [Thumbs(g, up, down) for g, up, down in self._rows(THUMBS_SQL, days)]

    def win_rates(self, days: int = 30, by: str | Grouping | None = None) -> list[WinRate]:
        """Blind-vote wins, losses and ties per (generator, opponent), for votes cast in the period; split by
        `by` (`"collection"`, or a callable mapping a `BlindVote` to its topic) when given."""
        if by is None:
            return [WinRate(*row) for row in self._rows(WIN_RATES_SQL, days)]
        return grouped_win_rates(self.blind_votes(days), by)

    def blind_votes(self, days: int = 30) -> list[BlindVote]:
        """Every blind vote cast in the period, oldest first, with the generators, collection and question."""
        return [BlindVote(*row) for row in self._rows(BLIND_VOTES_SQL, days)]

    def slowest(self, days: int = 30, limit: int = 20) -> list[SlowAnswer]:
        """The answers that took longest (stored seconds, question to last token), slowest first."""
        return [SlowAnswer(*row) for row in self._rows(SLOWEST_SQL, days, limit=limit)]

    def worst_rated(self, days: int = 30, limit: int = 20) -> list[BadQuestion]:
        """Questions by thumbs-down votes cast in the period (most first, then fewest thumbs up)."""
        return [BadQuestion(*row) for row in self._rows(WORST_RATED_SQL, days, limit=limit)]

    def totals(self, days: int = 30) -> Totals:
        return Totals(*self._rows(TOTALS_SQL, days)[0])

    def conversation(self, conversation_id: uuid.UUID) -> list[dict[str, Any]]:
        """Every message of a conversation, oldest first, with its stored sources and thumbs vote."""
        with self.pool.connection() as conn:
            cur = conn.execute(CONVERSATION_SQL, (conversation_id,))
            names = [c.name for c in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
