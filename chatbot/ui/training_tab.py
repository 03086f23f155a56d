"""Admin → Fine-tuning: train an adapter in the background from a QA file with visible progress, export the
users' votes to a QA file to review before training on it, and choose the active adapter (the default
`finetuned` generator)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gradio as gr
from psycopg_pool import ConnectionPool

from chatbot.adapter_staleness import stale_summary
from chatbot.corpus import Corpus
from chatbot.qa_files import QAFileError, list_qa_files, save_qa_file
from chatbot.queue.records import JobRecord, JobRefused
from chatbot.queue.service import JobQueue
from chatbot.settings import Settings, StorageSettings, TrainingSettings
from chatbot.storage.adapter_registry import AdapterRegistry, RegistryError, adapter_entries, use_adapter
from chatbot.ui.formatting import job_status
from chatbot.ui.jobs_tab import ui_user
from training.background import export_votes, from_votes, submit_training
from training.dataset import DatasetError
from training.retrain import submit_retraining
from training.train import TrainConfig, TrainingError

ADAPTER_HEADERS = ["active", "name", "quant", "created", "steps", "eval loss", "collection", "stale"]
VOTES_HEADERS = ["votes", "against", "question", "answer", "source"]
EXAMPLES_QA = Path("examples/qa.jsonl")


def adapter_rows(registry: AdapterRegistry, settings: StorageSettings) -> list[list]:
    return [["●" if e["active"] else "", e["name"], e["quant"], e["created_at"][:16].replace("T", " "),
             e["steps"], e["eval_loss"], e["collection"], stale_summary(e)]
            for e in adapter_entries(registry, settings.adapters_dir)]


def qa_choices(settings: Settings) -> list[str]:
    stored = [str(p) for p in list_qa_files(settings)]
    return stored + ([str(EXAMPLES_QA.resolve())] if EXAMPLES_QA.is_file() else [])


def latest_training_job(jobs: JobQueue) -> JobRecord | None:
    training = jobs.jobs("training", limit=1)
    return training[0] if training else None


@dataclass(frozen=True)
class TrainingLayout:
    """The Fine-tuning tab's components."""

    upload: gr.File
    qa_file: gr.Dropdown
    collection: gr.Textbox
    name: gr.Textbox
    epochs: gr.Number
    max_steps: gr.Number
    activate: gr.Checkbox
    start: gr.Button
    status: gr.Markdown
    min_votes: gr.Number
    export: gr.Button
    voted: gr.Dataframe
    adapters: gr.Dataframe
    chosen: gr.Dropdown
    use: gr.Button
    retrain: gr.Button
    used: gr.Markdown
    seen: gr.State  # the latest job's "id:status" last shown
    timer: gr.Timer


def _train_inputs(settings: Settings, jobs: JobQueue) -> tuple:
    gr.Markdown("### Train a new adapter")
    upload = gr.File(label="Upload a QA file (JSONL: question, answer, split, optional source)",
                     file_types=[".jsonl", ".json"], type="filepath", elem_id="train-upload")
    qa_file = gr.Dropdown(qa_choices(settings), value=None, label="QA file", allow_custom_value=False,
                          elem_id="train-qa-file")
    with gr.Row():
        collection = gr.Textbox(settings.collection, label="Collection", max_lines=1,
                                elem_id="train-collection")
        name = gr.Textbox("", label="Adapter name (optional)", max_lines=1, elem_id="train-name")
    with gr.Row():
        epochs = gr.Number(3, label="Epochs", minimum=0.1, maximum=20, elem_id="train-epochs")
        max_steps = gr.Number(0, label="Max steps (0: by epochs)", precision=0, minimum=0, elem_id="train-max-steps")
        activate = gr.Checkbox(True, label="Make it the active adapter when done (never for a votes export)",
                               elem_id="train-activate")
    start = gr.Button("Train", variant="primary", elem_id="train-start")
    status = gr.Markdown(job_status(latest_training_job(jobs)), elem_id="train-status")
    return upload, qa_file, collection, name, epochs, max_steps, activate, start, status


def _votes_inputs(settings: TrainingSettings) -> tuple:
    with gr.Accordion("Learn from the users' votes", open=False, elem_id="train-votes-box"):
        gr.Markdown("Thumbs-up answers and blind-vote winners become QA pairs once enough distinct "
                    "clients voted for them (one vote per message per browser or API client). Export "
                    "them, review the pairs (edit the file and upload it again to drop any), then pick "
                    "the file above and train; an adapter trained from votes is never made active "
                    "automatically.")
        with gr.Row():
            min_votes = gr.Number(settings.min_votes, label="Minimum votes (distinct clients)", precision=0,
                                  minimum=1, elem_id="train-min-votes")
            export = gr.Button("Export votes for review", elem_id="train-export-votes")
        voted = gr.Dataframe(headers=VOTES_HEADERS, value=[], interactive=False, wrap=True,
                             elem_id="train-voted-pairs")
    return min_votes, export, voted


def _adapter_inputs() -> tuple:
    gr.Markdown("### Adapters\nThe active one answers as `finetuned`. *Stale*: a document its training set drew "
                "on changed or was deleted since; *Retrain* queues a training with its recorded settings on the "
                "documents as they are now (made active when it replaces the active one).")
    adapters = gr.Dataframe(headers=ADAPTER_HEADERS, value=[], interactive=False, elem_id="train-adapters")
    with gr.Row():
        chosen = gr.Dropdown([], label="Adapter", scale=3, elem_id="train-choose")
        use = gr.Button("Make active", scale=1, elem_id="train-use")
        retrain = gr.Button("Retrain", scale=1, elem_id="train-retrain")
    return adapters, chosen, use, retrain, gr.Markdown("", elem_id="train-use-result")


def training_layout(settings: Settings, jobs: JobQueue) -> TrainingLayout:
    """The Fine-tuning tab's components, laid out (call inside its `gr.Tab`)."""
    gr.Markdown("Train a LoRA adapter on the documents (QLoRA: the base in 4-bit NF4, RAFT-style examples with "
                "the chat's own prompt). Training runs in the background, one job at a time; the chat keeps "
                "answering, more slowly, meanwhile. A finished adapter appears as `finetuned:<name>`.")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            train = _train_inputs(settings, jobs)
            votes = _votes_inputs(settings)
        with gr.Column(scale=2):
            adapters = _adapter_inputs()
    return TrainingLayout(*train, *votes, *adapters, gr.State(""), gr.Timer(2.0))


class TrainingHandlers:
    """The Fine-tuning tab's event handlers: store a QA file, export votes, train, poll the job, pick the active
    adapter."""

    def __init__(self, settings: Settings, registry: AdapterRegistry, jobs: JobQueue, corpus: Corpus,
                 pool: ConnectionPool) -> None:
        self.settings, self.registry, self.jobs, self.corpus, self.pool = settings, registry, jobs, corpus, pool

    def listing(self) -> tuple:
        rows = adapter_rows(self.registry, self.settings)
        active = next((r[1] for r in rows if r[0]), None)
        return rows, gr.update(choices=[r[1] for r in rows], value=active)

    def store_upload(self, path: str | None) -> tuple:
        if not path:
            return gr.update(), gr.update()
        try:
            saved = save_qa_file(self.settings, Path(path).name, Path(path).read_bytes())
        except QAFileError as exc:
            return gr.update(), f"**Not used:** {exc}"
        return gr.update(choices=qa_choices(self.settings), value=str(saved)), f"Stored {saved.name}."

    def export_for_review(self, least: float | None) -> tuple:
        """The voted pairs written to a new QA file, shown for review and picked for training."""
        try:
            exported = export_votes(self.pool, self.settings, min_votes=int(least or self.settings.min_votes))
        except TrainingError as exc:
            return gr.update(), f"**Nothing exported:** {exc}", []
        rows = [[p["votes"], p["votes_down"], p["question"], p["answer"], p["source"] or ""] for p in exported.pairs]
        note = (f"Exported {len(rows)} voted pairs to `{exported.path.name}` for review (below; the file is "
                f"`{exported.path}`). Train on it when they are right: the adapter will not be made active.")
        return gr.update(choices=qa_choices(self.settings), value=str(exported.path)), note, rows

    def train(self, qa: str | None, collection_name: str, adapter_name: str, n_epochs: float | None,
              steps: float | None, make_active: bool) -> str:
        try:
            config = TrainConfig(qa=qa or "", collection=(collection_name or self.settings.collection).strip(),
                                 name=adapter_name.strip() or None, epochs=float(n_epochs or 3),
                                 max_steps=int(steps) if steps else None)
            if not qa:
                return "**Choose a QA file first** (upload one, or pick a stored one)."
            job = submit_training(self.jobs, self.settings, config, activate=make_active and not from_votes(qa),
                                  queued_by=ui_user(self.settings))
        except (TrainingError, DatasetError, JobRefused) as exc:
            return f"**Not started:** {exc}"
        return job_status(job)

    def poll(self, seen: str) -> tuple:
        """The job's status every tick; the adapter list only when a job has just finished."""
        job = latest_training_job(self.jobs)
        state = f"{job.id}:{job.status}" if job else ""
        if state == seen or not job or job.active:
            return job_status(job), state, gr.update(), gr.update()
        return job_status(job), state, *self.listing()

    def retrain(self, adapter: str | None) -> tuple:
        """Queue a training with the chosen adapter's recorded settings: (message, job status)."""
        if not adapter:
            return "Choose an adapter.", gr.update()
        try:
            job = submit_retraining(self.jobs, self.registry, self.settings, adapter,
                                    queued_by=ui_user(self.settings))
        except (TrainingError, DatasetError, JobRefused) as exc:
            return f"**Not started:** {exc}", gr.update()
        return f"Retraining **{adapter}** as a new adapter (job {job.id}).", job_status(job)

    def make_active(self, adapter: str | None) -> tuple:
        if not adapter:
            return "Choose an adapter.", *self.listing()
        try:
            use_adapter(self.registry, self.settings.adapters_dir, adapter)
        except RegistryError as exc:
            return f"**Not changed:** {exc}", *self.listing()
        return f"`finetuned` now answers with **{adapter}**.", *self.listing()


def wire_training(blocks: gr.Blocks, ui: TrainingLayout, handlers: TrainingHandlers) -> None:
    """The Fine-tuning tab's events, the job poll and the adapter list at page load."""
    hidden = {"api_visibility": "private"}
    ui.upload.upload(handlers.store_upload, ui.upload, [ui.qa_file, ui.status], **hidden)
    ui.export.click(handlers.export_for_review, ui.min_votes, [ui.qa_file, ui.status, ui.voted], **hidden)
    ui.start.click(handlers.train, [ui.qa_file, ui.collection, ui.name, ui.epochs, ui.max_steps, ui.activate],
                   ui.status, concurrency_limit=1, concurrency_id="train", **hidden)
    ui.use.click(handlers.make_active, ui.chosen, [ui.used, ui.adapters, ui.chosen], **hidden)
    ui.retrain.click(handlers.retrain, ui.chosen, [ui.used, ui.status], concurrency_limit=1, concurrency_id="train",
                     **hidden)
    ui.timer.tick(handlers.poll, ui.seen, [ui.status, ui.seen, ui.adapters, ui.chosen], show_progress="hidden",
                  **hidden)
    blocks.load(handlers.listing, None, [ui.adapters, ui.chosen], **hidden)


def build_training_tab(blocks: gr.Blocks, handlers: TrainingHandlers) -> None:
    """Components and events of the Fine-tuning tab (call inside a `gr.Tab` of `blocks`)."""
    wire_training(blocks, training_layout(handlers.settings, handlers.jobs), handlers)
