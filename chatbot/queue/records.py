"""ragbot's record of each job (the `jobs` table, sql/013_jobs.sql): who queued it, its arguments, status,
progress, log tail, result or error and the worker that ran it. The queue itself is procrastinate's."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, BinaryIO, Literal

from psycopg.errors import UniqueViolation
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

Status = Literal["queued", "running", "succeeded", "failed", "cancelled"]
ACTIVE: tuple[Status, ...] = ("queued", "running")
LOG_LINES = 50  # lines of `log_tail` kept


def _append_log(line: str) -> str:
    """SQL that appends the text expression `line` to `log_tail`, keeping the newest `LOG_LINES`."""
    return f"log_tail = (log_tail || ({line})::text)[greatest(cardinality(log_tail) + 2 - {LOG_LINES}, 1):]"


class JobRefused(RuntimeError):
    """A job holding the same key (an adapter's training, a website's sync, ...) is queued or running."""


@dataclass
class JobRecord:
    id: int
    kind: str
    title: str
    arguments: dict[str, Any]
    queued_by: str
    dedupe_key: str | None
    status: Status
    queue_job_id: int | None
    done: int
    total: int
    fraction: float
    message: str
    log_tail: list[str]
    result: dict[str, Any] | None
    error: str | None
    cancel_requested: bool
    attempts: int
    host: str | None
    pid: int | None
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def elapsed(self) -> float:
        """Seconds it has run (0 before it starts)."""
        if self.started_at is None:
            return 0.0
        end = self.finished_at.timestamp() if self.finished_at else time.time()
        return max(end - self.started_at.timestamp(), 0.0)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("queued_at", "started_at", "finished_at", "updated_at"):
            out[key] = out[key].isoformat() if out[key] else None
        return out


class JobRecords:
    """Reads and writes `jobs` rows (and the `job_files` an ingest job reads)."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def create(self, kind: str, title: str, arguments: dict[str, Any], queued_by: str, dedupe_key: str | None,
               files: Sequence[tuple[str, bytes | BinaryIO]] = ()) -> JobRecord:
        """A queued row (and its files, in the same transaction); `JobRefused` naming the holder of `dedupe_key`.
        A file object is read when its row is written: one upload in memory at a time."""
        try:
            with self.pool.connection() as conn, conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
                row = cur.execute(
                    "INSERT INTO jobs (kind, title, arguments, queued_by, dedupe_key) VALUES (%s, %s, %s, %s, %s)"
                    " RETURNING *", (kind, title, Jsonb(arguments), queued_by, dedupe_key)).fetchone()
                for n, (name, data) in enumerate(files):
                    cur.execute("INSERT INTO job_files (job_id, position, name, data) VALUES (%s, %s, %s, %s)",
                                (row["id"], n, name, data if isinstance(data, bytes) else data.read()))
        except UniqueViolation:
            holder = self.holder(dedupe_key)
            named = f"'{holder.title}' (job {holder.id}, {holder.status}, queued by {holder.queued_by})" if holder \
                else "another job"
            raise JobRefused(f"{named} holds {dedupe_key} already: wait for it to end or cancel it") from None
        return JobRecord(**row)

    def holder(self, dedupe_key: str | None) -> JobRecord | None:
        return self._one("SELECT * FROM jobs WHERE dedupe_key = %s AND status IN ('queued', 'running')",
                         (dedupe_key,))

    def get(self, job_id: int) -> JobRecord | None:
        return self._one("SELECT * FROM jobs WHERE id = %s", (job_id,))

    def by_queue_job(self, queue_job_id: int) -> JobRecord | None:
        return self._one("SELECT * FROM jobs WHERE queue_job_id = %s", (queue_job_id,))

    def list(self, kind: str | None = None, limit: int = 200) -> list[JobRecord]:
        """Newest first."""
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute("SELECT * FROM jobs WHERE %(kind)s::text IS NULL OR kind = %(kind)s"
                               " ORDER BY id DESC LIMIT %(limit)s", {"kind": kind, "limit": limit}).fetchall()
        return [JobRecord(**row) for row in rows]

    def _one(self, sql: str, params: tuple) -> JobRecord | None:
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(sql, params).fetchone()
        return JobRecord(**row) if row else None

    def _update(self, job_id: int, sql: str, params: dict[str, Any]) -> bool:
        with self.pool.connection() as conn:
            cur = conn.execute(f"UPDATE jobs SET {sql}, updated_at = now() WHERE id = %(id)s", {**params, "id": job_id})
            return cur.rowcount == 1

    def queued(self, job_id: int, queue_job_id: int) -> None:
        self._update(job_id, "queue_job_id = %(q)s", {"q": queue_job_id})

    def start(self, job_id: int, host: str, pid: int) -> JobRecord | None:
        """Mark it running on this worker; None when it has ended or a cancel was requested (before it started)."""
        return self._one(
            "UPDATE jobs SET status = 'running', host = %s, pid = %s, attempts = attempts + 1, started_at = now(),"
            " error = NULL, message = 'starting', updated_at = now()"
            " WHERE id = %s AND status IN ('queued', 'running') AND NOT cancel_requested RETURNING *",
            (host, pid, job_id))

    def progress(self, job_id: int, fraction: float, message: str, done: int, total: int) -> bool:
        """Record progress and log the message; returns whether a cancel was requested."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "UPDATE jobs SET fraction = %(f)s, message = %(m)s, done = %(d)s, total = %(t)s,"
                f" {_append_log('%(m)s')}, updated_at = now() WHERE id = %(id)s RETURNING cancel_requested",
                {"f": fraction, "m": message, "d": done, "t": total, "id": job_id}).fetchone()
        return bool(row and row[0])

    def finish(self, job_id: int, status: Status, *, result: dict[str, Any] | None = None,
               error: str | None = None, message: str | None = None) -> None:
        """End it (only while it is still queued or running: a job ends once)."""
        with self.pool.connection() as conn:
            conn.execute(
                "UPDATE jobs SET status = %(s)s, result = %(r)s, error = %(e)s, finished_at = now(),"
                " updated_at = now(), message = coalesce(%(m)s, message),"
                " fraction = CASE WHEN %(s)s = 'succeeded' THEN 1 ELSE fraction END,"
                f" {_append_log('coalesce(%(e)s, %(m)s, %(s)s)')}"
                " WHERE id = %(id)s AND status IN ('queued', 'running')",
                {"s": status, "r": Jsonb(result) if result is not None else None, "e": error, "m": message,
                 "id": job_id})

    def requeue(self, job_id: int, reason: str) -> None:
        """Back to queued after its worker stopped (another worker retries it)."""
        self._update(job_id, f"status = 'queued', message = %(m)s, {_append_log('%(m)s')}", {"m": reason})

    def request_cancel(self, job_id: int) -> None:
        self._update(job_id, "cancel_requested = true, message = 'cancel requested'", {})

    def files(self, job_id: int) -> list[tuple[str, BinaryIO]]:
        """The job's files, each copied into a temporary file one row at a time (one upload in memory at once)."""
        spooled: list[tuple[str, BinaryIO]] = []
        with self.pool.connection() as conn:
            positions = conn.execute("SELECT position, name FROM job_files WHERE job_id = %s ORDER BY position",
                                     (job_id,)).fetchall()
            for position, name in positions:
                data = conn.execute("SELECT data FROM job_files WHERE job_id = %s AND position = %s",
                                    (job_id, position)).fetchone()[0]
                handle = tempfile.TemporaryFile()  # noqa: SIM115 — the caller closes it after the ingest
                handle.write(data)
                del data
                spooled.append((name, handle))
        return spooled

    def delete_files(self, job_id: int) -> None:
        with self.pool.connection() as conn:
            conn.execute("DELETE FROM job_files WHERE job_id = %s", (job_id,))
