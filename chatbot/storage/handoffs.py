"""Handoffs to a person (sql/016), persisted in Postgres: created open, delivered once to the support desk's
webhook, answered by an agent, and the agent's answer reviewed before it joins the QA data."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from psycopg.rows import class_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

Status = Literal["open", "delivered", "answered"]
Review = Literal["pending", "approved", "rejected"]
STATUSES: tuple[str, ...] = ("open", "delivered", "answered")
REVIEWS: tuple[str, ...] = ("pending", "approved", "rejected")

_COLUMNS = ("id, conversation_id, message_id, collection, question, conversation, sources, contact, reason, status,"
            " attempts, last_error, delivered_at, answer, answered_by, answered_at, review, created_at")


@dataclass
class Handoff:
    id: uuid.UUID
    conversation_id: uuid.UUID | None
    message_id: uuid.UUID | None
    collection: str
    question: str
    conversation: list[dict[str, Any]] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    contact: str = ""
    reason: str = "asked"
    status: str = "open"
    attempts: int = 0
    last_error: str = ""
    delivered_at: datetime | None = None
    answer: str = ""
    answered_by: str = ""
    answered_at: datetime | None = None
    review: str = "pending"
    created_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-able: ids as strings, times in ISO 8601."""
        return {k: (v.isoformat() if isinstance(v, datetime) else str(v) if isinstance(v, uuid.UUID) else v)
                for k, v in asdict(self).items()}


@dataclass(frozen=True)
class NewHandoff:
    """What a handoff is created with."""

    question: str
    collection: str
    conversation_id: uuid.UUID | None = None
    message_id: uuid.UUID | None = None
    conversation: list[dict[str, Any]] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    contact: str = ""
    reason: str = "asked"


class DeliveryFailed(RuntimeError):
    """One delivery attempt failed; the message says why (kept as the handoff's `last_error`)."""


class HandoffStore:
    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def create(self, new: NewHandoff) -> Handoff:
        with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(Handoff))
            created = cur.execute(
                "INSERT INTO handoffs (conversation_id, message_id, collection, question, conversation, sources,"
                f" contact, reason) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
                (new.conversation_id, new.message_id, new.collection, new.question, Jsonb(new.conversation),
                 Jsonb(new.sources), new.contact, new.reason)).fetchone()
            assert created is not None  # INSERT … RETURNING gives its row
            return created

    def get(self, handoff_id: uuid.UUID) -> Handoff | None:
        with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(Handoff))
            return cur.execute(f"SELECT {_COLUMNS} FROM handoffs WHERE id = %s", (handoff_id,)).fetchone()

    def recent(self, status: str | None = None, review: str | None = None, limit: int = 200) -> list[Handoff]:
        """Newest first, optionally only those in `status` / with `review`."""
        with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(Handoff))
            return cur.execute(
                f"SELECT {_COLUMNS} FROM handoffs WHERE (%(status)s::text IS NULL OR status = %(status)s)"
                " AND (%(review)s::text IS NULL OR review = %(review)s) ORDER BY created_at DESC LIMIT %(limit)s",
                {"status": status, "review": review, "limit": limit}).fetchall()

    def open_ids(self) -> list[uuid.UUID]:
        """Handoffs not delivered yet, oldest first."""
        with self.pool.connection() as conn:
            rows = conn.execute("SELECT id FROM handoffs WHERE status = 'open' ORDER BY created_at").fetchall()
        return [row[0] for row in rows]

    def deliver(self, handoff_id: uuid.UUID, send: Callable[[Handoff], None]) -> Handoff | None:
        """Call `send` with the handoff, locked while it runs, if it is still open; mark it delivered in the same
        transaction when `send` returns, or count the attempt and keep `DeliveryFailed`'s reason when it raises
        that. None when the handoff is not open (delivered, answered, unknown) or another delivery holds it: a
        handoff is delivered once."""
        with self.pool.connection() as conn, conn.transaction():
            cur = conn.cursor(row_factory=class_row(Handoff))
            handoff = cur.execute(f"SELECT {_COLUMNS} FROM handoffs WHERE id = %s AND status = 'open'"
                                  " FOR UPDATE SKIP LOCKED", (handoff_id,)).fetchone()
            if handoff is None:
                return None
            try:
                send(handoff)
            except DeliveryFailed as exc:
                update: tuple[str, tuple[str, ...]] = ("attempts = attempts + 1, last_error = %s", (str(exc)[:2000],))
            else:
                update = ("attempts = attempts + 1, last_error = '', status = 'delivered', delivered_at = now()", ())
            return cur.execute(f"UPDATE handoffs SET {update[0]} WHERE id = %s RETURNING {_COLUMNS}",
                               (*update[1], handoff_id)).fetchone()

    def answer(self, handoff_id: uuid.UUID, text: str, by: str) -> Handoff | None:
        """Record an agent's answer (replacing an earlier one, which sends it back to review); None if unknown."""
        with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(Handoff))
            return cur.execute(
                "UPDATE handoffs SET answer = %s, answered_by = %s, answered_at = now(), status = 'answered',"
                f" review = 'pending' WHERE id = %s RETURNING {_COLUMNS}", (text, by, handoff_id)).fetchone()

    def set_review(self, handoff_id: uuid.UUID, review: Review) -> Handoff | None:
        """Approve or reject an answered handoff's pair; None when it is unknown or has no answer yet."""
        with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(Handoff))
            return cur.execute(f"UPDATE handoffs SET review = %s WHERE id = %s AND status = 'answered'"
                               f" RETURNING {_COLUMNS}", (review, handoff_id)).fetchone()

    def approved_pairs(self, since: datetime | None = None) -> list[dict[str, Any]]:
        """The answered and approved handoffs as QA pairs (origin `handoff`), oldest first."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT id, conversation_id, question, answer, sources FROM handoffs WHERE status = 'answered'"
                " AND review = 'approved' AND answer <> '' AND (%s::timestamptz IS NULL OR answered_at >= %s)"
                " ORDER BY answered_at", (since, since)).fetchall()
        return [{"question": question.strip(), "answer": answer.strip(),
                 "source": sources[0]["source"] if sources else None,
                 "conversation_id": str(conversation_id) if conversation_id else None,
                 "handoff_id": str(handoff_id), "origin": "handoff", "votes": 0, "votes_down": 0, "split": "train"}
                for handoff_id, conversation_id, question, answer, sources in rows]


@dataclass(frozen=True)
class Seen:
    """What a conversation's user saw: its turns, and its last answer (id, sources, whether it abstained)."""

    turns: list[dict[str, Any]]
    last_message: uuid.UUID | None = None
    last_sources: list[dict[str, Any]] = field(default_factory=list)
    abstained: bool = False
    collection: str | None = None


def seen_in(pool: ConnectionPool, conversation_id: uuid.UUID, limit: int = 50) -> Seen:
    """The newest `limit` turns of a conversation, oldest first, with its last answer's details."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT id, question, answer, sources, not_covered, collection FROM messages WHERE conversation_id = %s"
            " ORDER BY created_at DESC LIMIT %s", (conversation_id, limit)).fetchall()
    if not rows:
        return Seen([])
    last_id, _, _, sources, not_covered, collection = rows[0]
    turns = [{"question": q, "answer": a} for _, q, a, _, _, _ in reversed(rows)]
    return Seen(turns, last_id, sources or [], bool(not_covered), collection)
