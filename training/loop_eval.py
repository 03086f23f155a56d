"""`ragbot eval loops`: how many answers loop (a line or an 8-word span said 3 times, `chatbot.loops`) under the
configured decoding, with the answers' quality beside it — the measurement behind the decoding defaults."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatbot.loops import has_loop, repeated_line, repeated_span
from chatbot.precision import cpu_report
from training.arms import questions, run_arms
from training.evaluate import Condition, Record, summarize

if TYPE_CHECKING:
    from chatbot.chain import RagChain
    from chatbot.settings import Settings


def loop_summary(records: Sequence[Record]) -> dict[str, Any]:
    """Loop share and the quality metrics of one arm, with each looping answer's repeat."""
    looping = [r for r in records if has_loop(r.text)]
    return {
        "n": len(records),
        "loops": len(looping),
        "loop_share": round(len(looping) / len(records), 4) if records else None,
        **summarize(records),
        "looping": [{"question_id": r.question_id, "repeat": repeated_line(r.text) or repeated_span(r.text)}
                    for r in looping],
    }


def evaluate_loops(chain: RagChain, settings: Settings, qa: Path, *, split: str | None = "test",
                   collection: str | None = None, generators: Sequence[str] = ("base",), limit: int | None = None,
                   progress: bool = True) -> dict[str, Any]:
    """Each question through the chain (with retrieval) once per generator; the loop share per generator."""
    pairs = questions(qa, split, limit)
    collection = collection or settings.collection
    conditions = [Condition(name, name) for name in generators]
    started = time.perf_counter()
    records = run_arms(chain, pairs, conditions, collection,
                       concurrency=settings.eval_concurrency, progress=progress)
    return {
        "qa": qa.name, "split": split, "collection": collection, "n": len(pairs),
        "decoding": {"no_repeat_ngram": settings.no_repeat_ngram, "repetition_penalty": settings.repetition_penalty,
                     "stop_on_loop": settings.stop_on_loop, "max_new_tokens": settings.max_new_tokens},
        "cpu": cpu_report(settings),
        "generators": {name: loop_summary(records[name]) for name in generators},
        "seconds": round(time.perf_counter() - started, 1),
    }
