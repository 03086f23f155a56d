"""RAFT-style training examples from question/answer pairs and the store.

Each example is the exact prompt the chain builds at answer time (`chatbot.prompts.rag_messages`) with k
numbered sources: the oracle chunks (the stored chunks holding the answer: those of the named document that
the answer quotes, up to about half of k, else the one most similar to the answer) kept with probability p
among distractors retrieved for the question, in the order the retriever ranked them (each oracle where it
was ranked, at a random place when it was not retrieved: the order the chain shows), or shuffled as RAFT
does (`order="shuffled"`). The target is the gold answer, cited when the oracles
are among the sources: its first sentence with the number of the chunk where the answer starts (an answer
cut short by the answer limit still cites), its end with every oracle's number; when the oracles are left
out, the target is the bare answer, as RAFT does. Several draws of the same pair (one per training epoch)
differ in whether the oracles are kept and where an unretrieved oracle goes (shuffled: the whole order), so
that a model learns to find the answer rather than its position.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from langchain_core.documents import Document

from chatbot.prompts import rag_messages
from chatbot.qa_files import QAFileError, qa_rows
from training.config import DEFAULT_ORACLE_P, DEFAULT_SOURCE_ORDER, SourceOrder

if TYPE_CHECKING:
    from chatbot.corpus import Corpus
    from chatbot.retriever import Hit


QUOTED_SHARE = 0.5  # a chunk of the named document holds part of the answer when half its words are in it
_WORD = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"[.!?](?=\s)")


class DatasetError(ValueError):
    """A QA file or a store that cannot yield training examples; the message says why."""


@dataclass(frozen=True)
class QAPair:
    question: str
    answer: str
    split: str = "train"
    source: str | None = None  # a file name or source key of the document holding the answer
    corpus_id: str | None = None  # a BEIR corpus id (the source key of BEIR-ingested documents)
    id: str = ""

    @property
    def document_key(self) -> str | None:
        return self.source or self.corpus_id


@dataclass
class Example:
    """One training example: the chat messages plus what was drawn (for inspection and tests)."""

    messages: list[dict[str, str]]
    question_id: str
    oracle_numbers: list[int] = field(default_factory=list)  # in document order; empty when left out
    oracle_chunk_ids: list[int | None] = field(default_factory=list)  # in document order, shown or not
    chunk_ids: list[int | None] = field(default_factory=list)
    document_ids: list[int] = field(default_factory=list)  # the documents of the sources and oracles, shown or not

    def row(self) -> dict[str, Any]:
        """The chat-format JSONL row: `{"messages": [system, user, assistant]}`."""
        return {"messages": self.messages}


@dataclass
class BuildStats:
    pairs: int = 0
    examples: int = 0  # pairs × draws
    oracle_present: int = 0
    oracle_by_document: int = 0  # oracle found among the chunks of the named document
    oracle_by_nearest: int = 0  # no document named (or none matched): the chunk nearest the answer
    unmatched_documents: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Every counter, by name."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "unmatched_documents"}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BuildStats:
        """The counters saved by `to_json` (without the documents it lists)."""
        return cls(**{name: int(data.get(name, 0)) for name in cls().counts()})

    def to_json(self) -> dict[str, Any]:
        return {
            **self.counts(),
            "oracle_rate": round(self.oracle_present / self.examples, 4) if self.examples else 0.0,
            "unmatched_documents": self.unmatched_documents[:20],
        }

    def __add__(self, other: BuildStats) -> BuildStats:
        theirs = other.counts()
        return BuildStats(**{name: mine + theirs[name] for name, mine in self.counts().items()},
                          unmatched_documents=self.unmatched_documents + other.unmatched_documents)


# --- QA files ------------------------------------------------------------------------------------


def load_qa(path: Path, split: str | None = None) -> list[QAPair]:
    """Pairs from a JSONL file (`question`, `answer`, `split`, optional `source` / `corpus_id` / `_id`)."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such QA file")
    pairs: list[QAPair] = []
    with path.open(encoding="utf-8") as handle:
        try:
            for number, row in qa_rows(handle, str(path)):
                pairs.append(QAPair(
                    question=str(row["question"]).strip(),
                    answer=str(row["answer"]).strip(),
                    split=str(row.get("split") or "train"),
                    source=str(row["source"]) if row.get("source") else None,
                    corpus_id=str(row["corpus_id"]) if row.get("corpus_id") else None,
                    id=str(row.get("_id") or row.get("id") or f"line{number}"),
                ))
        except QAFileError as exc:
            raise DatasetError(str(exc)) from exc
    if split is not None:
        pairs = [p for p in pairs if p.split == split]
    if not pairs:
        raise DatasetError(f"{path}: no QA pairs" + (f" in split '{split}'" if split else ""))
    return pairs


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- assembling one example (pure: no database, no model) ----------------------------------------


def chunk_key(doc: Document) -> Any:
    """Identity of a retrieved chunk: its chunk id, else its text."""
    return doc.metadata.get("chunk_id") or doc.page_content.strip()


def distinct_distractors(candidates: Iterable[Document], oracles: Sequence[Document]) -> list[Document]:
    """Candidates in order, without the oracle chunks and without repeats (same chunk or same text)."""
    seen: set[Any] = set()
    texts: set[str] = set()
    for oracle in oracles:
        seen.add(chunk_key(oracle))
        texts.add(oracle.page_content.strip())
    kept = []
    for doc in candidates:
        key, text = chunk_key(doc), doc.page_content.strip()
        if key in seen or text in texts:
            continue
        seen.add(key)
        texts.add(text)
        kept.append(doc)
    return kept


def rng_for(seed: int, pair_id: str, question: str, draw: int = 0) -> random.Random:
    """A per-pair generator: a pair's draw does not depend on which other pairs are in the file."""
    return random.Random(f"{seed}\x00{pair_id}\x00{question}" + (f"\x00{draw}" if draw else ""))


def cite(answer: str, numbers: Sequence[int]) -> str:
    """The answer with its first sentence cited by the first number and its end by every number (sorted)."""
    answer = answer.strip()
    if not numbers:
        return answer
    first = _SENTENCE_END.search(answer)
    if first is not None and answer[first.end():].strip():
        answer = f"{answer[: first.end()]} [{numbers[0]}]{answer[first.end():]}"
    return f"{answer} " + "".join(f"[{n}]" for n in sorted(numbers))


def ranked_sources(oracles: Sequence[Document], distractors: Sequence[Document], candidates: Sequence[Document],
                   rng: random.Random) -> list[Document]:
    """The distractors in rank order, each oracle where the retriever ranked it among `candidates` (a random
    place when it was not retrieved): the order the chain shows at answer time."""
    documents = list(distractors)
    ranks = {chunk_key(d): rank for rank, d in enumerate(candidates)}
    for oracle in sorted(oracles, key=lambda o: ranks.get(chunk_key(o), len(candidates))):
        rank = ranks.get(chunk_key(oracle))
        documents.insert(min(rank, len(documents)) if rank is not None else rng.randint(0, len(documents)), oracle)
    return documents


def assemble_example(question: str, answer: str, oracles: Sequence[Document], candidates: Sequence[Document],
                     *, k: int, p: float, rng: random.Random, question_id: str = "",
                     order: SourceOrder = DEFAULT_SOURCE_ORDER) -> Example:
    """k sources: the oracles (in document order; kept with probability p) + distinct distractors, in the
    retriever's order (`ranked`) or shuffled; the target cited (see `cite`)."""
    if k < 1:
        raise ValueError("k must be at least 1")
    oracles = list(oracles)[:k]
    keep = rng.random() < p  # drawn even without an oracle, so that the stream of draws stays aligned
    shown = oracles if keep else []
    distractors = distinct_distractors(candidates, oracles)[: k - len(shown)]
    if order == "ranked":
        documents = ranked_sources(shown, distractors, candidates, rng)
    else:
        documents = shown + distractors
        documents.sort(key=lambda d: str(chunk_key(d)))  # the shuffle then depends on the set, not on rank ties
        rng.shuffle(documents)
    numbers = [documents.index(oracle) + 1 for oracle in shown]
    messages = rag_messages(question, [(d.page_content, d.metadata) for d in documents])
    messages.append({"role": "assistant", "content": cite(answer, numbers)})
    return Example(
        messages=messages,
        question_id=question_id,
        oracle_numbers=numbers,
        oracle_chunk_ids=[oracle.metadata.get("chunk_id") for oracle in oracles],
        chunk_ids=[d.metadata.get("chunk_id") for d in documents],
        document_ids=list(dict.fromkeys(d.metadata["document_id"] for d in (*oracles, *documents)
                                        if d.metadata.get("document_id") is not None)),
    )


# --- the store side ------------------------------------------------------------------------------


def word_set(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


def quoted_share(chunk_text: str, answer_words: set[str]) -> float:
    """The share of a chunk's distinct words that occur in the answer."""
    words = word_set(chunk_text)
    return len(words & answer_words) / len(words) if words else 0.0


def oracle_limit(k: int) -> int:
    """At most about half the sources are oracles, so that distractors stay in every prompt."""
    return max(1, (k + 1) // 2)


class DocumentChunk(NamedTuple):
    """A chunk of the named document, with its place in that document."""

    hit: Hit
    ordinal: int


def find_oracles(corpus: Corpus, collection: str, pair: QAPair, answer_vector: Any, *, limit: int,
                 stats: BuildStats | None = None) -> list[Document]:
    """The chunks holding the answer, in document order: those of the named document that the answer
    quotes (the `limit` most similar to it), else the one most similar to the answer; with no document
    named (or none matching), the collection's chunk most similar to the answer."""
    from chatbot.retriever import Hit, PgRetriever

    key = pair.document_key
    if key:
        rows = corpus.store.document_chunks(collection, key, answer_vector)
        if rows:
            chunks = [DocumentChunk(Hit(*row[:8]), row[8]) for row in rows]
            words = word_set(pair.answer)
            quoted = [c for c in chunks if quoted_share(c.hit.text, words) >= QUOTED_SHARE]
            ranked = sorted(quoted or chunks, key=lambda c: (-c.hit.similarity, c.hit.chunk_id))
            chosen = sorted(ranked[: limit if quoted else 1], key=lambda c: c.ordinal)
            if stats is not None:
                stats.oracle_by_document += 1
            return [PgRetriever._to_document(c.hit, c.hit.similarity) for c in chosen]
        if stats is not None:
            stats.unmatched_documents.append(key)
    nearest = corpus.retriever(collection, mode="vector", k=1).invoke(pair.answer)
    if stats is not None and nearest:
        stats.oracle_by_nearest += 1
    return nearest[:1]


def iter_examples(corpus: Corpus, pairs: Sequence[QAPair], collection: str, *, k: int,
                  p: float = DEFAULT_ORACLE_P, seed: int = 0, draws: int = 1, order: SourceOrder = DEFAULT_SOURCE_ORDER,
                  stats: BuildStats | None = None) -> Iterator[Example]:
    """`draws` examples per pair, in the order of `pairs` (deterministic for a given seed and store)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError("p must be between 0 and 1")
    if draws < 1:
        raise ValueError("draws must be at least 1")
    if corpus.store.chunk_count(collection) == 0:
        raise DatasetError(f"collection '{collection}' is empty or missing: ingest its documents first")
    answer_vectors = corpus.embedder_for(collection).encode([pair.answer for pair in pairs])
    limit = oracle_limit(k)
    retriever = corpus.retriever(collection, k=k + limit)  # spares: the oracles may be among them
    for pair, vector in zip(pairs, answer_vectors, strict=True):
        oracles = find_oracles(corpus, collection, pair, vector, limit=limit, stats=stats)
        candidates = retriever.invoke(pair.question)
        if stats is not None:
            stats.pairs += 1
        for draw in range(draws):
            example = assemble_example(pair.question, pair.answer, oracles, candidates, k=k, p=p,
                                       rng=rng_for(seed, pair.id, pair.question, draw), question_id=pair.id,
                                       order=order)
            if stats is not None:
                stats.examples += 1
                stats.oracle_present += bool(example.oracle_numbers)
            yield example


def build_examples(corpus: Corpus, pairs: Sequence[QAPair], collection: str, *, k: int,
                   p: float = DEFAULT_ORACLE_P, seed: int = 0, draws: int = 1,
                   order: SourceOrder = DEFAULT_SOURCE_ORDER) -> tuple[list[Example], BuildStats]:
    stats = BuildStats()
    examples = list(iter_examples(corpus, pairs, collection, k=k, p=p, seed=seed, draws=draws, order=order,
                                  stats=stats))
    named = sum(1 for pair in pairs if pair.document_key)
    if named and len(stats.unmatched_documents) > named / 2:
        raise DatasetError(
            f"{len(stats.unmatched_documents)} of {named} QA pairs name a document that is not in collection "
            f"'{collection}' (e.g. {stats.unmatched_documents[0]!r}): is it the right collection?"
        )
    return examples, stats


def write_jsonl(examples: Iterable[Example], path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for example in examples:
            handle.write(json.dumps(example.row(), ensure_ascii=False) + "\n")
            count += 1
    return count


def examples_sha256(examples: Iterable[Example]) -> str:
    """A hash of exactly what is trained on (the rows, in order)."""
    digest = hashlib.sha256()
    for example in examples:
        digest.update(json.dumps(example.row(), ensure_ascii=False, sort_keys=True).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()
