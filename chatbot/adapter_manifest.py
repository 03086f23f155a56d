"""The manifest saved beside a trained adapter (`manifest.json`) and registered with it: what the adapter was
trained from, how, what the run measured, and on what it ran. Its JSON is the dataclass's fields, in order."""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def versions() -> dict[str, str]:
    """The installed versions of the training stack."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("torch", "transformers", "peft", "trl", "bitsandbytes", "accelerate"):
        with contextlib.suppress(PackageNotFoundError):
            found[package] = version(package)
    return found


@dataclass(frozen=True)
class TrainMetrics:
    train_loss: float
    final_loss: float | None
    eval_loss_before: float | None
    eval_loss: float | None
    eval_curve: list[list[float]]
    best_step: int | None  # the step of the checkpoint kept for its validation loss
    steps: int
    steps_this_run: int
    epochs: float
    seconds: float
    seconds_per_step: float
    seconds_all_runs: float  # with the interrupted runs this one resumed
    data_seconds: float
    total_seconds: float
    resumed_from: str | None
    loss_curve: list[list[float]]


@dataclass(frozen=True, kw_only=True)
class AdapterManifest:
    name: str
    format: str = "peft-lora"
    created_at: str = field(default_factory=utc_now)
    base_model: dict[str, Any]  # location, sha256, files
    quant: str
    compute_dtype: str
    serve_on: str = field(init=False)  # serve on the base quantized as in training (measured: F1 0.319 vs 0.257)
    prompt: str = "chatbot.prompts.rag_messages"
    data: dict[str, Any]
    hyperparameters: dict[str, Any]
    metrics: TrainMetrics
    runtime: dict[str, Any]

    def __post_init__(self) -> None:
        object.__setattr__(self, "serve_on", self.quant)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
