"""Background jobs started from the admin UI (training an adapter, running an evaluation).

One job runs at a time (each one saturates the CPU); others wait in order, at most one of each kind (a second
is refused with `JobQueueFull`, so the queue stays bounded). A job is a function that takes a
`Progress` and returns a JSON-able result; its state is kept in memory for the UI to poll, and its outputs
(adapters, reports) go to `RAGBOT_HOME` like the CLI's, so they outlive the process.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

log = logging.getLogger(__name__)

Status = Literal["queued", "running", "done", "failed"]


class JobQueueFull(RuntimeError):
    """A job of this kind is already waiting; the message says which."""


@dataclass
class Job:
    id: int
    kind: str
    title: str
    status: Status = "queued"
    fraction: float = 0.0
    message: str = "waiting for the job before it"
    result: dict[str, Any] | None = None
    error: str | None = None
    submitted_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def active(self) -> bool:
        return self.status in ("queued", "running")

    def elapsed(self) -> float:
        if self.started_at is None:
            return 0.0
        return (self.finished_at or time.time()) - self.started_at


class Progress:
    """What a running job reports: a fraction in [0, 1] and a one-line message."""

    def __init__(self, job: Job) -> None:
        self._job = job

    def __call__(self, fraction: float | None = None, message: str | None = None) -> None:
        if fraction is not None:
            self._job.fraction = min(max(float(fraction), 0.0), 1.0)
        if message is not None:
            self._job.message = message


JobFunction = Callable[[Progress], dict[str, Any]]


class JobRunner:
    """Runs submitted jobs one after another on a single worker thread."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ragbot-job")
        self._jobs: dict[int, Job] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def submit(self, kind: str, title: str, function: JobFunction) -> Job:
        """Queue a job; raises `JobQueueFull` while another job of its kind is still queued."""
        with self._lock:
            waiting = self._waiting(kind)
            if waiting is not None:
                raise JobQueueFull(f"'{waiting.title}' (job {waiting.id}) is already waiting to run; start this one "
                                   "once it has started")
            job = Job(next(self._ids), kind, title)
            self._jobs[job.id] = job
        self._executor.submit(self._run, job, function)
        return job

    def _waiting(self, kind: str) -> Job | None:
        """A job of `kind` waiting for another to finish (the next job to start, while none runs, is not waiting:
        the worker is picking it up)."""
        queued = sorted((j for j in self._jobs.values() if j.status == "queued"), key=lambda j: j.id)
        if queued and not any(j.status == "running" for j in self._jobs.values()):
            queued = queued[1:]
        return next((j for j in queued if j.kind == kind), None)

    def _run(self, job: Job, function: JobFunction) -> None:
        job.status, job.started_at, job.message = "running", time.time(), "starting"
        try:
            job.result = function(Progress(job))
            job.status, job.fraction, job.message = "done", 1.0, "finished"
        except Exception as exc:  # a failed job reports its reason; the server goes on
            log.exception("job %s (%s) failed", job.id, job.title)
            job.status, job.error, job.message = "failed", f"{type(exc).__name__}: {exc}", "failed"
        finally:
            job.finished_at = time.time()

    def get(self, job_id: int) -> Job | None:
        return self._jobs.get(job_id)

    def jobs(self, kind: str | None = None) -> list[Job]:
        """Newest first."""
        return sorted((j for j in self._jobs.values() if kind is None or j.kind == kind), key=lambda j: -j.id)

    def busy(self) -> bool:
        return any(j.active for j in self._jobs.values())

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
