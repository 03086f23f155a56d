"""The admin Blocks (mounted at /admin behind a login), in tabs: Documents (upload, list, delete, collection
stats), Monitor (usage and votes over time), Fine-tuning (train an adapter in the background, choose the active
one), Embedders (each collection's embedder; tune one on the store, switch), Gaps (what the documents are missing),
Evaluation (the 2×2 as a job, saved reports), Handoffs (to a person: answer, review) and Jobs (every job in the
database, with cancel)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from chatbot.queue.builtin_tasks import submit_uploads
from chatbot.queue.service import JobQueue
from chatbot.services import Services
from chatbot.settings import IngestSettings, Settings
from chatbot.storage.db import DatabaseError
from chatbot.storage.store import Store
from chatbot.storage.web_store import WebSources
from chatbot.ui.admin_sessions import SIGN_OUT_FORM
from chatbot.ui.embedders_tab import EmbeddersHandlers, build_embedders_tab
from chatbot.ui.evaluation_tab import EvaluationHandlers, build_evaluation_tab
from chatbot.ui.formatting import (
    DOCUMENT_HEADERS,
    FAILURE_HEADERS,
    STATS_HEADERS,
    document_rows,
    ingest_outcome,
    stats_rows,
)
from chatbot.ui.gaps_tab import build_gaps_tab
from chatbot.ui.handoffs_tab import HandoffsHandlers, build_handoffs_tab
from chatbot.ui.jobs_tab import JobsHandlers, build_jobs_tab, ui_user
from chatbot.ui.monitor_tab import build_monitor_tab
from chatbot.ui.training_tab import TrainingHandlers, build_training_tab
from chatbot.ui.websites import UI_WAIT_S, WebsiteInputs, build_website_inputs, wire_websites


@dataclass(frozen=True)
class DocumentsLayout:
    """The Documents tab's components."""

    files: gr.File
    collection: gr.Textbox
    ingest: gr.Button
    summary: gr.Markdown
    failures: gr.Dataframe
    website: WebsiteInputs
    stats: gr.Dataframe
    refresh: gr.Button
    documents: gr.Dataframe
    document_id: gr.Number
    delete: gr.Button
    deleted: gr.Markdown


def _upload_column(settings: IngestSettings) -> tuple:
    gr.Markdown("### Upload documents")
    files = gr.File(label="Files (PDF, HTML, Markdown, text, Word)", file_count="multiple", type="filepath",
                    elem_id="admin-files")
    with gr.Row():
        collection = gr.Textbox(settings.collection, label="Collection", max_lines=1, scale=3,
                                elem_id="admin-collection")
        ingest = gr.Button("Ingest", variant="primary", scale=1, elem_id="admin-ingest")
    summary = gr.Markdown("", elem_id="admin-report")
    failures = gr.Dataframe(headers=FAILURE_HEADERS, value=[], interactive=False, visible=False,
                            label="Failed or replaced files", elem_id="admin-failures", wrap=True,
                            column_widths=["30%", "70%"])
    return files, collection, ingest, summary, failures, build_website_inputs()


def documents_layout(settings: Settings) -> DocumentsLayout:
    """The Documents tab's components, laid out (call inside its `gr.Tab`)."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            upload = _upload_column(settings)
        with gr.Column(scale=2):
            gr.Markdown("### Collections")
            stats = gr.Dataframe(headers=STATS_HEADERS, value=[], interactive=False, elem_id="admin-stats")
            refresh = gr.Button("Refresh", size="sm", elem_id="admin-refresh")
    gr.Markdown("### Documents\nSelect a row to fill in its id, then delete it.")
    documents = gr.Dataframe(headers=DOCUMENT_HEADERS, value=[], interactive=False, wrap=True, max_height=420,
                             elem_id="admin-documents", column_widths=["60px", "110px", "28%", "80px", "42%", "150px"])
    with gr.Row():
        document_id = gr.Number(None, label="Document id", precision=0, scale=1, elem_id="admin-doc-id")
        delete = gr.Button("Delete document", variant="stop", scale=1, elem_id="admin-delete")
        deleted = gr.Markdown("", elem_id="admin-delete-result")
    return DocumentsLayout(*upload, stats, refresh, documents, document_id, delete, deleted)


class DocumentsHandlers:
    """The Documents tab's event handlers: list, upload, delete, pick a row; `ingestor` is built at the first
    upload (its errors become a message)."""

    def __init__(self, store: Store, jobs: JobQueue, default_collection: str, queued_by: str) -> None:
        self.store, self.jobs, self.default_collection, self.queued_by = store, jobs, default_collection, queued_by

    def listing(self) -> tuple:
        store = self.store
        return document_rows(store.list_documents()), stats_rows(store.collection_stats())

    def upload(self, paths: list[str] | None, name: str) -> tuple:
        if not paths:
            return "Choose one or more files first.", gr.update(visible=False), gr.update(), *self.listing()
        payloads = [(Path(p).name, Path(p).read_bytes()) for p in paths]
        collection = (name or self.default_collection).strip()[:100]
        try:
            job = submit_uploads(self.jobs, payloads, collection, self.queued_by)
            summary, rows = ingest_outcome(self.jobs.wait(job.id, UI_WAIT_S))
        except DatabaseError as exc:
            return f"The database is unavailable: {exc}", gr.update(visible=False), gr.update(), *self.listing()
        return summary, gr.update(value=rows, visible=bool(rows)), None, *self.listing()

    def remove(self, value: float | None) -> tuple:
        if value is None or value < 1:
            return "Enter a document id.", *self.listing()
        doc = int(value)
        note = f"Deleted document {doc}." if self.store.delete_document(doc) else f"No document {doc}."
        return note, *self.listing()

    @staticmethod
    def pick(event: gr.SelectData) -> float | None:
        row = event.row_value or []
        return row[0] if row else None


def wire_documents(admin: gr.Blocks, ui: DocumentsLayout, handlers: DocumentsHandlers, web_sources: WebSources
                   ) -> None:
    """The Documents tab's events (websites included) and the listing at page load."""
    hidden = {"api_visibility": "private"}  # UI-only: not advertised on the login page or to API clients
    ingested = [ui.summary, ui.failures, ui.files, ui.documents, ui.stats]
    ui.ingest.click(handlers.upload, [ui.files, ui.collection], ingested, concurrency_limit=1, concurrency_id="ingest",
                    **hidden)
    ui.delete.click(handlers.remove, ui.document_id, [ui.deleted, ui.documents, ui.stats], **hidden)
    ui.documents.select(handlers.pick, None, ui.document_id, show_progress="hidden", **hidden)
    ui.refresh.click(handlers.listing, None, [ui.documents, ui.stats], **hidden)
    wire_websites(web_sources, handlers.jobs, handlers.queued_by, handlers.default_collection, ui.website,
                  ui.collection, [ui.summary, ui.failures, ui.documents, ui.stats], handlers.listing)
    admin.load(handlers.listing, None, [ui.documents, ui.stats], **hidden)


def build_admin_app(services: Services) -> gr.Blocks:
    """The admin app, each tab given the services it uses."""
    settings = services.settings
    training = TrainingHandlers(settings, services.adapter_registry, services.jobs, services.corpus, services.pool)
    embedders = EmbeddersHandlers(services.embedder_admin, services.jobs)
    evaluation = EvaluationHandlers(settings, services.jobs, services.chain, services.store)
    with gr.Blocks(title="ragbot admin", analytics_enabled=False, delete_cache=(3600, 3600)) as admin:
        gr.Markdown("# ragbot admin\nManage the documents answers are drawn from, watch how answers do and "
                    "evaluate the models. [← Back to the chat](../)", elem_id="admin-title")
        gr.HTML(SIGN_OUT_FORM, elem_id="admin-sign-out")
        with gr.Tabs(elem_id="admin-tabs"):
            with gr.Tab("Documents", id="documents-tab"):
                documents = documents_layout(settings)
            with gr.Tab("Fine-tuning", id="training-tab"):
                build_training_tab(admin, training)
            with gr.Tab("Embedders", id="embedders-tab"):
                build_embedders_tab(admin, embedders)
            with gr.Tab("Monitor", id="monitor-tab"):
                build_monitor_tab(admin, services.pool,
                                  topics=lambda votes, days: services.gap_finder.vote_topics(votes, days))
            with gr.Tab("Gaps", id="gaps-tab") as gaps_tab:
                build_gaps_tab(admin, gaps_tab, services.gap_finder)
            with gr.Tab("Evaluation", id="evaluation-tab"):
                build_evaluation_tab(admin, evaluation)
            with gr.Tab("Handoffs", id="handoffs-tab"):
                build_handoffs_tab(admin, HandoffsHandlers(services.handoffs, services.pool, settings.min_votes,
                                                           ui_user(settings)))
            with gr.Tab("Jobs", id="jobs-tab"):
                build_jobs_tab(admin, JobsHandlers(services.jobs))
        handlers = DocumentsHandlers(services.store, services.jobs, settings.collection, ui_user(settings))
        wire_documents(admin, documents, handlers, services.web_sources)
    return admin
