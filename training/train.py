"""QLoRA fine-tuning of the base generator on RAFT-style examples (TRL's SFTTrainer, completion-only loss).

The base is quantized to 4-bit NF4 (bitsandbytes) and computes in the precision policy's dtype. On CUDA it stays
4-bit, prepared for k-bit training without gradient checkpointing; on a CPU its NF4 values are dequantized once
to float32 (as they are served), since bitsandbytes' CPU layers dequantize at every call. A LoRA adapter on every
linear layer of attention and MLP is trained on the answer tokens only. The adapter is saved in standard PEFT
format under `RAGBOT_HOME/adapters/<name>/` (staged, then renamed into place) with a `manifest.json`, and
registered in Postgres. Checkpoints go to `RAGBOT_HOME/runs/<name>/` so that `--resume` can continue an interrupted run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import random
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatbot.adapter_manifest import AdapterManifest, TrainMetrics, utc_now, versions
from chatbot.precision import Precision
from chatbot.quantization import Quant, quantization_config
from chatbot.settings import GenerationSettings, Settings, StorageSettings
from chatbot.storage.document_versions import document_versions
from training.config import TrainConfig, TrainingError
from training.dataset import (
    BuildStats,
    Example,
    QAPair,
    build_examples,
    examples_sha256,
    file_sha256,
    load_qa,
    write_jsonl,
)
from training.threads import training_threads

if TYPE_CHECKING:
    from chatbot.corpus import Corpus
    from chatbot.storage.adapter_registry import AdapterRegistry

log = logging.getLogger(__name__)

@dataclass
class PreparedData:
    train: list[Example]  # `draws` examples per training pair
    validation: list[Example]
    stats: BuildStats
    pairs: list[QAPair]
    qa_sha256: str
    data_sha256: str
    draws: int = 1
    documents: list[dict[str, Any]] | None = None  # what the examples drew on (None: a run from before this)


def draws_for(config: TrainConfig, train_pairs: int) -> int:
    """How many draws of each training pair: one per epoch begun (with --redraw), else one."""
    if not config.redraw or train_pairs == 0:
        return 1
    if config.max_steps:
        return max(1, math.ceil(config.max_steps * config.batch_size / train_pairs))
    return max(1, math.ceil(config.epochs))


@dataclass
class TrainResult:
    name: str
    path: Path
    manifest: dict[str, Any]
    data: dict[str, Any] = field(default_factory=dict)


# --- data ----------------------------------------------------------------------------------------


def validation_split(pairs: list[QAPair], fraction: float, seed: int) -> tuple[list[QAPair], list[QAPair]]:
    """A held-out slice of the pairs (at least 1 when there are 2 or more and fraction > 0)."""
    if fraction <= 0 or len(pairs) < 2:
        return list(pairs), []
    count = min(len(pairs) - 1, max(1, round(len(pairs) * fraction)))
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    held = set(order[:count])
    return [p for i, p in enumerate(pairs) if i not in held], [p for i, p in enumerate(pairs) if i in held]


def prepare_data(corpus: Corpus, config: TrainConfig, collection: str, top_k: int) -> PreparedData:
    """The examples of `config` from `collection` (`top_k` sources each unless `config.k` says)."""
    qa_path = Path(config.qa)
    pairs = load_qa(qa_path, config.split)
    train_pairs, val_pairs = validation_split(pairs, config.val_fraction, config.seed)
    draws = draws_for(config, len(train_pairs))
    options = {"k": config.k or top_k, "p": config.oracle_p, "seed": config.seed, "order": config.source_order}
    train, stats = build_examples(corpus, train_pairs, collection, draws=draws, **options)
    validation, val_stats = (build_examples(corpus, val_pairs, collection, **options) if val_pairs
                             else ([], BuildStats()))
    return PreparedData(train, validation, stats + val_stats, pairs, file_sha256(qa_path),
                        examples_sha256(train + validation), draws, drawn_documents(corpus, train + validation))


def drawn_documents(corpus: Corpus, examples: list[Example]) -> list[dict[str, Any]]:
    """The documents the examples drew on (sources and oracles), with their content sha256 now: the adapter is
    stale once any of them changes (`chatbot.adapter_staleness`)."""
    ids = {i for example in examples for i in example.document_ids}
    return [d.to_json() for d in document_versions(corpus.store.pool, ids)]


def read_examples(path: Path) -> list[Example]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [Example(messages=row["messages"], question_id="") for row in rows]


def saved_data(run_dir: Path, config: TrainConfig) -> PreparedData:
    """The exact examples a run was started with (a resumed run must not see a rebuilt, drifted set:
    retrieval ties in a live store can reorder distractors). Refuses when the QA file itself changed."""
    saved = json.loads((run_dir / "run.json").read_text())
    qa_path = Path(config.qa)
    qa_hash = file_sha256(qa_path)
    if saved.get("qa_sha256") and saved["qa_sha256"] != qa_hash:
        raise TrainingError(f"{qa_path} changed since run '{run_dir.name}' started: start a new run instead")
    train, validation = read_examples(run_dir / "train.jsonl"), read_examples(run_dir / "validation.jsonl")
    digest = examples_sha256(train + validation)
    if saved.get("data_sha256") and saved["data_sha256"] != digest:
        raise TrainingError(f"the saved examples of run '{run_dir.name}' were modified: start a new run instead")
    stats = BuildStats.from_json(saved.get("stats") or {})
    return PreparedData(train, validation, stats, load_qa(qa_path, config.split), qa_hash, digest,
                        int(saved.get("draws", 1)), saved.get("documents"))


def to_prompt_completion(example: Example) -> dict[str, Any]:
    """TRL's conversational prompt-completion form: the loss falls on the completion (the answer) only."""
    return {"prompt": example.messages[:-1], "completion": example.messages[-1:]}


# --- the base model ------------------------------------------------------------------------------


def load_base(location: str, quant: Quant, precision: Precision) -> Any:
    """The base causal LM, quantized as asked (computing in the policy's dtype), on `precision.device`. Without
    quantization the weights stay float32: LoRA then trains under autocast to the policy's dtype."""
    import torch
    from transformers import AutoModelForCausalLM

    qconfig = quantization_config(quant, precision.dtype)
    model = AutoModelForCausalLM.from_pretrained(
        location,
        quantization_config=qconfig,
        dtype=precision.dtype if qconfig is not None else torch.float32,
        device_map={"": 0} if precision.device == "cuda" else "cpu",
    )
    if qconfig is not None and precision.device == "cpu":
        # The quantized values, dequantized once, as served: bitsandbytes' CPU layers would redo it at every call.
        model = model.dequantize(dtype=torch.float32)
        model.is_loaded_in_4bit = model.is_loaded_in_8bit = False  # else TRL casts the LoRA weights to bf16
    model.config.use_cache = False
    return model


def model_files(location: str) -> list[Path]:
    folder = Path(location)
    if not folder.is_dir():
        return []
    return sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))


def model_sha256(location: str, cache_file: Path | None) -> str | None:
    """sha256 of the base's weight file(s) (of their hashes, when sharded), cached by path, size and mtime.
    None for a hub id (its revision identifies it). Measured: 538 MB in 0.5 s warm, 2.3 s cold."""
    files = model_files(location)
    if not files:
        return None
    cache: dict[str, Any] = {}
    if cache_file is not None and cache_file.is_file():
        try:
            cache = json.loads(cache_file.read_text())
        except (OSError, ValueError):
            cache = {}
    digests, changed = [], False
    for path in files:
        stat = path.stat()
        key = str(path.resolve())
        entry = cache.get(key)
        if not entry or entry.get("size") != stat.st_size or entry.get("mtime_ns") != stat.st_mtime_ns:
            entry = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": file_sha256(path)}
            cache[key], changed = entry, True
        digests.append(entry["sha256"])
    if changed and cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        staged = cache_file.with_name(f".{cache_file.name}.{uuid.uuid4().hex[:8]}")
        staged.write_text(json.dumps(cache, indent=1))
        staged.replace(cache_file)
    if len(digests) == 1:
        return digests[0]
    return hashlib.sha256("\n".join(digests).encode()).hexdigest()


def thread_callback(settings: Settings) -> Any:
    """Re-check the free cores before each optimizer step (only when the thread count is automatic)."""
    from transformers import TrainerCallback

    from training.threads import adapt_threads

    class AdaptThreads(TrainerCallback):
        def __init__(self) -> None:
            self.seen: list[int] = []

        def on_step_begin(self, args, state, control, **kwargs):
            threads = adapt_threads(settings)
            if not self.seen or self.seen[-1] != threads:
                self.seen.append(threads)

    return AdaptThreads()


def step_callback(on_step: Callable[[int, int, float | None], None]) -> Any:
    """Report (step, total steps, last training loss) after each optimizer step."""
    from transformers import TrainerCallback

    class ReportSteps(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            losses = [entry["loss"] for entry in state.log_history[-2:] if "loss" in entry]
            on_step(int(state.global_step), int(state.max_steps), losses[-1] if losses else None)

    return ReportSteps()


# --- runs ----------------------------------------------------------------------------------------


def record_segment(run_dir: Path, steps: int, seconds: float, *, fresh: bool) -> float:
    """Append this run's training time to the run's `segments.json`; the training seconds of every segment."""
    path = run_dir / "segments.json"
    segments = [] if fresh or not path.is_file() else json.loads(path.read_text())
    segments.append({"steps": steps, "seconds": round(seconds, 1)})
    path.write_text(json.dumps(segments))
    return sum(s["seconds"] for s in segments)


def runs_dir(settings: StorageSettings) -> Path:
    return settings.home / "runs"


def last_checkpoint(run_dir: Path) -> Path | None:
    from transformers.trainer_utils import get_last_checkpoint

    return Path(found) if run_dir.is_dir() and (found := get_last_checkpoint(str(run_dir))) else None


def resumable_run(settings: Settings, name: str | None) -> tuple[str, dict[str, Any]]:
    """The run to resume: the named one, else the most recent with a checkpoint; with its saved config."""
    root = runs_dir(settings)
    if name:
        candidates = [root / name]
    else:
        candidates = sorted((p for p in root.glob("*") if p.is_dir() and not p.name.startswith(".")),
                            key=lambda p: p.stat().st_mtime, reverse=True) if root.is_dir() else []
    for run in candidates:
        if last_checkpoint(run) is not None and (run / "run.json").is_file():
            saved = json.loads((run / "run.json").read_text())["config"]
            TrainConfig.check_fields(saved)
            return run.name, saved
    which = f"run '{name}'" if name else "any run"
    raise TrainingError(f"nothing to resume: no checkpoint for {which} under {root}")


def default_name(collection: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    safe = "".join(c if c.isalnum() or c in "._-" else "-" for c in collection).strip("-._") or "adapter"
    return f"{safe[:40]}-{stamp}"


def build_trainer(settings: GenerationSettings, location: str, config: TrainConfig, data: PreparedData, run_dir: Path,
                  precision: Precision) -> tuple[Any, int]:
    """The SFT trainer around the base loaded as `config.quant`, and the longest sequence it trains on."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(location)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = load_base(location, config.quant, precision)
    window = int(getattr(model.config, "max_position_embeddings", settings.context_window) or 0)
    max_length = config.max_length or min(settings.context_window, window or settings.context_window)
    return make_trainer(model, tokenizer, config, data, run_dir, max_length, precision), max_length


def make_trainer(model: Any, tokenizer: Any, config: TrainConfig, data: PreparedData, run_dir: Path,
                 max_length: int, precision: Precision) -> Any:
    import torch
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from trl import SFTTrainer

    if getattr(model, "is_quantized", False):
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    lora = LoraConfig(
        r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
        target_modules=config.target_modules, bias="none", task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, lora)
    has_val = bool(data.validation)
    args = sft_config(config, data, run_dir, max_length, precision)
    train_set = Dataset.from_list([to_prompt_completion(e) for e in data.train])
    val_set = Dataset.from_list([to_prompt_completion(e) for e in data.validation]) if has_val else None
    trainer = SFTTrainer(model=model, args=args, train_dataset=train_set, eval_dataset=val_set,
                         processing_class=tokenizer)
    if precision.name != "bfloat16":  # TRL casts a quantized model's LoRA weights to bf16, slow where not native
        for param in trainer.model.parameters():
            if param.requires_grad and param.dtype == torch.bfloat16:
                param.data = param.data.float()
    return trainer


def sft_config(config: TrainConfig, data: PreparedData, run_dir: Path, max_length: int, precision: Precision) -> Any:
    """TRL's training arguments for `config` in `precision`."""
    from trl import SFTConfig

    has_val = bool(data.validation)
    device = precision.device
    micro = config.micro_batch_size or (1 if device == "cpu" else config.batch_size)
    micro = min(micro, config.batch_size)
    return SFTConfig(
        output_dir=str(run_dir),
        num_train_epochs=config.epochs / data.draws,  # the examples hold one draw per epoch
        max_steps=config.max_steps or -1,
        per_device_train_batch_size=micro,
        per_device_eval_batch_size=micro,
        gradient_accumulation_steps=max(1, config.batch_size // micro),
        learning_rate=config.lr,
        lr_scheduler_type="cosine",
        warmup_steps=config.warmup_ratio,  # transformers 5: a float < 1 is a ratio of the total steps
        weight_decay=0.0,
        logging_steps=1,
        logging_first_step=True,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=2,  # the last checkpoint and the best by validation loss
        # Small QA sets overfit within a few epochs: the adapter kept is the one with the lowest validation loss.
        eval_strategy="steps" if has_val else "no",
        eval_steps=config.save_steps,
        load_best_model_at_end=has_val,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        activation_checkpointing=False,  # (transformers 5 name of gradient_checkpointing) +40–60 % per step
        bf16=precision.name == "bfloat16",  # the policy's dtype (measured: emulated bf16 is 17× slower a step)
        fp16=precision.name == "float16",
        use_cpu=device == "cpu",
        seed=config.seed,
        data_seed=config.seed,
        max_length=max_length,
        truncation_mode="keep_start",
        completion_only_loss=True,
        packing=False,
        # CPU: every new sequence length leaves ~100 MB of per-shape kernel state behind (measured: RSS 2.0 →
        # 7.2 GB over 19 steps); padding to a multiple of 128 bounds the shapes (RSS flat at 2.7 GB), ~6 % waste.
        pad_to_multiple_of=128 if device == "cpu" else None,
        dataloader_num_workers=0,
        report_to="none",
        disable_tqdm=False,
        dataset_num_proc=None,
    )


def loss_curve(log_history: list[dict[str, Any]], key: str = "loss") -> list[list[float]]:
    return [[entry["step"], round(float(entry[key]), 4)] for entry in log_history if key in entry]


def train(corpus: Corpus, registry: AdapterRegistry, settings: Settings, config: TrainConfig, *, resume: bool = False,
          on_data: Callable[[PreparedData], None] | None = None,
          on_step: Callable[[int, int, float | None], None] | None = None) -> TrainResult:
    """Build the examples, train, save the adapter atomically with its manifest, register it.
    `on_data` sees the examples before training; `on_step` gets (step, total, loss) after each step."""
    import torch
    from transformers import set_seed

    config, run_dir, checkpoint = _start_run(settings, config, resume)
    with training_threads(settings) as threads:  # before any work of ours, so that the load average is the others'
        set_seed(config.seed)
        started = time.perf_counter()
        data = _stage_data(corpus, settings.top_k, config, run_dir, checkpoint, on_data)
        data_seconds = time.perf_counter() - started
        fitted = _fit(settings, config, data, run_dir, checkpoint, on_step)
        metrics = train_metrics(fitted, data, run_dir, checkpoint, data_seconds, started)
        manifest = adapter_manifest(settings, config, data, fitted, metrics, threads).to_json()
        target = _save_adapter(settings, config.name, fitted.trainer, manifest)
        registry.register(config.name, target, manifest)
        device = fitted.precision.device
        del fitted
        if device == "cuda":
            torch.cuda.empty_cache()
    return TrainResult(config.name, target, manifest, data.stats.to_json())


def _start_run(settings: Settings, config: TrainConfig, resume: bool) -> tuple[TrainConfig, Path, Path | None]:
    """The config with its collection and name filled in, the run's folder, and the checkpoint to resume."""
    collection = config.collection or settings.collection
    config = dataclasses.replace(config, collection=collection, name=config.name or default_name(collection))
    run_dir = runs_dir(settings) / config.name
    checkpoint = last_checkpoint(run_dir) if resume else None
    if resume and checkpoint is None:
        raise TrainingError(f"nothing to resume: no checkpoint in {run_dir}")
    return config, run_dir, checkpoint


def _stage_data(corpus: Corpus, top_k: int, config: TrainConfig, run_dir: Path, checkpoint: Path | None,
                on_data: Callable[[PreparedData], None] | None) -> PreparedData:
    """The examples: those saved in the run when resuming it, else built and saved there with the run's config."""
    resuming = checkpoint is not None and (run_dir / "train.jsonl").is_file() and (run_dir / "run.json").is_file()
    data = saved_data(run_dir, config) if resuming else prepare_data(corpus, config, config.collection, top_k)
    if not data.train:
        raise TrainingError("no training examples")
    if on_data is not None:
        on_data(data)
    if not resuming:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_jsonl(data.train, run_dir / "train.jsonl")
        write_jsonl(data.validation, run_dir / "validation.jsonl")
        (run_dir / "run.json").write_text(json.dumps({
            "config": config.to_json(), "qa_sha256": data.qa_sha256, "data_sha256": data.data_sha256,
            "stats": data.stats.to_json(), "draws": data.draws, "documents": data.documents, "started_at": utc_now(),
        }, indent=1))
    return data


@dataclass
class Fitted:
    """A finished training run: the trainer (with the adapted model) and what was measured around it."""

    trainer: Any
    location: str
    precision: Precision
    max_length: int
    output: Any  # the trainer's TrainOutput
    seconds: float
    eval_before: float | None
    eval_after: float | None
    eval_curve: list[list[float]]
    threads_seen: list[int] | None


def _fit(settings: Settings, config: TrainConfig, data: PreparedData, run_dir: Path, checkpoint: Path | None,
         on_step: Callable[[int, int, float | None], None] | None) -> Fitted:
    """Train (from `checkpoint` when given), with the validation loss before and after."""
    from chatbot.models import base_model_location
    from chatbot.precision import resolve as resolve_precision

    location = base_model_location(settings)
    precision = resolve_precision(settings)
    log.info("training in %s on %s: %s", precision.name, precision.device, precision.reason)
    trainer, max_length = build_trainer(settings, location, config, data, run_dir, precision)
    threads_seen = None
    if precision.device == "cpu" and not settings.torch_threads:
        threads_seen = thread_callback(settings)
        trainer.add_callback(threads_seen)
    if on_step is not None:
        trainer.add_callback(step_callback(on_step))
    eval_before = trainer.evaluate()["eval_loss"] if data.validation and checkpoint is None else None
    train_started = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    seconds = time.perf_counter() - train_started
    eval_curve = loss_curve(trainer.state.log_history, "eval_loss")  # before the closing evaluation logs its own
    eval_after = trainer.evaluate()["eval_loss"] if data.validation else None
    return Fitted(trainer, location, precision, max_length, output, seconds, eval_before, eval_after, eval_curve,
                  threads_seen.seen if threads_seen is not None else None)


def _rounded(value: float | None) -> float | None:
    return round(float(value), 4) if value is not None else None


def train_metrics(fitted: Fitted, data: PreparedData, run_dir: Path, checkpoint: Path | None, data_seconds: float,
                  started: float) -> TrainMetrics:
    """The run's losses, steps and times (this run's training time is recorded in the run's segments)."""
    state = fitted.trainer.state
    steps = int(state.global_step)
    steps_this_run = steps - (int(checkpoint.name.rsplit("-", 1)[1]) if checkpoint else 0)
    all_runs = record_segment(run_dir, steps_this_run, fitted.seconds, fresh=checkpoint is None)
    curve = loss_curve(state.log_history)
    return TrainMetrics(
        train_loss=round(float(fitted.output.training_loss), 4), final_loss=curve[-1][1] if curve else None,
        eval_loss_before=_rounded(fitted.eval_before), eval_loss=_rounded(fitted.eval_after),
        eval_curve=fitted.eval_curve, best_step=best_step(state.best_model_checkpoint), steps=steps,
        steps_this_run=steps_this_run, epochs=round(float(state.epoch or 0.0) * data.draws, 3),
        seconds=round(fitted.seconds, 1), seconds_per_step=round(fitted.seconds / max(steps_this_run, 1), 2),
        seconds_all_runs=round(all_runs, 1), data_seconds=round(data_seconds, 1),
        total_seconds=round(time.perf_counter() - started, 1),
        resumed_from=checkpoint.name if checkpoint else None, loss_curve=curve,
    )


def adapter_manifest(settings: Settings, config: TrainConfig, data: PreparedData, fitted: Fitted,
                     metrics: TrainMetrics, threads: int) -> AdapterManifest:
    """What the adapter was trained from (base, data) and how (hyperparameters, runtime)."""
    args = fitted.trainer.args
    targets = fitted.trainer.model.peft_config["default"].target_modules
    device = fitted.precision.device
    return AdapterManifest(
        name=config.name,
        base_model={"location": fitted.location,
                    "sha256": model_sha256(fitted.location, settings.home / "cache" / "model-sha256.json"),
                    "files": [p.name for p in model_files(fitted.location)]},
        quant=config.quant,
        compute_dtype=fitted.precision.name,
        data={"qa_file": str(Path(config.qa).resolve()), "qa_sha256": data.qa_sha256, "split": config.split,
              "collection": config.collection, "pairs": len(data.pairs), "train_examples": len(data.train),
              "draws": data.draws, "validation_examples": len(data.validation), "sha256": data.data_sha256,
              "k": config.k or settings.top_k, "oracle_p": config.oracle_p,
              **({"documents": data.documents} if data.documents is not None else {}),
              **{f"build_{k}": v for k, v in data.stats.to_json().items() if k != "unmatched_documents"}},
        hyperparameters={
            **{k: v for k, v in config.to_json().items() if k not in ("qa", "collection", "name", "split")},
            "target_modules": sorted(targets) if isinstance(targets, set | list) else targets,
            "max_length": fitted.max_length, "optimizer": str(args.optim),
            "lr_scheduler": str(args.lr_scheduler_type)},
        metrics=metrics,
        runtime={"device": device, "torch_threads": threads if device == "cpu" else None,
                 "torch_threads_used": fitted.threads_seen, "precision": fitted.precision.to_json(), **versions()},
    )


def _save_adapter(settings: StorageSettings, name: str, trainer: Any, manifest: dict[str, Any]) -> Path:
    """Save the adapter with its manifest into a staging folder, then move it into place."""
    from chatbot.storage.adapter_registry import install_adapter

    target = settings.adapters_dir / name
    settings.adapters_dir.mkdir(parents=True, exist_ok=True)
    staged = settings.adapters_dir / f".staging-{name}-{uuid.uuid4().hex[:8]}"
    try:
        trainer.model.save_pretrained(str(staged))
        (staged / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False))
        install_adapter(staged, target)
    finally:
        if staged.exists():
            import shutil

            shutil.rmtree(staged, ignore_errors=True)
    return target


def dry_run(corpus: Corpus, settings: Settings, config: TrainConfig, out: Path | None = None) -> dict[str, Any]:
    """Build the examples only; write them (train + validation) as chat JSONL for inspection."""
    collection = config.collection or settings.collection
    config = dataclasses.replace(config, collection=collection)
    data = prepare_data(corpus, config, collection, settings.top_k)
    out = out or (runs_dir(settings) / "dry-run" / f"{default_name(collection)}.jsonl")
    written = write_jsonl(data.train + data.validation, out)
    return {
        "out": str(out),
        "examples": written,
        "train_examples": len(data.train),
        "validation_examples": len(data.validation),
        "data_sha256": data.data_sha256,
        **data.stats.to_json(),
        "first": data.train[0].row() if data.train else None,
    }


def best_step(checkpoint: str | None) -> int | None:
    """The step of the checkpoint kept for its validation loss (None without validation)."""
    return int(checkpoint.rsplit("-", 1)[1]) if checkpoint else None


def estimate_steps(data: PreparedData, config: TrainConfig) -> int:
    if config.max_steps:
        return config.max_steps
    return math.ceil(math.ceil(len(data.train) / config.batch_size) * config.epochs / data.draws)


def log_to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
