"""Conversations, their messages, thumbs votes and blind A/B votes, persisted in Postgres.

A conversation belongs to whoever holds its token (only its sha256 is stored); a vote belongs to a client (a
hashed per-browser or per-API-client id): one vote per message per client, a re-vote replaces it."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from chatbot.ab_stats import VoteVerdict, judge
from chatbot.chain import Answer, Turn


@dataclass(frozen=True)
class WinRate:
    generator: str
    opponent: str
    wins: int
    losses: int
    ties: int
    group: str = ""  # the collection or topic the votes were split by; "" when not split

    @property
    def votes(self) -> int:
        return self.wins + self.losses + self.ties

    @property
    def win_rate(self) -> float:
        """Wins over all votes, a tie counting half."""
        return (self.wins + 0.5 * self.ties) / self.votes if self.votes else 0.0

    @property
    def judged(self) -> VoteVerdict:
        """The 95 % Wilson interval, the further votes needed and the verdict (`chatbot.ab_stats.judge`)."""
        return judge(self.wins, self.losses, self.ties)


def win_rates_sql(where: str = "TRUE") -> str:
    """Wins, losses and ties per (generator, opponent) over the blind votes `v` that match `where`: the one count
    behind every win rate. Each vote counts for both sides (once when a generator met itself)."""
    return f"""
WITH v AS (
    SELECT ma.generator AS gen_a, mb.generator AS gen_b, v.winner
    FROM ab_votes v JOIN messages ma ON ma.id = v.message_a JOIN messages mb ON mb.id = v.message_b
    WHERE {where}
),
sides AS (
    SELECT gen_a AS generator, gen_b AS opponent,
           CASE winner WHEN 'a' THEN 'win' WHEN 'b' THEN 'loss' ELSE 'tie' END AS outcome FROM v
    UNION ALL
    SELECT gen_b, gen_a, CASE winner WHEN 'b' THEN 'win' WHEN 'a' THEN 'loss' ELSE 'tie' END
    FROM v WHERE gen_a <> gen_b
)
SELECT generator, opponent, count(*) FILTER (WHERE outcome = 'win'), count(*) FILTER (WHERE outcome = 'loss'),
       count(*) FILTER (WHERE outcome = 'tie')
FROM sides GROUP BY generator, opponent ORDER BY generator, opponent
"""


LEGACY_CLIENT = "legacy"  # votes stored without a client (before sql/008, or by maintenance scripts)


def client_key(kind: str, value: str) -> str:
    """A voter's stored identity: a hash of `kind:value` (e.g. `address:10.0.0.7`, `browser:<random id>`)."""
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()[:32]


def new_token() -> str:
    """A conversation's secret: whoever holds it may continue the conversation."""
    return secrets.token_urlsafe(24)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class ConversationStore:
    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def create(self, title: str = "", token: str | None = None) -> uuid.UUID:
        """A new conversation; with a `token`, only its holder may continue it (`owns`)."""
        with self.pool.connection() as conn:
            row = conn.execute("INSERT INTO conversations (title, token_sha256) VALUES (%s, %s) RETURNING id",
                               (title[:200], _digest(token) if token else None)).fetchone()
        return row[0]

    def exists(self, conversation_id: uuid.UUID) -> bool:
        with self.pool.connection() as conn:
            return conn.execute("SELECT 1 FROM conversations WHERE id = %s", (conversation_id,)).fetchone() is not None

    def owns(self, conversation_id: uuid.UUID, token: str | None) -> bool:
        """Whether `token` is the conversation's (False for an unknown id, a tokenless conversation, no token)."""
        with self.pool.connection() as conn:
            row = conn.execute("SELECT token_sha256 FROM conversations WHERE id = %s", (conversation_id,)).fetchone()
        return bool(token and row and row[0] is not None and hmac.compare_digest(bytes(row[0]), _digest(token)))

    def add_message(self, conversation_id: uuid.UUID, answer: Answer, collection: str) -> uuid.UUID:
        top = max((d.metadata.get("similarity", 0.0) for d in answer.retrieved), default=None)
        with self.pool.connection() as conn:
            return conn.execute(
                "INSERT INTO messages (conversation_id, question, answer, generator, collection, search_query,"
                " sources, not_covered, top_similarity, seconds, first_token_seconds)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (conversation_id, answer.question, answer.text, answer.generator, collection, answer.search_query,
                 Jsonb(answer.sources_json()), answer.not_covered, top, answer.seconds, answer.first_token_seconds),
            ).fetchone()[0]

    def history(self, conversation_id: uuid.UUID, limit: int = 10) -> list[Turn]:
        """The last turns, oldest first."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT question, answer FROM messages WHERE conversation_id = %s"
                " ORDER BY created_at DESC LIMIT %s", (conversation_id, limit)).fetchall()
        return [(q, a) for q, a in reversed(rows)]

    def message(self, message_id: uuid.UUID) -> dict[str, Any] | None:
        with self.pool.connection() as conn:
            cur = conn.execute(
                "SELECT m.id, m.conversation_id, m.question, m.answer, m.generator, m.sources, m.not_covered,"
                " m.created_at, (SELECT sign(sum(f.vote))::int FROM feedback f WHERE f.message_id = m.id) AS vote,"
                " (SELECT count(*) FROM feedback f WHERE f.message_id = m.id AND f.vote = 1) AS votes_up,"
                " (SELECT count(*) FROM feedback f WHERE f.message_id = m.id AND f.vote = -1) AS votes_down"
                " FROM messages m WHERE m.id = %s", (message_id,))
            row = cur.fetchone()
            return dict(zip([c.name for c in cur.description], row, strict=True)) if row else None

    def record_feedback(self, message_id: uuid.UUID, vote: int, client: str = LEGACY_CLIENT) -> bool:
        """Store the client's thumbs vote, replacing its earlier one; False when the message does not exist."""
        with self.pool.connection() as conn:
            return conn.execute(
                "INSERT INTO feedback (message_id, vote, client) SELECT id, %s, %s FROM messages WHERE id = %s"
                " ON CONFLICT (message_id, client) DO UPDATE SET vote = EXCLUDED.vote, created_at = now()",
                (vote, client, message_id)).rowcount > 0

    def record_ab_vote(self, message_a: uuid.UUID, message_b: uuid.UUID, winner: str,
                       client: str = LEGACY_CLIENT) -> int:
        """Store the client's blind vote on a pair of answers, replacing its earlier one; returns its id."""
        with self.pool.connection() as conn:
            return conn.execute(
                "INSERT INTO ab_votes (message_a, message_b, winner, client) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (message_a, message_b, client) DO UPDATE SET winner = EXCLUDED.winner,"
                " created_at = now() RETURNING id", (message_a, message_b, winner, client)).fetchone()[0]

    def win_rates(self) -> list[WinRate]:
        """Per (generator, opponent) pair, from every stored blind vote, both directions."""
        with self.pool.connection() as conn:
            rows = conn.execute(win_rates_sql()).fetchall()
        return [WinRate(*row) for row in sorted(rows)]
