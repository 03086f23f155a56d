"""Training started from the admin UI: a background job (see `chatbot.jobs`) with visible progress.

The same `training.train.train` as `ragbot train`; from feedback, the votes are first exported with
`chatbot.feedback_export` into `RAGBOT_HOME/qa/` (the file `ragbot feedback export` would write)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from chatbot.adapter_registry import use_adapter
from chatbot.feedback_export import export_feedback
from chatbot.jobs import Job, Progress
from chatbot.qa_files import qa_dir
from chatbot.services import Services
from training.train import PreparedData, TrainConfig, TrainingError, runs_dir, train

LOAD_SHARE = 0.05  # of the progress bar: building examples and loading the base before the first step


def _train_with_progress(services: Services, config: TrainConfig, progress: Progress, activate: bool) -> dict[str, Any]:
    progress(0.0, "building the training examples from the QA pairs and the store")

    def on_data(data: PreparedData) -> None:
        progress(0.02, f"{len(data.train)} training + {len(data.validation)} validation examples; "
                       "loading the base model")

    def on_step(step: int, total: int, loss: float | None) -> None:
        shown = f", loss {loss:.3f}" if loss is not None else ""
        progress(LOAD_SHARE + (1 - LOAD_SHARE) * step / max(total, 1), f"step {step}/{total}{shown}")

    result = train(services, config, on_data=on_data, on_step=on_step)
    if activate:
        use_adapter(services.adapter_registry, services.settings.adapters_dir, result.name)
    metrics = result.manifest["metrics"]
    return {"adapter": result.name, "active": activate, "path": str(result.path),
            **{k: metrics[k] for k in ("steps", "seconds", "train_loss", "eval_loss", "eval_loss_before")}}


def _claim(services: Services, name: str) -> None:
    """Refuse a name an adapter, a run or a queued job already has (a new run must not resume an old one)."""
    taken = (services.settings.adapters_dir / name).exists() or (runs_dir(services.settings) / name).exists()
    if taken or any(job.active and job.title.startswith(f"train adapter '{name}'") for job in services.jobs.jobs()):
        raise TrainingError(f"an adapter or run named '{name}' exists already: choose another name")


def submit_training(services: Services, config: TrainConfig, *, activate: bool = False) -> Job:
    """Queue a training run; the adapter is registered (and made active when asked) when it finishes."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    name = config.name or f"{config.collection or services.settings.collection}-{stamp}"
    _claim(services, name)
    config = dataclasses.replace(config, name=name)
    return services.jobs.submit("training", f"train adapter '{name}'",
                                lambda progress: _train_with_progress(services, config, progress, activate))


def submit_feedback_training(services: Services, config: TrainConfig, *, since: datetime | None = None,
                             min_votes: int = 1, activate: bool = False) -> Job:
    """Export the voted answers to a QA file, then train on it (fails clearly when there are no votes)."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path = qa_dir(services.settings) / f"feedback-{stamp}.jsonl"

    def run(progress: Progress) -> dict[str, Any]:
        progress(0.0, "exporting the voted answers")
        pairs = export_feedback(services.pool, path, since, min_votes)
        if not pairs:
            path.unlink(missing_ok=True)
            raise TrainingError("no answers have positive votes yet: thumbs-up answers and blind-vote winners "
                                "become training pairs")
        tuned = dataclasses.replace(config, qa=str(path), split="train")
        return {"pairs": pairs, "qa_file": str(path), **_train_with_progress(services, tuned, progress, activate)}

    name = config.name or f"feedback-{stamp}"
    _claim(services, name)
    config = dataclasses.replace(config, name=name, qa=str(path))
    return services.jobs.submit("training", f"train adapter '{name}' from feedback", run)
