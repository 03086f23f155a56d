"""(query, passage) pairs for tuning the embedder, from the store itself, generated questions and, optionally, QA.

Store pairs need no labels: each chunk's section heading (its document's title when it has none, or the same one)
is a query the chunk answers; with `sentence_share`, a sentence of a chunk is one too, for the rest of it (the
inverse cloze task of Lee et al., 2019). Sentence pairs helped git-docs (+0.015 hybrid nDCG@10) and cost
postgres-docs 0.03, so they are off by default (docs/embedders.md). Generated pairs: questions the bundled
generator wrote for sampled chunks, kept where the current retriever agrees (`training.generated_pairs`). QA
pairs: each question → its gold chunks, found as `ragbot train` finds its oracles (`training.dataset.find_oracles`:
the chunks of the named document that the answer quotes).

The held-out check must look like real questions, so it never holds titles, headings or sentences: with a QA file, the
questions outside the training split (else a seeded fifth of it, not trained on); without one, the questions
generated for held-out chunks, unfiltered (`training.generated_pairs`). Everything else is trained on: QA and
generated pairs all, then title/heading and sentence pairs (`sentence_share` of the room left) sampled (seeded)
to fill `max_pairs`.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from chatbot.extractive import split_passages
from training.dataset import DatasetError, QAPair, find_oracles, load_qa

if TYPE_CHECKING:
    from chatbot.corpus import Corpus
    from chatbot.storage.store import Store

Kind = Literal["heading", "title", "sentence", "qa", "generated"]
KINDS: tuple[Kind, ...] = ("heading", "title", "sentence", "qa", "generated")
QA_ORACLES = 2  # gold chunks per question at most (those of its document that quote the answer)
QA_HELDOUT_SHARE = 0.2  # of the QA split, when the file has no other split
SENTENCE_SHARE = 0.0  # of the store pairs, sentence → rest of its chunk (the others heading/title → chunk)
SENTENCE_WORDS = 6  # a shorter sentence ("See below.") asks nothing
SENTENCE_KEPT = 0.1  # of sentence pairs whose passage keeps the sentence: shared words still count, as in ICT


@dataclass(frozen=True)
class Pair:
    query: str
    passage: str
    kind: Kind


@dataclass(frozen=True)
class PairSet:
    train: list[Pair]
    heldout: list[Pair]  # QA or generated pairs not trained on: the before/after check (never titles)
    available: dict[str, int]  # pairs found, by kind, before sampling

    @property
    def heldout_kind(self) -> str | None:
        return self.heldout[0].kind if self.heldout else None

    def counts(self) -> dict[str, int | str | None]:
        train = {kind: sum(1 for p in self.train if p.kind == kind) for kind in KINDS}
        return {**{f"train_{k}": v for k, v in train.items()}, "train": len(self.train), "heldout": len(self.heldout),
                "heldout_kind": self.heldout_kind, **{f"available_{k}": v for k, v in self.available.items()}}

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


def sentence_sources(texts: Sequence[str]) -> dict[str, list[str]]:
    """Each distinct chunk with three or more prose sentences of `SENTENCE_WORDS` words (split as the extractive
    answerer splits them: lists, code and tables are not sentences) → those sentences."""
    sources = {}
    for text in dict.fromkeys(texts):
        sentences = [s for kind, s in split_passages(text) if kind == "sentence" and len(s.split()) >= SENTENCE_WORDS]
        if len(sentences) >= 3:
            sources[text] = sentences
    return sources


def sentence_pairs(sources: dict[str, list[str]], count: int, seed: int) -> list[Pair]:
    """Up to `count` inverse-cloze pairs, one per chunk of a seeded sample of `sentence_sources`: one of its
    sentences → the chunk without it (with it in `SENTENCE_KEPT` of them)."""
    rng = random.Random(seed)
    chunks = list(sources)
    rng.shuffle(chunks)
    pairs: list[Pair] = []
    for text in chunks[:count]:
        sentence = rng.choice(sources[text])
        flat = " ".join(text.split())
        passage = flat if rng.random() < SENTENCE_KEPT else " ".join(flat.replace(sentence, " ").split())
        pairs.append(Pair(sentence, passage, "sentence"))
    return pairs


def split_by_query(pairs: Sequence[Pair], share: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    """(train, held out): a seeded `share` of the distinct queries (at least one when there are two or more)
    with all their pairs held out; a query is never on both sides."""
    queries = sorted({p.query for p in pairs})
    random.Random(seed).shuffle(queries)
    held = set(queries[: max(int(len(queries) * share), 1 if len(queries) > 1 else 0)])
    return [p for p in pairs if p.query not in held], [p for p in pairs if p.query in held]


def qa_pairs(corpus: Corpus, collection: str, questions: Sequence[QAPair]) -> list[Pair]:
    """Each question → its gold chunks."""
    if not questions:
        return []
    vectors = corpus.embedder_for(collection).encode([q.answer for q in questions])
    pairs = []
    for question, vector in zip(questions, vectors, strict=True):
        for oracle in find_oracles(corpus, collection, question, vector, limit=QA_ORACLES):
            pairs.append(Pair(question.question, oracle.page_content, "qa"))
    return pairs


def qa_split(corpus: Corpus, collection: str, qa: Path, split: str, seed: int) -> tuple[list[Pair], list[Pair]]:
    """(train, held out) QA pairs: `split`'s questions, and those of the file's other splits (else a seeded
    `QA_HELDOUT_SHARE` of `split`'s, then not trained on)."""
    questions = load_qa(qa)
    trained = [q for q in questions if q.split == split]
    if not trained:
        raise DatasetError(f"{qa}: no QA pairs in split '{split}'")
    others = [q for q in questions if q.split != split]
    if others:
        return qa_pairs(corpus, collection, trained), qa_pairs(corpus, collection, others)
    return split_by_query(qa_pairs(corpus, collection, trained), QA_HELDOUT_SHARE, seed)


def build_pairs(corpus: Corpus, collection: str, *, max_pairs: int, seed: int = 0, qa: Path | None = None,
                split: str = "train", generated: Sequence[Pair] = (), generated_heldout: Sequence[Pair] = (),
                sentence_share: float = SENTENCE_SHARE) -> PairSet:
    """The training pairs (QA and `generated` ones all, then sampled store pairs up to `max_pairs`: sentence pairs
    for `sentence_share` of that room, heading/title pairs for the rest) and the held-out ones (QA with a QA file,
    else `generated_heldout`; never store pairs)."""
    from_store = store_pairs(corpus.store, collection)
    if not from_store and not generated:
        raise DatasetError(f"collection '{collection}' has no chunks with a title or heading: ingest documents first")
    from_qa, heldout = qa_split(corpus, collection, qa, split, seed) if qa else ([], list(generated_heldout))
    from_generated = list(generated)
    labelled = from_qa + from_generated
    room = max(0, max_pairs - len(labelled))
    candidates = sentence_sources([p.passage for p in from_store])
    sentences = sentence_pairs(candidates, round(room * sentence_share), seed)
    rng = random.Random(seed)
    rng.shuffle(from_store)
    train = labelled + sentences + from_store[: room - len(sentences)]
    rng.shuffle(train)
    available = {kind: sum(1 for p in from_store if p.kind == kind) for kind in ("heading", "title")}
    return PairSet(train, heldout, {**available, "sentence": len(candidates), "qa": len(from_qa),
                                    "generated": len(from_generated)})
