"""Signed-in admin sessions in Postgres, with an idle and an absolute expiry (issue 29, item 10).

Gradio keeps its login sessions in the mounted app's `tokens` dict (token → user name), per process.
`SessionTokens` takes that dict's place with the few operations Gradio's routes use (`get`, `[]`, `[]=`, `in`,
`del`), so a session signed in on one replica is known to every replica. Tokens are stored by their sha256."""

from __future__ import annotations

import hashlib

from psycopg_pool import ConnectionPool

# Look a session up and extend its idle time in one statement; an expired one is not found.
_TOUCH = """
UPDATE admin_sessions SET seen_at = now()
WHERE token_sha256 = %(token)s AND seen_at > now() - make_interval(secs => %(idle)s)
  AND created_at > now() - make_interval(secs => %(max)s)
RETURNING user_name
"""
_FORGET = ("DELETE FROM admin_sessions WHERE seen_at < now() - make_interval(secs => %s)"
           " OR created_at < now() - make_interval(secs => %s)")


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class SessionTokens:
    """Gradio's `App.tokens`, shared: sessions end `idle_s` after their last request or `max_s` after login."""

    def __init__(self, pool: ConnectionPool, *, idle_s: float, max_s: float) -> None:
        self.pool, self.idle_s, self.max_s = pool, idle_s, max_s

    def get(self, token: str | None, default: str | None = None) -> str | None:
        """The user a live session's token names (extending its idle time), else `default`."""
        if not token:
            return default
        with self.pool.connection() as conn:
            row = conn.execute(_TOUCH, {"token": _digest(token), "idle": self.idle_s, "max": self.max_s}).fetchone()
        return row[0] if row else default

    def __getitem__(self, token: str) -> str:
        user = self.get(token)
        if user is None:
            raise KeyError("no such session")
        return user

    def __contains__(self, token: object) -> bool:
        return isinstance(token, str) and self.get(token) is not None

    def __setitem__(self, token: str, user: str) -> None:
        with self.pool.connection() as conn:
            conn.execute("INSERT INTO admin_sessions (token_sha256, user_name) VALUES (%s, %s)",
                         (_digest(token), user))

    def __delitem__(self, token: str) -> None:
        with self.pool.connection() as conn:
            conn.execute("DELETE FROM admin_sessions WHERE token_sha256 = %s", (_digest(token),))


def forget_ended_sessions(pool: ConnectionPool, idle_s: float, max_s: float) -> None:
    """Delete the sessions past either expiry."""
    with pool.connection() as conn:
        conn.execute(_FORGET, (idle_s, max_s))
