"""The admin Evaluation tab: run the 2×2 (base / fine-tuned × without / with retrieval, and the extractive
generator as a fifth arm) as a background job and browse the saved reports.

QA files live under `RAGBOT_HOME/qa/` (`chatbot.qa_files`); the job and the report folders are
`training.reports`' (the same ones `ragbot eval compare` writes). This module only wires Gradio."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import gradio as gr

from chatbot.adapters import list_adapters
from chatbot.chain import RagChain
from chatbot.generators import GeneratorUnavailable
from chatbot.qa_files import QAFileError, list_qa_files, qa_dir, save_qa_file
from chatbot.queue.records import JobRecord as Job
from chatbot.queue.records import JobRefused
from chatbot.queue.service import JobQueue
from chatbot.settings import IngestSettings, Settings
from chatbot.storage.db import DatabaseError
from chatbot.storage.store import Store
from chatbot.ui.formatting import elapsed_text, job_status
from chatbot.ui.jobs_tab import ui_user
from training.dataset import DatasetError
from training.reports import (
    REPORT_HTML,
    RESULT_JSON,
    SUMMARY_HEADERS,
    Report,
    detail_rows,
    list_reports,
    load_report,
    submit_compare,
    summary_rows,
)

JOB_KIND = "evaluation"
POLL_SECONDS = 2
JOB_HEADERS = ["job", "status", "progress", "message", "elapsed", "what"]
DETAIL_HEADERS = ["", "value"]
ALL_SPLITS = "(all)"
ACTIVE_ADAPTER = "(active, else newest)"
DEFAULT_LIMIT = 10


# --- shaping (no Gradio) -------------------------------------------------------------------------


def job_rows(jobs: list[Job]) -> list[list[Any]]:
    return [[j.id, j.status, f"{j.fraction:.0%}", j.error or j.message, elapsed_text(j.elapsed()), j.title]
            for j in jobs]


@cache
def served_dir() -> Path:
    """This process's private folder (0700, unpredictable name) under the temp dir, which Gradio serves from
    (it does not serve RAGBOT_HOME)."""
    return Path(tempfile.mkdtemp(prefix="ragbot-reports-"))


def servable(report: Report, name: str) -> str | None:
    """A private copy (0600) of one of the report's files where Gradio may serve it from, refreshed when the file
    changed; None for a missing file or a symlink (never followed, on either side)."""
    source = report.file(name)
    if source is None or source.is_symlink():
        return None
    folder = served_dir() / report.name
    folder.mkdir(mode=0o700, exist_ok=True)
    target = folder / name
    stat = source.stat()
    if target.is_file() and not target.is_symlink() and target.stat().st_size == stat.st_size \
            and target.stat().st_mtime >= stat.st_mtime:
        return str(target)
    try:
        reader = os.open(source, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    fd, partial = tempfile.mkstemp(dir=folder, prefix=".partial-")  # 0600; renamed over the old copy
    with os.fdopen(reader, "rb") as src, os.fdopen(fd, "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
    os.replace(partial, target)
    return str(target)


# --- the tab -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvaluationLayout:
    """The Evaluation tab's components."""

    watching: gr.State  # ids of this page's jobs that were queued or running at the last poll
    upload: gr.File
    qa_file: gr.Dropdown
    note: gr.Textbox
    collection: gr.Dropdown
    split: gr.Dropdown
    limit: gr.Number
    adapter: gr.Dropdown
    run: gr.Button
    status: gr.Markdown
    jobs: gr.Dataframe
    timer: gr.Timer
    reports: gr.Dropdown
    refresh: gr.Button
    details: gr.Dataframe
    summary: gr.Dataframe
    quality: gr.Image
    cost: gr.Image
    files: gr.File


def _run_inputs(settings: IngestSettings) -> tuple:
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            upload = gr.File(label="Upload a QA file (JSONL: question, answer, split)", file_types=[".jsonl"],
                             type="filepath", elem_id="eval-upload")
            qa_file = gr.Dropdown([], label="QA file (saved under qa/)", elem_id="eval-qa")
            note = gr.Textbox("", show_label=False, interactive=False, max_lines=3, elem_id="eval-note",
                              placeholder="Upload a file or pick a saved one.")
        with gr.Column(scale=3):
            with gr.Row():
                collection = gr.Dropdown([settings.collection], value=settings.collection, label="Collection",
                                         allow_custom_value=True, elem_id="eval-collection")
                split = gr.Dropdown(["test", "train", ALL_SPLITS], value="test", label="Split",
                                    allow_custom_value=True, elem_id="eval-split")
            with gr.Row():
                limit = gr.Number(DEFAULT_LIMIT, label="Questions (0 = all)", precision=0, minimum=0,
                                  elem_id="eval-limit")
                adapter = gr.Dropdown([ACTIVE_ADAPTER], value=ACTIVE_ADAPTER, label="Adapter",
                                      elem_id="eval-adapter")
            run = gr.Button("Run 2×2", variant="primary", elem_id="eval-run")
    status = gr.Markdown("", elem_id="eval-status")
    jobs = gr.Dataframe(headers=JOB_HEADERS, value=[], interactive=False, wrap=True, label="Evaluation jobs",
                        elem_id="eval-jobs", column_widths=["60px", "90px", "90px", "30%", "100px", "40%"])
    return upload, qa_file, note, collection, split, limit, adapter, run, status, jobs


def _report_outputs() -> tuple:
    gr.Markdown("### Reports")
    with gr.Row(equal_height=True):
        reports = gr.Dropdown([], label="Report (newest first)", scale=4, elem_id="eval-reports")
        refresh = gr.Button("Refresh", size="sm", scale=0, min_width=120, elem_id="eval-refresh")
    details = gr.Dataframe(headers=DETAIL_HEADERS, value=[], interactive=False, wrap=True, label="Run",
                           elem_id="eval-details", column_widths=["30%", "70%"])
    summary = gr.Dataframe(headers=SUMMARY_HEADERS, value=[], interactive=False, label="Per arm",
                           elem_id="eval-summary")
    with gr.Row(equal_height=False):
        quality = gr.Image(None, type="filepath", label="Quality per arm", interactive=False, scale=4,
                           elem_id="eval-chart-quality")
        cost = gr.Image(None, type="filepath", label="Quality vs cost", interactive=False, scale=3,
                        elem_id="eval-chart-cost")
    files = gr.File(None, label="Full report (every question, five ways) and JSON", file_count="multiple",
                    interactive=False, elem_id="eval-files")
    return reports, refresh, details, summary, quality, cost, files


def evaluation_layout(settings: Settings) -> EvaluationLayout:
    """The Evaluation tab's components, laid out (call inside its `gr.Tab`)."""
    watching = gr.State([])
    gr.Markdown("Run the **2×2** on a QA file: the base model and the fine-tuned one, each without and with "
                "retrieval, and the **extractive** answers (the sources' own sentences, no model), scored against "
                "the gold answers, with each arm's cost: seconds per answer, first token, memory. It runs in the "
                "background (one job at a time) and saves a report folder under `reports/`.")
    run = _run_inputs(settings)
    timer = gr.Timer(POLL_SECONDS, active=False)
    return EvaluationLayout(watching, *run, timer, *_report_outputs())


class EvaluationHandlers:
    """The Evaluation tab's event handlers: page open, QA upload, start a run, poll the jobs, show a report."""

    def __init__(self, settings: Settings, jobs: JobQueue, chain: RagChain, store: Store) -> None:
        self.settings, self.jobs, self.chain, self.store = settings, jobs, chain, store

    def qa_names(self) -> list[str]:
        return [p.name for p in list_qa_files(self.settings)]

    def report_names(self) -> list[str]:
        return [r.name for r in list_reports(self.settings)]

    def poll_outputs(self, watched: list[int]) -> tuple:
        """Jobs table, status line, the timer (on while a watched job is active), the ids still watched and,
        when a watched job has just finished, the report list with its report selected."""
        queue = self.jobs
        all_jobs = queue.jobs(JOB_KIND, limit=50)
        running = next((j for j in queue.jobs(limit=50) if j.status == "running"), None)
        active = [j.id for j in all_jobs if j.active]
        finished = [queue.get(i) for i in watched if i not in active]
        newest_report = next((j.result["report"] for j in finished if j and j.status == "succeeded" and j.result), None)
        report_update = gr.update(choices=self.report_names(), value=newest_report) if finished else gr.update()
        return (job_rows(all_jobs), job_status(all_jobs[0] if all_jobs else None, running),
                gr.Timer(active=bool(active)), active, report_update)

    def opened(self) -> tuple:
        names, reports_now = self.qa_names(), self.report_names()
        collections = sorted({self.settings.collection,
                              *(s["collection"] for s in self.store.collection_stats())})
        adapters = [ACTIVE_ADAPTER, *(a.name for a in list_adapters(self.settings.adapters_dir))]
        active = [j.id for j in self.jobs.jobs(JOB_KIND) if j.active]
        rows, line, timer_update, watched, _ = self.poll_outputs(active)
        return (gr.update(choices=names, value=names[0] if names else None), gr.update(choices=collections),
                gr.update(choices=adapters), gr.update(choices=reports_now, value=reports_now[0] if reports_now
                                                       else None), rows, line, timer_update, watched)

    def save_upload(self, path: str | None) -> tuple:
        if not path:
            return gr.update(), gr.update(), gr.update()
        try:
            saved = save_qa_file(self.settings, Path(path).name, Path(path).read_bytes())
        except QAFileError as exc:
            return gr.update(), str(exc), None
        return gr.update(choices=self.qa_names(), value=saved.name), f"Saved as qa/{saved.name}.", None

    def start(self, name: str | None, collection_name: str | None, split_name: str | None, count: float | None,
              adapter_name: str | None, watched: list[int]) -> tuple:
        if not name or name not in self.qa_names():
            return ("Choose a QA file first.", *self.poll_outputs(watched))
        chosen = (split_name or "").strip()
        try:
            job = submit_compare(self.jobs, self.chain.generators, self.settings, qa_dir(self.settings) / name,
                                 queued_by=ui_user(self.settings), split=None if chosen in ("", ALL_SPLITS) else chosen,
                                 collection=(collection_name or self.settings.collection).strip()[:100] or None,
                                 adapter=None if adapter_name in (None, "", ACTIVE_ADAPTER) else adapter_name,
                                 limit=int(count) if count and count > 0 else None)
        except (DatasetError, GeneratorUnavailable, DatabaseError, JobRefused) as exc:
            return (f"Not started: {exc}", *self.poll_outputs(watched))
        return (f"Submitted job {job.id}.", *self.poll_outputs([*watched, job.id]))

    def show(self, name: str | None) -> tuple:
        report = load_report(self.settings, name or "")
        if report is None:
            return [], [], None, None, None
        charts = {p.stem: servable(report, p.name) for p in report.charts}
        downloads = [p for p in (servable(report, REPORT_HTML), servable(report, RESULT_JSON)) if p]
        return (detail_rows(report.result), summary_rows(report.result), charts.get("quality"), charts.get("cost"),
                downloads or None)

    def relist(self, current: str | None) -> Any:
        names = self.report_names()
        return gr.update(choices=names, value=current if current in names else (names[0] if names else None))


def wire_evaluation(demo: gr.Blocks, ui: EvaluationLayout, handlers: EvaluationHandlers) -> None:
    """The Evaluation tab's events, the job poll and what the page shows when it opens."""
    hidden = {"api_visibility": "private"}  # UI-only: not advertised on the login page or to API clients
    polled = [ui.jobs, ui.status, ui.timer, ui.watching, ui.reports]
    ui.upload.upload(handlers.save_upload, ui.upload, [ui.qa_file, ui.note, ui.upload], **hidden)
    ui.run.click(handlers.start, [ui.qa_file, ui.collection, ui.split, ui.limit, ui.adapter, ui.watching],
                 [ui.note, *polled], **hidden)
    ui.timer.tick(handlers.poll_outputs, ui.watching, polled, show_progress="hidden", **hidden)
    ui.reports.change(handlers.show, ui.reports, [ui.details, ui.summary, ui.quality, ui.cost, ui.files], **hidden)
    ui.refresh.click(handlers.relist, ui.reports, ui.reports, **hidden)
    demo.load(handlers.opened, None, [ui.qa_file, ui.collection, ui.adapter, ui.reports, ui.jobs, ui.status,
                                      ui.timer, ui.watching], **hidden)


def build_evaluation_tab(demo: gr.Blocks, handlers: EvaluationHandlers) -> None:
    """Components and events of the Evaluation tab (call inside a `gr.Tab` of `demo`)."""
    wire_evaluation(demo, evaluation_layout(handlers.settings), handlers)
