"""Tune the embedder on a collection's store (`ragbot embedder tune`): sentence-transformers' trainer on the CPU,
from (query, passage) pairs (`training.embedder_pairs`), in batches free of duplicates, with
MultipleNegativesRankingLoss (the other passages of a batch are the negatives). With `hard_negatives`, each pair
also gets a mined hard negative (`training.hard_negatives`) and the loss is GISTEmbedLoss, guided by the base
embedder (negatives the guide scores above the positive are dropped): +0.020 hybrid nDCG@10 on git-docs at
`mix` 1, −0.015 on postgres-docs, so it is off by default (docs/embedders.md). Saved to `RAGBOT_HOME/embedders/<name>/`
with a manifest: base model, data hash, pair counts, training arguments, metrics, precision.

Training time grows with pairs × tokens: `max_pairs` bounds the first and `max_seq_length` the second (passages
are chunks of `RAGBOT_CHUNK_SIZE` tokens, cut there while training only; the saved model keeps the base's limit).
"""

from __future__ import annotations

import json
import math
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from chatbot.embedder_registry import MANIFEST, check_name, embedders_dir, install, tuned_identity
from chatbot.models import embedder_location, embedder_name
from training.embedder_pairs import SENTENCE_SHARE, Pair, PairSet, build_pairs
from training.hard_negatives import mine_negatives, top_chunks

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer

    from chatbot.corpus import Corpus
    from chatbot.settings import Settings

OnStep = Callable[[int, int, float | None], None]
DEFAULT_QUESTIONS = 256  # half of them the check without a QA file (training.generated_pairs)
DISTRACTORS = 2000  # other chunks of the collection the held-out queries are ranked among
DEFAULT_LEARNING_RATE = 1e-4  # 3e-5 before: +0.015 hybrid nDCG@10 on git-docs, 1e-4 +0.027 (docs/embedders.md)
DEFAULT_MIX = 0.5  # WiSE-FT (Wortsman et al., 2022): halfway between the base and the tuned weights


@dataclass(frozen=True)
class TuneConfig:
    collection: str
    name: str
    qa: str | None = None
    split: str = "train"
    max_pairs: int = 3000
    epochs: float = 1.0
    batch_size: int = 32
    learning_rate: float = DEFAULT_LEARNING_RATE
    warmup_ratio: float = 0.1
    max_seq_length: int = 256
    max_steps: int | None = None  # stop early (tests, quick checks)
    seed: int = 0
    questions: int = DEFAULT_QUESTIONS  # chunks the bundled generator writes a question for
    agree_k: int = 3  # a generated question is kept when the retriever ranks its chunk in this top k
    sentence_share: float = SENTENCE_SHARE  # of the store pairs: sentence → rest of its chunk, not title → chunk
    mix: float = DEFAULT_MIX  # of the tuned weights in the saved model, the rest the base's (WiSE-FT)
    hard_negatives: bool = False  # a mined hard negative per pair, GISTEmbedLoss guided by the base embedder

    @property
    def loss(self) -> str:
        return "GISTEmbedLoss" if self.hard_negatives else "MultipleNegativesRankingLoss"

    def __post_init__(self) -> None:
        check_name(self.name)
        if self.max_pairs < 1 or self.batch_size < 2 or self.max_seq_length < 16 or self.epochs <= 0:
            raise ValueError("max_pairs ≥ 1, batch_size ≥ 2 (in-batch negatives), max_seq_length ≥ 16, epochs > 0")
        if self.questions < 0 or self.agree_k < 1 or not 0 <= self.sentence_share <= 1 or not 0 < self.mix <= 1:
            raise ValueError("questions ≥ 0, agree_k ≥ 1, 0 ≤ sentence_share ≤ 1, 0 < mix ≤ 1")


@dataclass(frozen=True)
class TuneResult:
    name: str
    path: Path
    manifest: dict[str, Any]


def check_passages(pairs: Sequence[Pair], distractors: Sequence[str] = ()) -> list[str]:
    """What the held-out queries are ranked among: their own passages and `distractors` (other chunks of the
    collection), each once."""
    return list(dict.fromkeys([*(p.passage for p in pairs), *distractors]))


def reciprocal_ranks(model: SentenceTransformer, pairs: list[Pair], passages: Sequence[str], k: int = 10,
                     ) -> list[float]:
    """1/rank of each held-out query's first passage within the top `k` (else 0), ranked among `passages`
    (`check_passages`: they include every pair's own); one per distinct query, in order."""
    queries = list(dict.fromkeys(p.query for p in pairs))
    if not queries:
        return []
    relevant: dict[str, set[int]] = {q: set() for q in queries}
    index = {text: i for i, text in enumerate(passages)}
    for pair in pairs:
        relevant[pair.query].add(index[pair.passage])
    top = top_chunks(model, queries, passages, min(k, len(passages)))
    ranks = []
    for query in queries:
        rank = next((r for r, i in enumerate(top[query], start=1) if i in relevant[query]), None)
        ranks.append(1.0 / rank if rank else 0.0)
    return ranks


def heldout_scores(ranks: Sequence[float], passages: int) -> dict[str, float]:
    """MRR@10 and hit@1 of the held-out queries' reciprocal ranks."""
    if not ranks:
        return {}
    return {"mrr@10": round(float(np.mean(ranks)), 4), "hit@1": round(float(np.mean([r == 1.0 for r in ranks])), 4),
            "queries": len(ranks), "passages": passages}


def heldout_change(before: Sequence[float], after: Sequence[float]) -> dict[str, Any]:
    """MRR@10 after minus before with its paired-bootstrap 95 % interval over the held-out queries, and a verdict
    only when the interval leaves out 0: a few dozen questions move the mean by chance."""
    from chatbot.ab_stats import paired_bootstrap

    if not before:
        return {}
    change = paired_bootstrap(after, before)
    verdict = "better" if change.low > 0 else "worse" if change.high < 0 else "no clear change"
    return {**change.to_json(), "verdict": verdict}


def mix_weights(model: torch.nn.Module, base: dict[str, torch.Tensor], mix: float) -> None:
    """Move `model`'s weights back toward `base` (the same architecture's state): mix · tuned + (1 − mix) · base,
    so the tune keeps what the base knew of questions unlike its pairs (docs/embedders.md)."""
    if mix >= 1:
        return
    tuned = model.state_dict()
    model.load_state_dict({name: (mix * value.float() + (1 - mix) * base[name].float()).to(value.dtype)
                           if value.is_floating_point() else value for name, value in tuned.items()})


def _train(model: SentenceTransformer, pairs: PairSet, config: TuneConfig, output: Path, bf16: bool,
           callbacks: list[Any], negatives: list[str] | None, guide: SentenceTransformer) -> tuple[Any, int]:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer.losses import GISTEmbedLoss, MultipleNegativesRankingLoss

    columns = {"anchor": [p.query for p in pairs.train], "positive": [p.passage for p in pairs.train]}
    if negatives is not None:
        columns["negative"] = negatives
    loss = GISTEmbedLoss(model, guide) if negatives is not None else MultipleNegativesRankingLoss(model)
    steps = config.max_steps or math.ceil(len(pairs.train) / config.batch_size * config.epochs)
    args = SentenceTransformerTrainingArguments(
        output_dir=str(output), num_train_epochs=config.epochs, max_steps=config.max_steps or -1,
        per_device_train_batch_size=config.batch_size, learning_rate=config.learning_rate,
        warmup_steps=config.warmup_ratio,  # transformers 5: a float < 1 is a ratio of the total steps
        batch_sampler=BatchSamplers.NO_DUPLICATES, seed=config.seed, data_seed=config.seed, use_cpu=True, bf16=bf16,
        save_strategy="no", logging_steps=max(1, steps // 20), report_to="none", disable_tqdm=False,
        dataloader_num_workers=0,
    )
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=Dataset.from_dict(columns),
                                         loss=loss, callbacks=callbacks)
    return trainer.train(), int(trainer.state.global_step)


def tune(corpus: Corpus, settings: Settings, config: TuneConfig, *, on_data: Callable[[PairSet], None] | None = None,
         on_step: OnStep | None = None) -> TuneResult:
    """Build the pairs, train, check on the held-out pairs, save with a manifest; returns where it went."""
    from training.threads import training_threads

    target = embedders_dir(settings) / config.name
    if target.exists():
        raise ValueError(f"an embedder named '{config.name}' exists already: choose another name")
    with training_threads(settings) as threads:
        return _tune(corpus, settings, config, target, threads, on_data, on_step)


def _pairs(corpus: Corpus, settings: Settings, config: TuneConfig) -> tuple[PairSet, dict[str, Any], list[str]]:
    """The pairs (with the generated questions), what generating them took, and the held-out check's distractors."""
    import random

    from training.generated_pairs import HELDOUT_SHARE, generated_pairs

    generated = generated_pairs(corpus, settings, config.collection, count=config.questions, seed=config.seed,
                                agree_k=config.agree_k, heldout_share=0.0 if config.qa else HELDOUT_SHARE,
                                ) if config.questions else None
    pairs = build_pairs(corpus, config.collection, max_pairs=config.max_pairs, seed=config.seed,
                        qa=Path(config.qa) if config.qa else None, split=config.split,
                        generated=generated.pairs if generated else (),
                        generated_heldout=generated.heldout if generated else (),
                        sentence_share=config.sentence_share)
    held = {p.passage for p in pairs.heldout}
    others = sorted({text for _, _, text in corpus.store.titled_chunks(config.collection)} - held)
    distractors = random.Random(config.seed).sample(others, min(DISTRACTORS, len(others)))
    return pairs, (generated.to_json() if generated else {}), distractors


def _tune(corpus: Corpus, settings: Settings, config: TuneConfig, target: Path, threads: int,
          on_data: Callable[[PairSet], None] | None, on_step: OnStep | None) -> TuneResult:
    from sentence_transformers import SentenceTransformer

    from chatbot.precision import resolve
    from training.train import step_callback, thread_callback

    started = time.perf_counter()
    pairs, generated, distractors = _pairs(corpus, settings, config)
    if on_data is not None:
        on_data(pairs)
    data_seconds = time.perf_counter() - started
    model = SentenceTransformer(embedder_location(settings), device="cpu", local_files_only=True)
    guide = SentenceTransformer(embedder_location(settings), device="cpu", local_files_only=True)
    guide.requires_grad_(False)  # stays the base: GISTEmbedLoss's guide, the mix's base, the check's "before"
    full_length = int(model.max_seq_length)
    precision = resolve(settings, "cpu")
    passages = check_passages(pairs.heldout, distractors)
    before = reciprocal_ranks(guide, pairs.heldout, passages)
    mining_started = time.perf_counter()
    negatives = mine_negatives(guide, pairs.train, corpus.store.chunk_documents(config.collection), config.seed
                               ) if config.hard_negatives else None
    mining_seconds = time.perf_counter() - mining_started
    model.max_seq_length = min(config.max_seq_length, full_length)
    callbacks = [thread_callback(settings)] + ([step_callback(on_step)] if on_step else [])
    embedders_dir(settings).mkdir(parents=True, exist_ok=True)
    work = embedders_dir(settings) / f".tune-{config.name}-{uuid.uuid4().hex[:8]}"
    try:
        train_started = time.perf_counter()
        output, steps = _train(model, pairs, config, work / "run", precision.name == "bfloat16", callbacks,
                               negatives, guide)
        train_seconds = time.perf_counter() - train_started
        model.max_seq_length = full_length
        mix_weights(model, guide.state_dict(), config.mix)
        after = reciprocal_ranks(model, pairs.heldout, passages)
        model.save(str(work / "model"))
        metrics = {"train_loss": round(float(output.training_loss), 4), "steps": steps,
                   "seconds": round(train_seconds, 1), "seconds_per_step": round(train_seconds / max(steps, 1), 2),
                   "data_seconds": round(data_seconds, 1), "negatives_seconds": round(mining_seconds, 1),
                   "heldout_before": heldout_scores(before, len(passages)),
                   "heldout_after": heldout_scores(after, len(passages)),
                   "heldout_change": heldout_change(before, after)}
        manifest = _manifest(settings, config, pairs, generated, metrics, model, threads, full_length)
        (work / "model" / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
        install(work / "model", target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return TuneResult(config.name, target, manifest)


def _manifest(settings: Settings, config: TuneConfig, pairs: PairSet, generated: dict[str, Any],
              metrics: dict[str, Any], model: SentenceTransformer, threads: int, full_length: int) -> dict[str, Any]:
    import sentence_transformers

    from chatbot.adapter_manifest import versions
    from chatbot.precision import cpu_report, resolve

    dimension = int(model.get_embedding_dimension())
    return {
        "name": config.name,
        "identity": asdict(tuned_identity(config.name, dimension)),
        "dimension": dimension,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "base_model": {"name": embedder_name(settings), "location": embedder_location(settings)},
        "data": {"collection": config.collection, "qa_file": str(Path(config.qa).resolve()) if config.qa else None,
                 "split": config.split if config.qa else None, "sha256": pairs.sha256(), **pairs.counts(),
                 "generated": generated},
        "training": {**{k: v for k, v in asdict(config).items() if k not in ("collection", "name", "qa", "split")},
                     "loss": config.loss, "batch_sampler": "no_duplicates",
                     "max_seq_length_saved": full_length},
        "metrics": metrics,
        "runtime": {"device": "cpu", "torch_threads": threads, "precision": resolve(settings, "cpu").to_json(),
                    "cpu": cpu_report(settings), "sentence_transformers": sentence_transformers.__version__,
                    **versions()},
    }
