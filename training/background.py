"""Training started from the admin UI: a job (`chatbot.queue`, on the training queue) with visible progress.

The same `training.train.train` as `ragbot train`. Votes never train directly: `export_votes` writes the voted
pairs (`chatbot.storage.feedback_export`) to `RAGBOT_HOME/qa/feedback-<time>.jsonl` for the admin to review, and an
adapter trained from such a file is never made active automatically."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from psycopg_pool import ConnectionPool

from chatbot.corpus import Corpus
from chatbot.qa_files import qa_dir
from chatbot.queue.progress import Progress
from chatbot.queue.records import JobRecord
from chatbot.queue.service import JobQueue
from chatbot.queue.tasks import TRAINING_QUEUE, task
from chatbot.settings import Settings
from chatbot.storage.adapter_registry import AdapterRegistry, use_adapter
from chatbot.storage.feedback_export import reviewed_pairs, write_pairs
from training.train import PreparedData, TrainConfig, TrainingError, runs_dir, train

KIND = "training"

LOAD_SHARE = 0.05  # of the progress bar: building examples and loading the base before the first step
VOTES_PREFIX = "feedback-"  # QA files exported from votes


def from_votes(qa: str | Path) -> bool:
    """Whether a QA file is a votes export (its adapter is then never activated automatically)."""
    return Path(qa).name.startswith(VOTES_PREFIX)


def _train_with_progress(corpus: Corpus, registry: AdapterRegistry, settings: Settings, config: TrainConfig,
                         progress: Progress, activate: bool) -> dict[str, Any]:
    progress(0.0, "building the training examples from the QA pairs and the store")

    def on_data(data: PreparedData) -> None:
        progress(0.02, f"{len(data.train)} training + {len(data.validation)} validation examples; "
                       "loading the base model")

    def on_step(step: int, total: int, loss: float | None) -> None:
        shown = f", loss {loss:.3f}" if loss is not None else ""
        progress(LOAD_SHARE + (1 - LOAD_SHARE) * step / max(total, 1), f"step {step}/{total}{shown}")

    result = train(corpus, registry, settings, config, on_data=on_data, on_step=on_step)
    activate = activate and not from_votes(config.qa)
    if activate:
        use_adapter(registry, settings.adapters_dir, result.name)
    metrics = result.manifest["metrics"]
    return {"adapter": result.name, "active": activate, "path": str(result.path),
            **{k: metrics[k] for k in ("steps", "seconds", "train_loss", "eval_loss", "eval_loss_before")}}


@task(KIND, TRAINING_QUEUE)
def training_task(services: Any, progress: Progress, config: dict[str, Any], activate: bool) -> dict[str, Any]:
    """The job: train the adapter `config` names (and make it active when asked)."""
    return _train_with_progress(services.corpus, services.adapter_registry, services.settings, TrainConfig(**config),
                                progress, activate)


def _claim(settings: Settings, name: str) -> None:
    """Refuse a name an adapter or a run already has (a new run must not resume an old one); a queued or running
    training of the name is refused by the database (`submit_training`)."""
    if (settings.adapters_dir / name).exists() or (runs_dir(settings) / name).exists():
        raise TrainingError(f"an adapter or run named '{name}' exists already: choose another name")


def submit_training(jobs: JobQueue, settings: Settings, config: TrainConfig, *, queued_by: str,
                    activate: bool = False) -> JobRecord:
    """Queue a training run; the adapter is registered (and made active when asked, unless the QA file is a
    votes export: try it in Compare first) when it finishes. At most one training per adapter name at a time
    (`JobRefused` names the holder)."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    name = config.name or f"{config.collection or settings.collection}-{stamp}"
    _claim(settings, name)
    config = dataclasses.replace(config, name=name)
    return jobs.submit(KIND, f"train adapter '{name}'", {"config": dataclasses.asdict(config), "activate": activate},
                       queued_by=queued_by, dedupe_key=f"training:{name}")


@dataclass(frozen=True)
class VotesExport:
    path: Path
    pairs: list[dict[str, Any]]


def export_votes(pool: ConnectionPool, settings: Settings, *, since: datetime | None = None,
                 min_votes: int | None = None) -> VotesExport:
    """Write the pairs enough distinct clients voted for (`settings.min_votes` unless given) to a new QA file
    for the admin to review; `TrainingError` (and no file) when there are none."""
    min_votes = min_votes or settings.min_votes
    pairs = reviewed_pairs(pool, since, min_votes)
    if not pairs:
        raise TrainingError(f"no answer has positive votes from {min_votes} or more clients yet: thumbs-up answers "
                            "and blind-vote winners become training pairs")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path = qa_dir(settings) / f"{VOTES_PREFIX}{stamp}.jsonl"
    write_pairs(path, pairs)
    return VotesExport(path, pairs)
