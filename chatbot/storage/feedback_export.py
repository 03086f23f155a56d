"""Votes feed training: thumbs-up answers and blind-vote winners → question/answer pairs for `ragbot train`,
written to a file the admin reviews (and may edit) before training on it explicitly. Agents' answers to handoffs,
once approved in Admin → Handoffs, join them (`origin`: `vote` or `handoff`)."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from psycopg_pool import ConnectionPool

from chatbot.storage.handoffs import HandoffStore

# Every vote on a message, with its client: thumbs up (1) or down (-1), and winning a blind comparison (1).
_VOTES_SQL = """
SELECT m.conversation_id, m.question, m.answer, m.sources, f.client, f.vote
FROM messages m JOIN feedback f ON f.message_id = m.id
WHERE NOT m.not_covered AND (%(since)s::timestamptz IS NULL OR f.created_at >= %(since)s)
UNION ALL
SELECT m.conversation_id, m.question, m.answer, m.sources, v.client, 1
FROM ab_votes v JOIN messages m ON m.id = CASE v.winner WHEN 'a' THEN v.message_a ELSE v.message_b END
WHERE v.winner IN ('a', 'b') AND NOT m.not_covered AND (%(since)s::timestamptz IS NULL OR v.created_at >= %(since)s)
"""


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def voted_pairs(pool: ConnectionPool, since: datetime | None = None, min_votes: int = 1) -> list[dict[str, Any]]:
    """De-duplicated (question, answer) pairs that at least `min_votes` distinct clients voted for (a thumbs up
    or a blind win; a client's repeated votes, on one message or on the same answer asked again, count once)
    and fewer clients voted against; most voted first. `votes` / `votes_down`: those client counts."""
    with pool.connection() as conn:
        rows = conn.execute(_VOTES_SQL, {"since": since}).fetchall()
    pairs: dict[tuple[str, str], dict[str, Any]] = {}
    clients: dict[tuple[str, str], tuple[set[str], set[str]]] = {}
    for conversation_id, question, answer, sources, client, vote in rows:
        key = (_key(question), _key(answer))
        pairs.setdefault(key, {
            "question": question.strip(), "answer": answer.strip(),
            "source": sources[0]["source"] if sources else None,
            "conversation_id": str(conversation_id), "origin": "vote", "votes": 0, "votes_down": 0, "split": "train",
        })
        up, down = clients.setdefault(key, (set(), set()))
        (up if vote > 0 else down).add(client)
    for key, (up, down) in clients.items():
        pairs[key].update(votes=len(up), votes_down=len(down))
    kept = [p for p in pairs.values() if p["votes"] >= min_votes and p["votes"] > p["votes_down"]]
    return sorted(kept, key=lambda p: (-p["votes"], p["question"]))


def reviewed_pairs(pool: ConnectionPool, since: datetime | None = None, min_votes: int = 1
                   ) -> list[dict[str, Any]]:
    """The voted pairs (`voted_pairs`), then the approved handoff answers not already among them."""
    pairs = voted_pairs(pool, since, min_votes)
    seen = {(_key(p["question"]), _key(p["answer"])) for p in pairs}
    answered = HandoffStore(pool).approved_pairs(since)
    return pairs + [p for p in answered if (_key(p["question"]), _key(p["answer"])) not in seen]


def write_pairs(out: Path, pairs: list[dict[str, Any]]) -> None:
    """The pairs as JSONL (the format `ragbot train --qa` reads), readable by the owner only (users' questions)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # an existing file keeps its mode through O_CREAT
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs))


def export_feedback(pool: ConnectionPool, out: Path, since: datetime | None = None, min_votes: int = 1) -> int:
    """Write the reviewed pairs (votes and approved handoff answers) to `out`; returns how many."""
    pairs = reviewed_pairs(pool, since, min_votes)
    write_pairs(out, pairs)
    return len(pairs)
