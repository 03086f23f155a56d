"""Generated (question, chunk) pairs for tuning the embedder without labels (GPL / Promptagator style): the
bundled generator writes a question for each chunk of a seeded sample (`training.question_gen`).

A seeded share of the sampled chunks is held out before anything is filtered: every question written for them is
the tune's check, as it came. The other questions are trained on only when the current retriever agrees, i.e.
ranks the source chunk in its top `agree_k` (the consistency filter: a question too vague to find its own chunk
teaches nothing, or the wrong thing). Filtering the check too would keep only questions the base retriever
already answers, and a check near its ceiling overstates a tune: on postgres-docs, filtered held-out questions
went 0.843 → 0.941 MRR@10 while the real questions' hybrid nDCG@10 moved +0.007 (docs/embedders.md)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from training.embedder_pairs import Pair
from training.question_gen import QuestionWriter, Written

if TYPE_CHECKING:
    from chatbot.corpus import Corpus
    from chatbot.settings import Settings

EXAMPLES = 8  # kept questions shown in the manifest
MIN_WORDS = 12  # shorter chunks (a heading, a code line) give no question worth asking
HELDOUT_SHARE, HELDOUT_MAX = 0.5, 200  # of the sampled chunks, without a QA file: their questions are the check


@dataclass(frozen=True)
class Generated:
    pairs: list[Pair]  # questions of the training chunks the retriever agreed with
    heldout: list[Pair]  # every question written for the held-out chunks, unfiltered: the check
    chunks: int  # chunks a question was asked for
    written: int  # outputs that were a question
    seconds: float  # writing the questions

    def to_json(self) -> dict[str, object]:
        return {"chunks": self.chunks, "written": self.written, "kept": len(self.pairs), "heldout": len(self.heldout),
                "seconds": round(self.seconds, 1), "examples": [p.query for p in self.pairs[:EXAMPLES]]}


def sample_passages(texts: Sequence[str], count: int, seed: int) -> list[str]:
    """`count` distinct chunk texts of at least `MIN_WORDS` words, a seeded sample."""
    candidates = sorted({t for t in texts if len(t.split()) >= MIN_WORDS})
    random.Random(seed).shuffle(candidates)
    return candidates[:count]


def held_out_chunks(passages: Sequence[str], share: float) -> set[str]:
    """The first `share` of the (already shuffled) sample, at most `HELDOUT_MAX`, at least one of two or more."""
    count = min(int(len(passages) * share), HELDOUT_MAX)
    return set(passages[: max(count, 1 if share > 0 and len(passages) > 1 else 0)])


def keep_agreeing(written: Sequence[Written], rank: Callable[[str], list[str]], agree_k: int) -> list[Pair]:
    """The questions whose own chunk is among the first `agree_k` texts `rank` returns for them."""
    return [Pair(w.question, w.passage, "generated") for w in written if w.passage in rank(w.question)[:agree_k]]


def split_written(written: Sequence[Written], held: set[str], rank: Callable[[str], list[str]],
                  agree_k: int) -> tuple[list[Pair], list[Pair]]:
    """(training pairs: the questions of chunks not `held` that `rank` agrees with, the check: every question of
    a `held` chunk, unfiltered)."""
    kept = keep_agreeing([w for w in written if w.passage not in held], rank, agree_k)
    return kept, [Pair(w.question, w.passage, "generated") for w in written if w.passage in held]


def generated_pairs(corpus: Corpus, settings: Settings, collection: str, *, count: int, seed: int,
                    agree_k: int, heldout_share: float = HELDOUT_SHARE,
                    on_batch: Callable[[int, int], None] | None = None) -> Generated:
    """Questions for `count` sampled chunks of `collection`: those of a held-out `heldout_share` of the chunks
    all kept for the check, the others kept for training where the collection's retriever agrees."""
    from chatbot.models import base_model_location

    passages = sample_passages([text for _, _, text in corpus.store.titled_chunks(collection)], count, seed)
    if not passages:
        return Generated([], [], 0, 0, 0.0)
    held = held_out_chunks(passages, heldout_share)
    started = time.perf_counter()
    written = QuestionWriter(base_model_location(settings)).write(passages, on_batch)
    seconds = time.perf_counter() - started
    retriever = corpus.retriever(collection, k=agree_k)
    kept, heldout = split_written(written, held, lambda q: [hit.text for hit, _ in retriever.search(q)], agree_k)
    return Generated(kept, heldout, len(passages), len(written), seconds)
