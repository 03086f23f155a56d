"""Jobs for the CLI, the API and the Admin UI alike: submit a task by name, list, show, cancel and wait."""

from __future__ import annotations

import getpass
import time
from collections.abc import Sequence
from functools import cached_property
from typing import Any, BinaryIO

from procrastinate import App, SyncPsycopgConnector
from psycopg_pool import ConnectionPool

from chatbot.queue.app import HOST, make_app
from chatbot.queue.records import JobRecord, JobRecords
from chatbot.queue.tasks import get_task


def cli_user() -> str:
    """Who queues a job from the command line: `cli:<user>@<host>`."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}@{HOST}"


class JobQueue:
    """Submits jobs (a row in `jobs`, then procrastinate's job) on the given pool; workers run them."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool
        self.records = JobRecords(pool)

    @cached_property
    def app(self) -> App:
        return make_app(SyncPsycopgConnector()).open(self.pool)

    def submit(self, kind: str, title: str, arguments: dict[str, Any], *, queued_by: str,
               dedupe_key: str | None = None, files: Sequence[tuple[str, bytes | BinaryIO]] = (),
               schedule_in: float | None = None) -> JobRecord:
        """Queue task `kind` with JSON `arguments` (`files` are stored with the job first), to run now or
        `schedule_in` seconds from now. Raises `JobRefused` while another job holds `dedupe_key`, ValueError for an
        unknown kind."""
        spec = get_task(kind)
        record = self.records.create(kind, title, arguments, queued_by, dedupe_key, files)
        try:
            when: dict[str, Any] = {"schedule_in": {"seconds": schedule_in}} if schedule_in else {}
            queue_job_id = self.app.configure_task(name=kind, queue=spec.queue, **when).defer(job=record.id)
        except Exception as exc:
            self.records.finish(record.id, "failed", error=f"could not queue it: {exc}")
            raise
        self.records.queued(record.id, queue_job_id)
        return self.records.get(record.id) or record

    def get(self, job_id: int) -> JobRecord | None:
        return self.records.get(job_id)

    def jobs(self, kind: str | None = None, limit: int = 200) -> list[JobRecord]:
        """Newest first."""
        return self.records.list(kind, limit)

    def cancel(self, job_id: int) -> JobRecord:
        """A queued job never starts; a running one is asked to stop (at its next progress report) and ends
        cancelled. LookupError for an unknown id; a job that has ended is returned unchanged."""
        record = self.records.get(job_id)
        if record is None:
            raise LookupError(f"no job {job_id}")
        if not record.active:
            return record
        self.records.request_cancel(job_id)
        manager = self.app.job_manager
        if record.queue_job_id is None or manager.cancel_job_by_id(record.queue_job_id):
            self.records.finish(job_id, "cancelled", message="cancelled before it started")
        else:
            manager.cancel_job_by_id(record.queue_job_id, abort=True)
        return self.records.get(job_id) or record

    def wait(self, job_id: int, timeout: float, interval: float = 0.2) -> JobRecord:
        """The job once it has ended, or as it is after `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            record = self.records.get(job_id)
            if record is None or not record.active or time.monotonic() >= deadline:
                return record
            time.sleep(interval)

    def close(self) -> None:
        if "app" in self.__dict__:
            self.app.close()
