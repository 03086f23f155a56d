"""What `ragbot eval answers`, `ragbot eval loops` and the 2×2 comparison share: the questions, the fine-tuned
arm's generator, and every question through every arm behind one progress bar."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.evaluate import Condition, Record, run_conditions

if TYPE_CHECKING:
    from chatbot.chain import RagChain
    from training.dataset import QAPair


def questions(qa: Path, split: str | None, limit: int | None) -> list[QAPair]:
    """The QA pairs of `split` (all with None), the first `limit` of them."""
    from training.dataset import load_qa

    return load_qa(qa, split)[:limit]


def finetuned_generator(chain: RagChain, adapter: str | None) -> tuple[str, Any]:
    """The fine-tuned arm's generator name, naming the adapter it resolves to, with that adapter's info (resolving
    fails fast when no adapter exists). A generator set that cannot resolve (a test double) keeps the name as is,
    with no info."""
    finetuned = f"finetuned:{adapter}" if adapter else "finetuned"
    if not hasattr(chain.generators, "resolve"):
        return finetuned, None
    info = chain.generators.resolve(finetuned)
    return f"finetuned:{info.name}", info


def run_arms(chain: RagChain, pairs: Sequence[QAPair], conditions: Sequence[Condition], collection: str, *,
             concurrency: int, progress: bool, desc: str = "answers",
             on_record: Callable[[Record], None] | None = None) -> dict[str, list[Record]]:
    """`run_conditions`, with a tqdm bar on stderr when `progress` (the CLI)."""
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(pairs) * len(conditions), desc=desc, unit="answer", file=sys.stderr)

    def tick(record: Record) -> None:
        if on_record is not None:
            on_record(record)
        if bar is not None:
            bar.update(1)

    try:
        return run_conditions(chain, pairs, conditions, collection, on_record=tick, concurrency=concurrency)
    finally:
        if bar is not None:
            bar.close()
