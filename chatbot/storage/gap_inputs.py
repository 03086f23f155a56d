"""What the gaps are found in (read-only): answers voted down, answers the bot abstained on ('not covered') and
handoffs to a person, over a period of `days` whole UTC days ending today (as the Monitor counts them).

One row per distinct question of a collection (case and spacing ignored, its latest wording shown). Its
occurrences count answers and handoffs once each: an answer voted down by two clients, abstained on and then handed
off is one occurrence with three reasons."""

from __future__ import annotations

from psycopg_pool import ConnectionPool

from chatbot.gaps import GapQuestion
from chatbot.storage.monitoring import _SINCE, MAX_DAYS

DEFAULT_LIMIT = 300

GAP_QUESTIONS_SQL = f"""
WITH events AS (
    SELECT m.id::text AS event, m.collection, m.question, f.created_at AS at, 'thumbs_down' AS reason
    FROM feedback f JOIN messages m ON m.id = f.message_id
    WHERE f.vote = -1 AND f.created_at >= {_SINCE}
    UNION ALL
    SELECT m.id::text, m.collection, m.question, m.created_at, 'not_covered'
    FROM messages m WHERE m.not_covered AND m.created_at >= {_SINCE}
    UNION ALL
    SELECT coalesce(h.message_id::text, h.id::text), h.collection, h.question, h.created_at, 'handoff'
    FROM handoffs h WHERE h.created_at >= {_SINCE}
),
keyed AS (
    SELECT e.*, lower(regexp_replace(btrim(e.question), '\\s+', ' ', 'g')) AS key FROM events e
    WHERE (%(collection)s::text IS NULL OR e.collection = %(collection)s::text) AND btrim(e.question) <> ''
)
SELECT collection, (array_agg(btrim(question) ORDER BY at DESC, event))[1], count(DISTINCT event), max(at),
       array_agg(DISTINCT reason ORDER BY reason)
FROM keyed GROUP BY collection, key
ORDER BY max(at) DESC, collection, key LIMIT %(limit)s
"""


def gap_questions(pool: ConnectionPool, days: int = 30, collection: str | None = None,
                  limit: int = DEFAULT_LIMIT) -> list[GapQuestion]:
    """The distinct questions voted down, abstained on or handed off in the period (of `collection`, or of every
    collection), the most recently seen first, at most `limit`."""
    params = {"days": min(max(int(days), 1), MAX_DAYS), "collection": collection, "limit": max(int(limit), 1)}
    with pool.connection() as conn:
        rows = conn.execute(GAP_QUESTIONS_SQL, params).fetchall()
    return [GapQuestion(c, q, n, at, tuple(reasons)) for c, q, n, at, reasons in rows]
