"""(query, passage) pairs for tuning the embedder, from the store itself and, optionally, QA pairs.

Store pairs need no labels: each chunk's section heading (its document's title when it has none, or the same one)
is a query the chunk answers. QA pairs: each question → its gold chunks, found as `ragbot train` finds its oracles
(`training.dataset.find_oracles`: the chunks of the named document that the answer quotes). All QA pairs are
kept; store pairs are sampled (seeded) to fill `max_pairs`, after a held-out share is set aside for a label-free
before/after check.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from training.dataset import DatasetError, find_oracles, load_qa

if TYPE_CHECKING:
    from chatbot.corpus import Corpus
    from chatbot.storage.store import Store

Kind = Literal["heading", "title", "qa"]
QA_ORACLES = 2  # gold chunks per question at most (those of its document that quote the answer)
HELDOUT_SHARE, HELDOUT_MAX = 0.1, 200


@dataclass(frozen=True)
class Pair:
    query: str
    passage: str
    kind: Kind


@dataclass(frozen=True)
class PairSet:
    train: list[Pair]
    heldout: list[Pair]  # store pairs not trained on: the label-free before/after check
    available: dict[str, int]  # pairs found, by kind, before sampling

    def counts(self) -> dict[str, int]:
        train = {kind: sum(1 for p in self.train if p.kind == kind) for kind in ("heading", "title", "qa")}
        return {**{f"train_{k}": v for k, v in train.items()}, "train": len(self.train), "heldout": len(self.heldout),
                **{f"available_{k}": v for k, v in self.available.items()}}

    def sha256(self) -> str:
        """A hash of exactly what is trained on (the pairs, in order)."""
        digest = hashlib.sha256()
        for pair in self.train:
            digest.update(json.dumps([pair.query, pair.passage], ensure_ascii=False).encode("utf-8") + b"\n")
        return digest.hexdigest()


def store_pairs(store: Store, collection: str) -> list[Pair]:
    """Heading (else title) → chunk, for every chunk with one."""
    pairs = []
    for title, heading, text in store.titled_chunks(collection):
        title, heading = (title or "").strip(), (heading or "").strip()
        query, kind = (heading, "heading") if heading and heading != title else (title, "title")
        if query and text.strip():
            pairs.append(Pair(query, text, kind))
    return pairs


def qa_pairs(corpus: Corpus, collection: str, qa: Path, split: str) -> list[Pair]:
    """Each `split` question → its gold chunks."""
    questions = load_qa(qa, split)
    vectors = corpus.embedder_for(collection).encode([q.answer for q in questions])
    pairs = []
    for question, vector in zip(questions, vectors, strict=True):
        for oracle in find_oracles(corpus, collection, question, vector, limit=QA_ORACLES):
            pairs.append(Pair(question.question, oracle.page_content, "qa"))
    return pairs


def build_pairs(corpus: Corpus, collection: str, *, max_pairs: int, seed: int = 0, qa: Path | None = None,
                split: str = "train") -> PairSet:
    """The training pairs (all QA pairs, then sampled store pairs up to `max_pairs`) and the held-out ones."""
    from_store = store_pairs(corpus.store, collection)
    if not from_store:
        raise DatasetError(f"collection '{collection}' has no chunks with a title or heading: ingest documents first")
    from_qa = qa_pairs(corpus, collection, qa, split) if qa else []
    rng = random.Random(seed)
    rng.shuffle(from_store)
    held = min(HELDOUT_MAX, int(len(from_store) * HELDOUT_SHARE))
    heldout, rest = from_store[:held], from_store[held:]
    train = from_qa + rest[: max(0, max_pairs - len(from_qa))]
    rng.shuffle(train)
    available = {kind: sum(1 for p in from_store if p.kind == kind) for kind in ("heading", "title")}
    return PairSet(train, heldout, {**available, "qa": len(from_qa)})
