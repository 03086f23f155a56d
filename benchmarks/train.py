"""Seconds per optimizer step of the default QLoRA recipe vs a plain float32 LoRA step on the same examples."""

from __future__ import annotations

import contextlib
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from chatbot import precision
from chatbot.models import base_model_location
from chatbot.services import Services
from chatbot.settings import Settings
from training.threads import training_threads
from training.train import TrainConfig, build_trainer, prepare_data

COLLECTION = "bench-train"


def step_timer() -> Any:
    """A callback recording each optimizer step's wall time."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.seconds: list[float] = []
            self._started = 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            self._started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.seconds.append(time.perf_counter() - self._started)

    return StepTimer()


def seconds_per_step(settings: Settings, config: TrainConfig, data: Any, chosen: precision.Precision) -> list[float]:
    """Train `config.max_steps` steps into a scratch folder (nothing saved or registered); each step's seconds."""
    with tempfile.TemporaryDirectory(prefix="ragbot-bench-train-") as run_dir:
        trainer, _ = build_trainer(settings, base_model_location(settings), config, data,
                                   Path(run_dir), chosen)
        timer = step_timer()
        trainer.add_callback(timer)
        with contextlib.redirect_stdout(sys.stderr):  # the trainer prints its logs; stdout is for the result
            trainer.train()
        del trainer
    return timer.seconds


def run_train_benchmark(services: Services, qa: Path, docs: Path, steps: int = 3, quant: str = "nf4",
                        seed: int = 0) -> dict[str, Any]:
    """The recipe (`quant`, in the policy's dtype) and a float32 LoRA without quantization, `steps` steps each
    on the same examples (built from `qa` over `docs`, ingested into a scratch collection); medians per step."""
    services.ingestor.ingest_paths([docs], COLLECTION)
    config = TrainConfig(qa=str(qa), collection=COLLECTION, quant=quant, max_steps=steps, val_fraction=0.0,
                         save_steps=steps + 1, redraw=False, seed=seed)
    try:
        data = prepare_data(services.corpus, config, COLLECTION, services.settings.top_k)
    finally:
        services.store.delete_collection(COLLECTION)
    policy = precision.resolve(services.settings)
    with training_threads(services.settings) as threads:
        recipe = seconds_per_step(services.settings, config, data, policy)
        fp32 = seconds_per_step(services.settings, dataclasses.replace(config, quant="none"), data,
                                precision.Precision("float32", policy.device, "the float32 LoRA baseline"))
    median = statistics.median
    return {
        "cpu": precision.cpu_report(services.settings),
        "quant": quant, "compute_dtype": policy.name, "reason": policy.reason, "threads": threads,
        "steps": steps, "examples": len(data.train), "batch_size": config.batch_size,
        "seconds_per_step": round(median(recipe), 2), "fp32_lora_seconds_per_step": round(median(fp32), 2),
        "ratio": round(median(recipe) / median(fp32), 3),
        "step_seconds": [round(s, 2) for s in recipe], "fp32_step_seconds": [round(s, 2) for s in fp32],
    }
