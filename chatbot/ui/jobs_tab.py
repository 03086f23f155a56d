"""Admin → Jobs: every job in the database, whichever replica queued it and whichever worker runs it, with its
progress, and a cancel. Thin: it calls the same `JobQueue` as `ragbot jobs`."""

from __future__ import annotations

import json
from typing import Any

import gradio as gr

from chatbot.queue.records import JobRecord
from chatbot.queue.service import JobQueue
from chatbot.settings import SecuritySettings
from chatbot.ui.formatting import elapsed_text

JOB_HEADERS = ["id", "status", "kind", "progress", "message", "queued by", "ran on", "elapsed", "what"]
POLL_SECONDS = 2.0
SHOWN = 100


def ui_user(settings: SecuritySettings) -> str:
    """Who queues a job from the Admin UI."""
    return f"admin-ui:{settings.admin_user}"


def job_row(job: JobRecord) -> list[Any]:
    progress = f"{job.done}/{job.total}" if job.total else f"{job.fraction:.0%}"
    ran = f"{job.host} ({job.pid})" if job.host else ""
    return [job.id, job.status, job.kind, progress, job.error or job.message, job.queued_by, ran,
            elapsed_text(job.elapsed()), job.title]


class JobsHandlers:
    """List, show and cancel."""

    def __init__(self, jobs: JobQueue) -> None:
        self.jobs = jobs

    def listing(self) -> list[list[Any]]:
        return [job_row(job) for job in self.jobs.jobs(limit=SHOWN)]

    def show(self, value: float | None) -> str:
        job = self.jobs.get(int(value)) if value else None
        return json.dumps(job.to_json(), indent=2, ensure_ascii=False) if job else ""

    def cancel(self, value: float | None) -> tuple:
        if not value:
            return "Enter a job id.", self.listing()
        try:
            job = self.jobs.cancel(int(value))
        except LookupError as exc:
            return str(exc), self.listing()
        note = {"running": "asked to stop: it ends at its next progress report"}.get(job.status, job.status)
        return f"Job {job.id}: {note}.", self.listing()

    @staticmethod
    def pick(event: gr.SelectData) -> float | None:
        row = event.row_value or []
        return row[0] if row else None


def build_jobs_tab(blocks: gr.Blocks, handlers: JobsHandlers) -> None:
    """Components and events of the Jobs tab (call inside a `gr.Tab` of `blocks`)."""
    gr.Markdown("Jobs run by the workers (`ragbot worker`, or the one `ragbot serve` runs), newest first. Select "
                "a row to see it; a queued job cancelled never starts, a running one stops at its next progress "
                "report.")
    table = gr.Dataframe(headers=JOB_HEADERS, value=[], interactive=False, wrap=True, max_height=480,
                         elem_id="admin-jobs")
    with gr.Row():
        job_id = gr.Number(None, label="Job id", precision=0, scale=1, elem_id="admin-job-id")
        cancel = gr.Button("Cancel job", variant="stop", scale=1, elem_id="admin-job-cancel")
        note = gr.Markdown("", elem_id="admin-job-note")
    details = gr.Code("", language="json", label="Job", elem_id="admin-job-details")
    timer = gr.Timer(POLL_SECONDS)
    hidden = {"api_visibility": "private"}
    table.select(handlers.pick, None, job_id, show_progress="hidden", **hidden)
    job_id.change(handlers.show, job_id, details, show_progress="hidden", **hidden)
    cancel.click(handlers.cancel, job_id, [note, table], **hidden)
    timer.tick(handlers.listing, None, table, show_progress="hidden", **hidden)
    blocks.load(handlers.listing, None, table, **hidden)
