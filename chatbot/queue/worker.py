"""`ragbot worker` (and the worker `ragbot serve` runs in a thread): procrastinate's worker with this process's
`Services`, plus the recovery of jobs whose worker died: a job left `doing` by a worker whose heartbeat stopped is
retried by another worker (up to `MAX_ATTEMPTS` runs), then failed with the reason."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from procrastinate import App, PsycopgConnector
from procrastinate.jobs import Job, Status

from chatbot.queue.app import make_app
from chatbot.queue.records import JobRecords

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 2  # runs of a job whose worker died (killed, lost power) before it is failed


def worker_options(services: Any, queues: Iterable[str] | None, concurrency: int, name: str) -> dict[str, Any]:
    stalled = services.settings.worker_stalled_s
    return {"queues": list(queues) if queues else None, "concurrency": concurrency, "name": name,
            "additional_context": {"services": services}, "update_heartbeat_interval": stalled / 4,
            "stalled_worker_timeout": stalled, "abort_job_polling_interval": 1.0,
            "shutdown_graceful_timeout": 10.0, "delete_jobs": "successful"}  # ragbot's row keeps the record


async def recover_stalled(app: App, records: JobRecords, stalled_s: float) -> list[int]:
    """Retry (or, after `MAX_ATTEMPTS` runs, fail) each job whose worker's heartbeat is older than `stalled_s`;
    returns their ragbot job ids."""
    handled = []
    for job in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_s):
        record = await asyncio.to_thread(records.by_queue_job, job.id)
        try:
            await _recover(app, records, job, record, stalled_s)
        except Exception as exc:  # another worker recovered it first
            log.debug("stalled job %s: %s", job.id, exc)
            continue
        if record is not None:
            handled.append(record.id)
    return handled


async def _recover(app: App, records: JobRecords, job: Job, record: Any, stalled_s: float) -> None:
    where = f"{record.host} pid {record.pid}" if record is not None and record.host else "its worker"
    reason = f"the worker on {where} stopped answering (no heartbeat for {stalled_s:.0f} s)"
    if record is not None and record.attempts >= MAX_ATTEMPTS:
        await app.job_manager.finish_job(job, status=Status.FAILED, delete_job=False)
        await asyncio.to_thread(records.finish, record.id, "failed", error=f"{reason}, after {record.attempts} runs")
        log.warning("job %s failed: %s", record.id, reason)
        return
    await app.job_manager.retry_job(job)
    if record is not None:
        await asyncio.to_thread(records.requeue, record.id, f"{reason}: queued again")
        log.warning("job %s queued again: %s", record.id, reason)


async def _recovery_loop(app: App, records: JobRecords, stalled_s: float) -> None:
    while True:
        try:
            await recover_stalled(app, records, stalled_s)
        except Exception:  # the database may be down for a while: keep trying
            log.exception("recovering stalled jobs failed")
        await asyncio.sleep(stalled_s / 2)


async def run_worker_async(services: Any, queues: Iterable[str] | None = None, concurrency: int = 1, *,
                           name: str = "ragbot-worker", stop: threading.Event | None = None,
                           install_signal_handlers: bool = True) -> None:
    """Run jobs until stopped (a signal, or `stop` set)."""
    app = make_app(PsycopgConnector(conninfo=services.url, min_size=1, max_size=max(4, concurrency + 3)))
    options = worker_options(services, queues, concurrency, name)
    async with app.open_async():
        worker = asyncio.create_task(app.run_worker_async(**options, install_signal_handlers=install_signal_handlers))
        side = [asyncio.create_task(_recovery_loop(app, JobRecords(services.pool), services.settings.worker_stalled_s))]
        if stop is not None:
            side.append(asyncio.create_task(_cancel_when(stop, worker)))
        try:
            await worker
        except asyncio.CancelledError:
            pass
        finally:
            for task in side:
                task.cancel()


async def _cancel_when(stop: threading.Event, task: asyncio.Task) -> None:
    while not stop.is_set():
        await asyncio.sleep(0.2)
    task.cancel()


def run_worker(services: Any, queues: Iterable[str] | None = None, concurrency: int = 1, **kwargs: Any) -> None:
    asyncio.run(run_worker_async(services, queues, concurrency, **kwargs))


class InProcessWorker:
    """One worker in a thread of this process (`ragbot serve` without `--no-worker`); started again after a
    failure (the database went away), `RESTART_S` later."""

    RESTART_S = 5.0

    def __init__(self, services: Any) -> None:
        self.services = services
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="ragbot-worker", daemon=True)

    def _run(self) -> None:
        while not self.stop_event.is_set():
            try:
                run_worker(self.services, name="ragbot-serve-worker", stop=self.stop_event,
                           install_signal_handlers=False)
            except Exception:  # the server goes on answering; its jobs wait for the worker to come back
                log.exception("the in-process job worker stopped; starting it again in %s s", self.RESTART_S)
                self.stop_event.wait(self.RESTART_S)

    def start(self) -> InProcessWorker:
        self.thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self.stop_event.set()
        self.thread.join(timeout)


def attach_worker(app: Any, services: Any) -> None:
    """Run an `InProcessWorker` while the ASGI `app` (FastAPI) runs: started at its startup, stopped at shutdown."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        worker = InProcessWorker(services).start()
        try:
            async with inner(application) as state:
                yield state
        finally:
            await asyncio.to_thread(worker.stop)

    app.router.lifespan_context = lifespan
