"""The adapter manifest's JSON: the keys readers of manifest.json know, in their order; served as trained."""

from __future__ import annotations

from chatbot.adapter_manifest import AdapterManifest, TrainMetrics


def test_manifest_json_keeps_its_keys_and_serves_on_the_training_quantization():
    metrics = TrainMetrics(train_loss=1.0, final_loss=0.9, eval_loss_before=None, eval_loss=None, eval_curve=[],
                           best_step=None, steps=2, steps_this_run=2, epochs=1.0, seconds=3.0, seconds_per_step=1.5,
                           seconds_all_runs=3.0, data_seconds=0.1, total_seconds=4.0, resumed_from=None,
                           loss_curve=[[1, 1.0]])
    manifest = AdapterManifest(name="a", base_model={"location": "m"}, quant="nf4", compute_dtype="float32",
                               data={"pairs": 3}, hyperparameters={"lr": 2e-4}, metrics=metrics,
                               runtime={"device": "cpu"}).to_json()
    assert list(manifest) == ["name", "format", "created_at", "base_model", "quant", "compute_dtype", "serve_on",
                              "prompt", "data", "hyperparameters", "metrics", "runtime"]
    assert manifest["serve_on"] == "nf4" and manifest["format"] == "peft-lora"
    assert manifest["created_at"].endswith("+00:00") and manifest["metrics"]["steps"] == 2
