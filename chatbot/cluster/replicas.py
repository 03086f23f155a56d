"""Replicas alive: each `ragbot serve` refreshes its row in `replicas` every `BEAT_S` seconds from a daemon
thread, and each beat also clears what expired in the shared tables (idle rate buckets, old failed logins,
ended admin sessions, the answers in flight of replicas that stopped beating)."""

from __future__ import annotations

import logging
import os
import socket
import threading

import psycopg
from psycopg_pool import ConnectionPool

from chatbot.cluster.admin_sessions import forget_ended_sessions
from chatbot.cluster.login_records import SharedLoginRecords
from chatbot.cluster.rate_buckets import forget_idle_buckets
from chatbot.login_throttle import FORGET_AFTER_S
from chatbot.settings import Settings

log = logging.getLogger(__name__)

BEAT_S = 5.0
ALIVE_S = 20.0  # a replica whose last beat is older is gone
BUCKET_IDLE_S = 3600.0

_BEAT = """
INSERT INTO replicas (name, host, pid) VALUES (%s, %s, %s)
ON CONFLICT (name) DO UPDATE SET seen_at = now(), host = excluded.host, pid = excluded.pid
"""
_ALIVE = "SELECT name FROM replicas WHERE seen_at > now() - make_interval(secs => %s) AND name <> %s ORDER BY name"
_GONE = ("DELETE FROM answers_in_flight f USING replicas r"
         " WHERE f.replica = r.name AND r.seen_at < now() - make_interval(secs => %s)")


def replica_name(settings: Settings) -> str:
    """`RAGBOT_REPLICA_NAME`, else host-pid: unique per serving process."""
    return settings.replica_name or f"{socket.gethostname()}-{os.getpid()}"


def beat(conn: psycopg.Connection, name: str) -> None:
    """Record that replica `name` is alive now."""
    conn.execute(_BEAT, (name, socket.gethostname(), os.getpid()))


def other_replicas_alive(conn: psycopg.Connection, name: str) -> list[str]:
    """Names of the replicas other than `name` that beat within `ALIVE_S`."""
    return [row[0] for row in conn.execute(_ALIVE, (ALIVE_S, name))]


def housekeeping(pool: ConnectionPool, settings: Settings) -> None:
    """Delete what expired in the shared tables."""
    forget_idle_buckets(pool, BUCKET_IDLE_S)
    forget_ended_sessions(pool, settings.admin_session_idle_minutes * 60, settings.admin_session_max_hours * 3600)
    SharedLoginRecords(pool).forget_older_than(max(FORGET_AFTER_S, settings.login_lockout_max_s))
    with pool.connection() as conn:
        conn.execute(_GONE, (ALIVE_S,))
        conn.execute("DELETE FROM replicas WHERE seen_at < now() - interval '1 day'")


class Heartbeat:
    """The daemon thread that keeps this replica's row fresh; `stop` removes the row."""

    def __init__(self, pool: ConnectionPool, settings: Settings, name: str) -> None:
        self.pool, self.settings, self.name = pool, settings, name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ragbot-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(BEAT_S):
            try:
                with self.pool.connection() as conn:
                    beat(conn, self.name)
                housekeeping(self.pool, self.settings)
            except Exception as exc:  # the database may be down for a while; the next beat tries again
                log.warning("heartbeat failed: %s", exc)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(BEAT_S + 5)
        try:
            with self.pool.connection(timeout=5) as conn:
                conn.execute("DELETE FROM replicas WHERE name = %s", (self.name,))
        except Exception as exc:  # stopping must not fail on a database that is already gone
            log.warning("could not remove replica %s: %s", self.name, exc)
