"""Embedder work started from the admin UI: a tune, or a collection's switch to another embedder, as a job
(`chatbot.queue`, kind `embedder`, on the training queue) with visible progress."""

from __future__ import annotations

import dataclasses
from typing import Any

from chatbot.corpus import Corpus
from chatbot.embedder_admin import EmbedderAdmin, heldout_text
from chatbot.embedder_registry import BASE, EmbedderRegistryError, embedders_dir, get_tuned
from chatbot.queue.progress import Progress
from chatbot.queue.records import JobRecord
from chatbot.queue.service import JobQueue
from chatbot.queue.tasks import TRAINING_QUEUE, task
from training.embedder_pairs import PairSet
from training.embedder_tune import TuneConfig, tune

KIND = "embedder"
TRAIN_SHARE = 0.6  # of the bar when the tune is followed by a switch (the re-encoding takes the rest)


def _use(admin: EmbedderAdmin, name: str, collection: str, progress: Progress, start: float) -> dict[str, Any]:
    progress(start, f"loading '{name}' to encode '{collection}'")
    admin.named(name)

    def encoded(done: int, total: int) -> None:
        progress(start + (0.99 - start) * done / max(total, 1), f"encoded {done}/{total} chunks of '{collection}'")

    result = admin.use_embedder(name, collection, encoded)
    return {"collection": collection, "embedder": str(result.current), "previous (kept)": str(result.previous),
            "chunks": result.chunks}


def _tune(corpus: Corpus, admin: EmbedderAdmin, config: TuneConfig, progress: Progress, switch: bool) -> dict[str, Any]:
    share = TRAIN_SHARE if switch else 0.98
    progress(0.0, "building (query, passage) pairs from the store")

    def on_data(pairs: PairSet) -> None:
        progress(0.02, f"{len(pairs.train)} training pairs; loading the base embedder")

    def on_step(step: int, total: int, loss: float | None) -> None:
        shown = f", loss {loss:.3f}" if loss is not None else ""
        progress(0.03 + (share - 0.03) * step / max(total, 1), f"step {step}/{total}{shown}")

    result = tune(corpus, admin.settings, config, on_data=on_data, on_step=on_step)
    metrics = result.manifest["metrics"]
    check = heldout_text(metrics)
    summary = {"tuned": result.name, "pairs": result.manifest["data"]["train"], "steps": metrics["steps"],
               "held-out MRR@10": check or "not measured (no QA file and no generated questions)"}
    if switch:
        summary |= _use(admin, result.name, config.collection, progress, share)
    return summary


@task(KIND, TRAINING_QUEUE)
def embedder_task(services: Any, progress: Progress, action: str, collection: str, name: str | None = None,
                  config: dict[str, Any] | None = None, switch: bool = False) -> dict[str, Any]:
    """The job: `tune` (then, with `switch`, use) the embedder `config` describes, or `use` embedder `name`."""
    admin = services.embedder_admin
    if action == "tune":
        return _tune(services.corpus, admin, TuneConfig(**(config or {})), progress, switch)
    return _use(admin, name or BASE, collection, progress, 0.0)


def submit_tune(jobs: JobQueue, admin: EmbedderAdmin, config: TuneConfig, *, queued_by: str,
                switch: bool = False) -> JobRecord:
    """Queue a tune (then, with `switch`, the collection's switch to the new embedder); one per name at a time."""
    if (embedders_dir(admin.settings) / config.name).exists():
        raise EmbedderRegistryError(f"an embedder named '{config.name}' exists already: choose another")
    return jobs.submit(KIND, f"tune embedder '{config.name}' on '{config.collection}'",
                       {"action": "tune", "collection": config.collection, "config": dataclasses.asdict(config),
                        "switch": switch}, queued_by=queued_by, dedupe_key=f"embedder:{config.name}")


def submit_use(jobs: JobQueue, admin: EmbedderAdmin, name: str, collection: str, *, queued_by: str) -> JobRecord:
    """Queue a collection's switch to embedder `name` (`base`: the configured one); one per collection at a time."""
    if name != BASE:
        get_tuned(admin.settings, name)  # fail now on an unknown name
    return jobs.submit(KIND, f"switch '{collection}' to embedder '{name}'",
                       {"action": "use", "collection": collection, "name": name}, queued_by=queued_by,
                       dedupe_key=f"embedder-use:{collection}")
