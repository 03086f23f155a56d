"""Token buckets in Postgres: one row per (route group, client), refilled and taken in one atomic statement, so
a limit of N a minute holds across every replica."""

from __future__ import annotations

from psycopg_pool import ConnectionPool

# Refill, then take `cost` if the bucket holds it; `allowed` records which. The row lock that ON CONFLICT takes
# serializes concurrent requests of one client, whichever replica they reach.
_AVAILABLE = "least(%(burst)s, b.tokens + extract(epoch FROM clock_timestamp() - b.updated) * %(rate)s)"
_TAKE = f"""
INSERT INTO rate_buckets AS b (route, client, tokens, allowed, updated)
VALUES (%(route)s, %(client)s, %(burst)s - %(cost)s, true, clock_timestamp())
ON CONFLICT (route, client) DO UPDATE SET
    tokens = CASE WHEN {_AVAILABLE} >= %(cost)s THEN {_AVAILABLE} - %(cost)s ELSE {_AVAILABLE} END,
    allowed = {_AVAILABLE} >= %(cost)s,
    updated = clock_timestamp()
RETURNING b.tokens, b.allowed
"""
_FORGET = "DELETE FROM rate_buckets WHERE updated < now() - make_interval(secs => %s)"
# Seconds a check waits for a connection: far over a healthy pool's milliseconds, far under the pool's own timeout
# (10 s), so that while the database is down a request is not held twice as long before its own 503.
TAKE_TIMEOUT_S = 2.0


class SharedTokenBuckets:
    """Buckets of `burst` tokens refilled at `per_minute` a minute, keyed by (route group, client)."""

    def __init__(self, pool: ConnectionPool, per_minute: float, burst: float) -> None:
        self.pool = pool
        self.rate = per_minute / 60.0
        self.burst = burst

    def take(self, key: tuple[str, str], cost: float = 1.0) -> float:
        """Take `cost` tokens: 0.0 when allowed, else the seconds until they would be there (nothing taken)."""
        route, client = key
        params = {"route": route, "client": client, "burst": float(self.burst), "cost": float(cost),
                  "rate": float(self.rate)}
        with self.pool.connection(timeout=TAKE_TIMEOUT_S) as conn:
            tokens, allowed = conn.execute(_TAKE, params).fetchone()
        return 0.0 if allowed else (cost - tokens) / self.rate


def forget_idle_buckets(pool: ConnectionPool, idle_s: float) -> None:
    """Drop buckets untouched for `idle_s` seconds (full again by then at any usual rate)."""
    with pool.connection() as conn:
        conn.execute(_FORGET, (idle_s,))
