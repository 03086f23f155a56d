"""Admin → Embedders: which embedder each collection's vectors come from, tune one on the store in the background,
switch a collection to another embedder (its previous vectors are kept, so switching back encodes nothing)."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from chatbot.embedder_admin import EmbedderAdmin, heldout_text
from chatbot.embedder_registry import BASE, EmbedderRegistryError
from chatbot.queue.records import JobRecord, JobRefused
from chatbot.queue.service import JobQueue
from chatbot.settings import Settings
from chatbot.ui.formatting import job_status
from chatbot.ui.jobs_tab import ui_user
from chatbot.ui.training_tab import qa_choices
from training.dataset import DatasetError
from training.embedder_background import KIND, submit_tune, submit_use
from training.embedder_tune import TuneConfig

EMBEDDER_HEADERS = ["name", "used by", "vectors kept", "pairs (QA)", "steps", "held-out MRR@10 before → after"]


def embedder_table(admin: EmbedderAdmin) -> list[list]:
    rows = []
    for row in admin.embedder_rows():
        r = row.to_json()
        mrr = heldout_text(row.manifest.get("metrics", {}))
        pairs = f"{r['pairs']} ({r['qa_pairs']})" if r["pairs"] is not None else ""
        rows.append([r["name"], ", ".join(r["used_by"]), ", ".join(r["kept_in"]), pairs, r["steps"] or "", mrr])
    return rows


def latest_job(jobs: JobQueue) -> JobRecord | None:
    found = jobs.jobs(KIND, limit=1)
    return found[0] if found else None


@dataclass(frozen=True)
class EmbeddersLayout:
    """The Embedders tab's components."""

    table: gr.Dataframe
    collection: gr.Textbox
    name: gr.Textbox
    qa_file: gr.Dropdown
    max_pairs: gr.Number
    epochs: gr.Number
    switch: gr.Checkbox
    start: gr.Button
    chosen: gr.Dropdown
    target: gr.Textbox
    use: gr.Button
    status: gr.Markdown
    seen: gr.State  # the latest job's "id:status" last shown
    timer: gr.Timer


def _tune_column(settings: Settings) -> tuple:
    gr.Markdown("### Tune an embedder")
    with gr.Row():
        collection = gr.Textbox(settings.collection, label="Collection", max_lines=1,
                                elem_id="emb-collection")
        name = gr.Textbox("", label="Name (optional)", max_lines=1, elem_id="emb-name")
    qa_file = gr.Dropdown(qa_choices(settings), value=None, label="QA file (optional: its train questions)",
                          elem_id="emb-qa-file")
    with gr.Row():
        max_pairs = gr.Number(3000, label="Max pairs", precision=0, minimum=1, elem_id="emb-max-pairs")
        epochs = gr.Number(1, label="Epochs", minimum=0.01, maximum=20, elem_id="emb-epochs")
        switch = gr.Checkbox(True, label="Switch the collection to it when done", elem_id="emb-switch")
    start = gr.Button("Tune", variant="primary", elem_id="emb-tune")
    return collection, name, qa_file, max_pairs, epochs, switch, start


def embedders_layout(settings: Settings, jobs: JobQueue) -> EmbeddersLayout:
    """The Embedders tab's components, laid out (call inside its `gr.Tab`)."""
    gr.Markdown("Each collection is queried with the embedder that made its vectors. Tune one on a collection's own "
                "documents (each section heading or title → its chunks, questions the bundled generator writes "
                "for sampled chunks, and a QA file's questions → their gold chunks), then switch the collection to "
                "it: its chunks are encoded in the background and the vectors switch at once; the previous ones "
                "are kept, so switching back is immediate. The held-out check is the QA file's other questions, "
                "else the questions written for held-out chunks; its change is a verdict only when its 95 % "
                "interval leaves out 0.")
    table = gr.Dataframe(headers=EMBEDDER_HEADERS, value=[], interactive=False, wrap=True, elem_id="emb-table")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            tune = _tune_column(settings)
        with gr.Column(scale=2):
            gr.Markdown("### Switch a collection")
            chosen = gr.Dropdown([], label="Embedder", elem_id="emb-choose")
            target = gr.Textbox(settings.collection, label="Collection", max_lines=1, elem_id="emb-target")
            use = gr.Button("Switch", elem_id="emb-use")
    status = gr.Markdown(job_status(latest_job(jobs)), elem_id="emb-status")
    seen, timer = gr.State(""), gr.Timer(2.0)
    gr.Markdown(f"`{BASE}` is the configured embedder (RAGBOT_EMBEDDER, RAGBOT_EMBEDDER_BACKEND). `ragbot embedder "
                "drop NAME` deletes an embedder's kept vectors (and a tuned one's files) once no collection uses it.")
    return EmbeddersLayout(table, *tune, chosen, target, use, status, seen, timer)


class EmbeddersHandlers:
    """The Embedders tab's event handlers: the table, start a tuning or a switch, poll the latest job."""

    def __init__(self, admin: EmbedderAdmin, jobs: JobQueue) -> None:
        self.admin, self.jobs = admin, jobs
        self.settings = admin.settings

    def listing(self) -> tuple:
        rows = embedder_table(self.admin)
        return rows, gr.update(choices=[r[0] for r in rows])

    def start_tune(self, collection_name: str, embedder: str, qa: str | None, pairs: float | None,
                   n_epochs: float | None, then_switch: bool) -> str:
        from datetime import UTC, datetime

        collection_name = (collection_name or self.settings.collection).strip()
        default_name = f"{collection_name}-{datetime.now(UTC):%Y%m%d-%H%M%S}"
        try:
            config = TuneConfig(collection_name, embedder.strip() or default_name, qa=qa or None,
                                max_pairs=int(pairs or 3000), epochs=float(n_epochs or 1))
            job = submit_tune(self.jobs, self.admin, config, switch=then_switch, queued_by=ui_user(self.settings))
        except (ValueError, DatasetError, EmbedderRegistryError, JobRefused) as exc:
            return f"**Not started:** {exc}"
        return job_status(job)

    def start_use(self, embedder: str | None, collection_name: str) -> str:
        if not embedder:
            return "**Choose an embedder** (`base` is the configured one)."
        try:
            job = submit_use(self.jobs, self.admin, embedder, (collection_name or self.settings.collection).strip(),
                             queued_by=ui_user(self.settings))
        except (EmbedderRegistryError, JobRefused) as exc:
            return f"**Not started:** {exc}"
        return job_status(job)

    def poll(self, seen: str) -> tuple:
        """The job's status every tick; the table only when a job has just finished."""
        job = latest_job(self.jobs)
        state = f"{job.id}:{job.status}" if job else ""
        if state == seen or not job or job.active:
            return job_status(job), state, gr.update(), gr.update()
        return job_status(job), state, *self.listing()


def wire_embedders(blocks: gr.Blocks, ui: EmbeddersLayout, handlers: EmbeddersHandlers) -> None:
    """The Embedders tab's events, the job poll and the table at page load."""
    hidden = {"api_visibility": "private"}
    ui.start.click(handlers.start_tune, [ui.collection, ui.name, ui.qa_file, ui.max_pairs, ui.epochs, ui.switch],
                   ui.status, concurrency_limit=1, concurrency_id="embedder", **hidden)
    ui.use.click(handlers.start_use, [ui.chosen, ui.target], ui.status, concurrency_limit=1,
                 concurrency_id="embedder", **hidden)
    ui.timer.tick(handlers.poll, ui.seen, [ui.status, ui.seen, ui.table, ui.chosen], show_progress="hidden", **hidden)
    blocks.load(handlers.listing, None, [ui.table, ui.chosen], **hidden)


def build_embedders_tab(blocks: gr.Blocks, handlers: EmbeddersHandlers) -> None:
    """Components and events of the Embedders tab (call inside a `gr.Tab` of `blocks`)."""
    wire_embedders(blocks, embedders_layout(handlers.settings, handlers.jobs), handlers)
