"""Generated (question, chunk) pairs for tuning the embedder without labels (GPL / Promptagator style): the
bundled generator writes a question for each chunk of a seeded sample (`training.question_gen`), and a question
is kept only when the current retriever agrees, i.e. ranks its source chunk in its top `agree_k` (the consistency
filter: a question too vague to find its own chunk teaches nothing, or the wrong thing)."""

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


@dataclass(frozen=True)
class Generated:
    pairs: list[Pair]  # the questions the retriever agreed with
    chunks: int  # chunks a question was asked for
    written: int  # outputs that were a question
    seconds: float  # writing the questions

    def to_json(self) -> dict[str, object]:
        return {"chunks": self.chunks, "written": self.written, "kept": len(self.pairs),
                "seconds": round(self.seconds, 1), "examples": [p.query for p in self.pairs[:EXAMPLES]]}


def sample_passages(texts: Sequence[str], count: int, seed: int) -> list[str]:
    """`count` distinct chunk texts of at least `MIN_WORDS` words, a seeded sample."""
    candidates = sorted({t for t in texts if len(t.split()) >= MIN_WORDS})
    random.Random(seed).shuffle(candidates)
    return candidates[:count]


def keep_agreeing(written: Sequence[Written], rank: Callable[[str], list[str]], agree_k: int) -> list[Pair]:
    """The questions whose own chunk is among the first `agree_k` texts `rank` returns for them."""
    return [Pair(w.question, w.passage, "generated") for w in written if w.passage in rank(w.question)[:agree_k]]


def generated_pairs(corpus: Corpus, settings: Settings, collection: str, *, count: int, seed: int,
                    agree_k: int, on_batch: Callable[[int, int], None] | None = None) -> Generated:
    """Questions for `count` sampled chunks of `collection`, kept where the collection's retriever agrees."""
    from chatbot.models import base_model_location

    passages = sample_passages([text for _, _, text in corpus.store.titled_chunks(collection)], count, seed)
    if not passages:
        return Generated([], 0, 0, 0.0)
    started = time.perf_counter()
    written = QuestionWriter(base_model_location(settings)).write(passages, on_batch)
    seconds = time.perf_counter() - started
    retriever = corpus.retriever(collection, k=agree_k)
    kept = keep_agreeing(written, lambda q: [hit.text for hit, _ in retriever.search(q)], agree_k)
    return Generated(kept, len(passages), len(written), seconds)
