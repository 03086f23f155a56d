"""Embedder work started from the admin UI: a tune, or a collection's switch to another embedder, as a background
job (`chatbot.jobs`: one at a time, after any training or evaluation queued before it) with visible progress."""

from __future__ import annotations

from typing import Any

from chatbot.corpus import Corpus
from chatbot.embedder_admin import EmbedderAdmin
from chatbot.embedder_registry import BASE, EmbedderRegistryError, embedders_dir, get_tuned
from chatbot.jobs import Job, JobRunner, Progress
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
    before, after = (metrics[k].get("mrr@10") for k in ("heldout_before", "heldout_after"))
    summary = {"tuned": result.name, "pairs": result.manifest["data"]["train"], "steps": metrics["steps"],
               "held-out MRR@10": f"{before} → {after}"}
    if switch:
        summary |= _use(admin, result.name, config.collection, progress, share)
    return summary


def _claimed(admin: EmbedderAdmin, jobs: JobRunner, name: str) -> bool:
    return (embedders_dir(admin.settings) / name).exists() or any(
        job.active and job.title.startswith(f"tune embedder '{name}'") for job in jobs.jobs(KIND))


def submit_tune(jobs: JobRunner, corpus: Corpus, admin: EmbedderAdmin, config: TuneConfig, *,
                switch: bool = False) -> Job:
    """Queue a tune (then, with `switch`, the collection's switch to the new embedder)."""
    if _claimed(admin, jobs, config.name):
        raise EmbedderRegistryError(f"an embedder named '{config.name}' exists or is being tuned: choose another")
    return jobs.submit(KIND, f"tune embedder '{config.name}' on '{config.collection}'",
                       lambda progress: _tune(corpus, admin, config, progress, switch))


def submit_use(jobs: JobRunner, admin: EmbedderAdmin, name: str, collection: str) -> Job:
    """Queue a collection's switch to embedder `name` (`base`: the configured one)."""
    if name != BASE:
        get_tuned(admin.settings, name)  # fail now on an unknown name
    return jobs.submit(KIND, f"switch '{collection}' to embedder '{name}'",
                       lambda progress: _use(admin, name, collection, progress, 0.0))
