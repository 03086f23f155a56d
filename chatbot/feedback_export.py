"""Votes feed training: thumbs-up answers and blind-vote winners → question/answer pairs for `ragbot train`."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from psycopg_pool import ConnectionPool

# Every positive signal for a message: a thumbs up, or winning a blind comparison.
_VOTES_SQL = """
SELECT m.id, m.conversation_id, m.question, m.answer, m.sources, m.created_at
FROM messages m JOIN feedback f ON f.message_id = m.id
WHERE f.vote = 1 AND NOT m.not_covered AND (%(since)s::timestamptz IS NULL OR f.created_at >= %(since)s)
UNION ALL
SELECT m.id, m.conversation_id, m.question, m.answer, m.sources, m.created_at
FROM ab_votes v JOIN messages m ON m.id = CASE v.winner WHEN 'a' THEN v.message_a ELSE v.message_b END
WHERE v.winner IN ('a', 'b') AND NOT m.not_covered AND (%(since)s::timestamptz IS NULL OR v.created_at >= %(since)s)
"""


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def voted_pairs(pool: ConnectionPool, since: datetime | None = None, min_votes: int = 1) -> list[dict[str, Any]]:
    """De-duplicated (question, answer) pairs with at least `min_votes` positive votes, most voted first."""
    with pool.connection() as conn:
        rows = conn.execute(_VOTES_SQL, {"since": since}).fetchall()
    pairs: dict[tuple[str, str], dict[str, Any]] = {}
    for _message_id, conversation_id, question, answer, sources, _created in rows:
        key = (_key(question), _key(answer))
        entry = pairs.setdefault(key, {
            "question": question.strip(), "answer": answer.strip(),
            "source": sources[0]["source"] if sources else None,
            "conversation_id": str(conversation_id), "votes": 0, "split": "train",
        })
        entry["votes"] += 1
    kept = [p for p in pairs.values() if p["votes"] >= min_votes]
    return sorted(kept, key=lambda p: (-p["votes"], p["question"]))


def export_feedback(pool: ConnectionPool, out: Path, since: datetime | None = None, min_votes: int = 1) -> int:
    """Write the pairs as JSONL (the format `ragbot train --qa` reads); returns how many."""
    pairs = voted_pairs(pool, since, min_votes)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs), encoding="utf-8")
    return len(pairs)
