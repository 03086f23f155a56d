"""Answers in flight per client, counted in Postgres across replicas: one client may not hold more than
`RAGBOT_MAX_ANSWERS_PER_CLIENT` answers at once (issue 29, item 5), keyed like the rate limiter (the client
address). A replica that dies leaves its rows behind; the heartbeat's housekeeping removes them."""

from __future__ import annotations

from collections.abc import Callable

from psycopg_pool import ConnectionPool

from chatbot.gate import Busy

_LOCK = "SELECT pg_advisory_xact_lock(7310015, hashtext(%s))"  # one admission at a time per client
_ADMIT = """
INSERT INTO answers_in_flight (client, replica)
SELECT %(client)s, %(replica)s WHERE (SELECT count(*) FROM answers_in_flight WHERE client = %(client)s) < %(cap)s
RETURNING id
"""


class TooManyInFlight(Busy):
    """This client already has its share of answers running."""


class AnswersInFlight:
    """Admission of one client's answers; `cap` 0 admits everything without a query."""

    def __init__(self, pool: ConnectionPool, replica: str, cap: int) -> None:
        self.pool, self.replica, self.cap = pool, replica, cap

    def enter(self, client: str | None) -> Callable[[], None]:
        """Take one of `client`'s slots and return what gives it back; `TooManyInFlight` when none is free. No
        client (the CLI) or no cap: nothing is counted."""
        if client is None or self.cap <= 0:
            return lambda: None
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(_LOCK, (client,))
            row = conn.execute(_ADMIT, {"client": client, "replica": self.replica, "cap": self.cap}).fetchone()
        if row is None:
            raise TooManyInFlight(f"too many answers in flight from this client: at most {self.cap} at once; "
                                  "retry when one has finished")

        def leave() -> None:
            with self.pool.connection() as conn:
                conn.execute("DELETE FROM answers_in_flight WHERE id = %s", (row[0],))

        return leave
