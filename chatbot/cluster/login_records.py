"""Failed admin logins in Postgres, per client address and per user name, for the login throttle of every
replica (`chatbot.login_throttle`)."""

from __future__ import annotations

from psycopg_pool import ConnectionPool

from chatbot.login_throttle import Failures

_READ = """
SELECT kind, failures, extract(epoch FROM clock_timestamp() - last_failure)::float8 FROM login_failures
WHERE ((kind = 'client' AND key = %(client)s) OR (kind = 'user' AND key = %(user)s))
  AND last_failure > clock_timestamp() - make_interval(secs => %(forget)s)
"""
# A record older than `forget` starts again from one failure.
_FAIL = """
INSERT INTO login_failures AS f (kind, key, failures, last_failure)
VALUES ('client', %(client)s, 1, clock_timestamp()), ('user', %(user)s, 1, clock_timestamp())
ON CONFLICT (kind, key) DO UPDATE SET
    failures = CASE WHEN f.last_failure > clock_timestamp() - make_interval(secs => %(forget)s)
                    THEN f.failures + 1 ELSE 1 END,
    last_failure = clock_timestamp()
"""


class SharedLoginRecords:
    """`login_throttle.LoginRecords` in the `login_failures` table."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def read(self, client: str, user: str, forget_after_s: float) -> tuple[Failures | None, Failures | None]:
        """The client's and the user name's failures within `forget_after_s` seconds (None: none)."""
        with self.pool.connection() as conn:
            rows = conn.execute(_READ, {"client": client, "user": user, "forget": forget_after_s}).fetchall()
        found = {kind: Failures(count, age) for kind, count, age in rows}
        return found.get("client"), found.get("user")

    def add_failure(self, client: str, user: str, forget_after_s: float) -> None:
        with self.pool.connection() as conn:
            conn.execute(_FAIL, {"client": client, "user": user, "forget": forget_after_s})

    def clear_client(self, client: str) -> None:
        with self.pool.connection() as conn:
            conn.execute("DELETE FROM login_failures WHERE kind = 'client' AND key = %s", (client,))

    def forget_older_than(self, seconds: float) -> None:
        with self.pool.connection() as conn:
            conn.execute("DELETE FROM login_failures WHERE last_failure < now() - make_interval(secs => %s)",
                         (seconds,))
