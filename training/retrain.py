"""Retrain an adapter in one step: a training job with the configuration its manifest recorded (the same QA file,
split, collection and hyperparameters) against the documents as they are now, under a new name. The new adapter
is made active when the one it replaces is the active one (unless its QA file is a votes export)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from chatbot.queue.records import JobRecord
from chatbot.queue.service import JobQueue
from chatbot.settings import Settings
from chatbot.storage.adapter_registry import AdapterRegistry, adapter_on_disk
from training.background import submit_training
from training.config import TrainConfig, TrainingError
from training.train import default_name


def recorded_manifest(registry: AdapterRegistry, settings: Settings, name: str) -> dict[str, Any]:
    """The manifest of adapter `name` (its files here, else its registry row); `TrainingError` when unknown."""
    disk = adapter_on_disk(settings.adapters_dir, name)
    manifest = (disk.manifest if disk else None) or next((r.manifest for r in registry.rows() if r.name == name), None)
    if not manifest:
        raise TrainingError(f"adapter '{name}' not found, or it has no manifest to retrain from")
    return manifest


def retrain_config(manifest: dict[str, Any]) -> TrainConfig:
    """The training config a manifest recorded, without a name (a new one is given when queued)."""
    data = manifest.get("data") or {}
    known = {f.name for f in dataclasses.fields(TrainConfig)} - {"qa", "split", "collection", "name"}
    hyper = {k: v for k, v in (manifest.get("hyperparameters") or {}).items() if k in known}
    qa = data.get("qa_file")
    if not qa or not Path(qa).is_file():
        raise TrainingError(f"the QA file the adapter was trained from is gone ({qa or 'not recorded'}): "
                            "train a new adapter from a QA file instead")
    return TrainConfig(qa=qa, split=data.get("split") or "train", collection=data.get("collection"), **hyper)


def submit_retraining(jobs: JobQueue, registry: AdapterRegistry, settings: Settings, name: str, *,
                      queued_by: str) -> JobRecord:
    """Queue the retraining of adapter `name` (`JobRefused`, `TrainingError` say why not)."""
    config = retrain_config(recorded_manifest(registry, settings, name))
    config = dataclasses.replace(config, name=default_name(config.collection or settings.collection))
    return submit_training(jobs, settings, config, queued_by=queued_by, activate=registry.active() == name)
