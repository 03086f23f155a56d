"""The procrastinate app: every registered task as a procrastinate task whose only argument is the ragbot job's
id (the arguments themselves live in the job's row), wrapped so that the row follows the run."""

from __future__ import annotations

import json
import logging
import os
import socket
from typing import Any

from procrastinate import App, BaseConnector, JobContext, RetryStrategy
from procrastinate.exceptions import JobAborted
from procrastinate.job_context import AbortReason

from chatbot.queue.progress import JobCancelled, Progress
from chatbot.queue.records import JobRecords
from chatbot.queue.tasks import TaskSpec, load_tasks

log = logging.getLogger(__name__)
HOST = socket.gethostname()
# A job aborted because its worker is stopping runs again on the next worker; a cancelled one does not (procrastinate
# retries an aborted job only when the worker shut down).
RESTART_ON_SHUTDOWN = RetryStrategy(max_attempts=3, retry_exceptions={JobAborted})


def make_app(connector: BaseConnector) -> App:
    """An app on `connector` that knows every task in `chatbot.queue.tasks`."""
    app = App(connector=connector)
    for spec in load_tasks().values():
        app.task(name=spec.kind, queue=spec.queue, pass_context=True, retry=RESTART_ON_SHUTDOWN)(_runner(spec))
    return app


def _jsonable(result: dict[str, Any] | None) -> dict[str, Any]:
    return json.loads(json.dumps(result or {}, default=str))


def _runner(spec: TaskSpec):
    def run(context: JobContext, job: int) -> None:
        services = context.additional_context["services"]
        records = JobRecords(services.pool)
        record = records.start(job, HOST, os.getpid())
        if record is None:  # cancelled between its fetch and its start
            records.finish(job, "cancelled", message="cancelled before it started")
            return
        progress = Progress(records, job, context.should_abort)
        try:
            result = spec.function(services, progress, **record.arguments)
        except JobCancelled:
            if context.abort_reason() != AbortReason.SHUTDOWN:
                records.finish(job, "cancelled", message="cancelled while running")
            elif context.job.attempts < RESTART_ON_SHUTDOWN.max_attempts:
                records.requeue(job, f"its worker on {HOST} stopped: the next worker runs it again")
            else:
                records.finish(job, "failed", error=f"its worker stopped during each of its "
                               f"{context.job.attempts + 1} runs")
            raise JobAborted(f"job {job} stopped") from None
        except Exception as exc:
            records.finish(job, "failed", error=f"{type(exc).__name__}: {exc}", message="failed")
            raise
        records.finish(job, "succeeded", result=_jsonable(result), message="finished")

    run.__name__ = run.__qualname__ = f"run_{spec.kind}"
    return run
