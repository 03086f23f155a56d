"""Conversations, their messages, thumbs votes and blind A/B votes, persisted in Postgres."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from chatbot.chain import Answer, Turn


@dataclass(frozen=True)
class WinRate:
    generator: str
    opponent: str
    wins: int
    losses: int
    ties: int

    @property
    def votes(self) -> int:
        return self.wins + self.losses + self.ties

    @property
    def win_rate(self) -> float:
        """Wins over all votes, a tie counting half."""
        return (self.wins + 0.5 * self.ties) / self.votes if self.votes else 0.0


class ConversationStore:
    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def create(self, title: str = "") -> uuid.UUID:
        with self.pool.connection() as conn:
            row = conn.execute("INSERT INTO conversations (title) VALUES (%s) RETURNING id", (title[:200],)).fetchone()
        return row[0]

    def exists(self, conversation_id: uuid.UUID) -> bool:
        with self.pool.connection() as conn:
            return conn.execute("SELECT 1 FROM conversations WHERE id = %s", (conversation_id,)).fetchone() is not None

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
                " m.created_at, f.vote FROM messages m LEFT JOIN feedback f ON f.message_id = m.id WHERE m.id = %s",
                (message_id,))
            row = cur.fetchone()
            return dict(zip([c.name for c in cur.description], row, strict=True)) if row else None

    def record_feedback(self, message_id: uuid.UUID, vote: int) -> bool:
        """Store (or change) a thumbs vote; False when the message does not exist."""
        with self.pool.connection() as conn:
            return conn.execute(
                "INSERT INTO feedback (message_id, vote) SELECT id, %s FROM messages WHERE id = %s"
                " ON CONFLICT (message_id) DO UPDATE SET vote = EXCLUDED.vote, created_at = now()",
                (vote, message_id)).rowcount > 0

    def record_ab_vote(self, message_a: uuid.UUID, message_b: uuid.UUID, winner: str) -> int:
        with self.pool.connection() as conn:
            return conn.execute("INSERT INTO ab_votes (message_a, message_b, winner) VALUES (%s, %s, %s) RETURNING id",
                                (message_a, message_b, winner)).fetchone()[0]

    def win_rates(self) -> list[WinRate]:
        """Per (generator, opponent) pair, from every stored blind vote, both directions."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT ma.generator, mb.generator, v.winner FROM ab_votes v"
                " JOIN messages ma ON ma.id = v.message_a JOIN messages mb ON mb.id = v.message_b").fetchall()
        tally: dict[tuple[str, str], list[int]] = {}
        for gen_a, gen_b, winner in rows:
            sides = [(gen_a, gen_b, "a", "b")] + ([(gen_b, gen_a, "b", "a")] if gen_a != gen_b else [])
            for me, other, won, lost in sides:
                counts = tally.setdefault((me, other), [0, 0, 0])
                counts[0 if winner == won else 1 if winner == lost else 2] += 1
        return [WinRate(g, o, *c) for (g, o), c in sorted(tally.items())]
