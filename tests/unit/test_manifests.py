"""Manifests and saved training configs read back from JSON: what the current code writes loads; an unknown
field is refused with its name in the message, never ignored; a listing leaves the refused one out and keeps the
others."""

from __future__ import annotations

import json
import logging

import pytest

from chatbot.adapter_manifest import AdapterManifest, TrainMetrics
from chatbot.adapters import list_adapters
from chatbot.embedder_registry import list_tuned
from chatbot.manifests import ONNX_EXPORT_FIELDS, TUNED_EMBEDDER_FIELDS, ManifestError, read_manifest
from chatbot.settings import Settings
from training.config import TrainConfig, TrainingError

METRICS = TrainMetrics(train_loss=1.0, final_loss=0.9, eval_loss_before=None, eval_loss=None, eval_curve=[],
                       best_step=None, steps=2, steps_this_run=2, epochs=1.0, seconds=3.0, seconds_per_step=1.5,
                       seconds_all_runs=3.0, data_seconds=0.1, total_seconds=4.0, resumed_from=None,
                       loss_curve=[[1, 1.0]])


def adapter_manifest() -> dict:
    return AdapterManifest(name="a", base_model={"location": "m"}, quant="nf4", compute_dtype="float32",
                           data={"pairs": 3}, hyperparameters={"lr": 2e-4}, metrics=METRICS,
                           runtime={"device": "cpu"}).to_json()


def write_adapter(root, manifest: dict, name: str = "a") -> None:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text("{}")
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_an_adapter_manifest_written_by_the_current_code_loads(tmp_path):
    write_adapter(tmp_path, adapter_manifest())
    [adapter] = list_adapters(tmp_path)
    assert adapter.manifest == adapter_manifest() | {"created_at": adapter.manifest["created_at"]}


@pytest.mark.parametrize(("change", "field"), [
    (lambda m: m | {"colour": "blue"}, "'colour'"),
    (lambda m: m | {"metrics": m["metrics"] | {"step_count": 2}}, "'step_count'"),
])
def test_an_adapter_manifest_with_an_unknown_field_is_refused_by_name(tmp_path, caplog, change, field):
    write_adapter(tmp_path, adapter_manifest(), name="good")
    write_adapter(tmp_path, change(adapter_manifest()), name="odd")
    with caplog.at_level(logging.WARNING, logger="chatbot.adapters"):
        assert [a.name for a in list_adapters(tmp_path)] == ["good"]
    assert f"adapter odd left out: {tmp_path / 'odd' / 'manifest.json'}" in caplog.text
    assert f"unknown field {field}" in caplog.text


def test_a_tuned_embedder_manifest_with_an_unknown_field_is_refused_by_name(tmp_path, caplog):
    settings = Settings(home=tmp_path, _env_file=None)
    folder = tmp_path / "embedders" / "tuned-1"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    manifest = {name: {} for name in TUNED_EMBEDDER_FIELDS} | {"dimension": 384, "created_at": "2026-01-01"}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert [t.name for t in list_tuned(settings)] == ["tuned-1"]
    (folder / "manifest.json").write_text(json.dumps(manifest | {"dimensions": 384}))
    with caplog.at_level(logging.WARNING, logger="chatbot.embedder_registry"):
        assert list_tuned(settings) == []
    assert "tuned embedder tuned-1 left out" in caplog.text and "unknown field 'dimensions'" in caplog.text


def test_an_onnx_export_manifest_with_unknown_fields_names_them_all(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(dict.fromkeys(ONNX_EXPORT_FIELDS, 1) | {"opset": 17, "backend": "onnx"}))
    with pytest.raises(ManifestError, match="unknown fields 'backend', 'opset'"):
        read_manifest(path, ONNX_EXPORT_FIELDS)


def test_a_saved_training_config_with_an_unknown_field_is_refused_by_name():
    saved = TrainConfig(qa="qa.jsonl").to_json()
    TrainConfig.check_fields(saved)  # what the current code saves
    with pytest.raises(TrainingError, match="unknown training config field 'bf16'"):
        TrainConfig.check_fields(saved | {"bf16": True})
