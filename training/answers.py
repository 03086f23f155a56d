"""`ragbot eval answers`: base vs fine-tuned through the full chain (same retrieval), with the extractive answers
beside them, scored by `training.evaluate`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatbot.generators import EXTRACTIVE
from training.arms import finetuned_generator, questions, run_arms
from training.evaluate import Condition, Record, source_choice, summarize, win_rate
from training.threads import adapt_threads, threads_restored

if TYPE_CHECKING:
    from chatbot.chain import RagChain
    from chatbot.settings import Settings


def evaluate_answers(chain: RagChain, settings: Settings, qa: Path, *, split: str | None = "test",
                     collection: str | None = None, adapter: str | None = None, limit: int | None = None,
                     progress: bool = True) -> dict[str, Any]:
    """Base vs fine-tuned on the same questions, with the extractive answers beside them: `{"result": the JSON
    summary, "records": {...}}`."""
    pairs = questions(qa, split, limit)
    collection = collection or settings.collection
    finetuned, adapter_info = finetuned_generator(chain, adapter)
    conditions = [Condition("base", "base"), Condition("finetuned", finetuned), Condition(EXTRACTIVE, EXTRACTIVE)]
    started = time.perf_counter()
    with threads_restored():
        adapt_threads(settings)
        records = run_arms(chain, pairs, conditions, collection, concurrency=settings.eval_concurrency,
                           progress=progress,
                           on_record=lambda _: adapt_threads(settings))  # use the cores others leave free
    result = {
        "n": len(pairs),
        **answers_summary(records),
        "split": split,
        "collection": collection,
        "generators": {"base": "base", "finetuned": finetuned, EXTRACTIVE: EXTRACTIVE},
        "adapter": adapter_info.name if adapter_info else adapter,
        "adapter_quant": (adapter_info.manifest or {}).get("quant") if adapter_info else None,
        "seconds": round(time.perf_counter() - started, 1),
    }
    return {"result": result, "records": records}


def answers_summary(records: dict[str, list[Record]]) -> dict[str, Any]:
    """Each arm's means, and how fine-tuned fares against base, question by question."""
    rate, counts = win_rate([r.scores.rougeL for r in records["finetuned"]], [r.scores.rougeL for r in records["base"]])
    f1_rate, f1_counts = win_rate([r.scores.f1 for r in records["finetuned"]], [r.scores.f1 for r in records["base"]])
    base, tuned = summarize(records["base"]), summarize(records["finetuned"])
    return {
        "base": base,
        "finetuned": tuned,
        EXTRACTIVE: summarize(records[EXTRACTIVE]),
        "finetuned_win_rate": round(rate, 4),
        "comparison": {
            "win_metric": "rougeL",
            "tie_rule": "ties count half",
            **counts,
            "f1_ratio": round(tuned["f1"] / base["f1"], 3) if base["f1"] else None,
            "f1_win_rate": round(f1_rate, 4),
            "f1_wins": f1_counts["wins"],
        },
        "source_choice": source_choice(records["base"], records["finetuned"]),
    }
