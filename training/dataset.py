"""RAFT-style training examples from question/answer pairs and the store.

Each example is the exact prompt the chain builds at answer time (`chatbot.prompts.rag_messages`) with k
numbered sources: the oracle chunk (the stored chunk holding the answer) kept with probability p among
distractors retrieved for the question, shuffled; the target is the gold answer, with the oracle's citation
number appended as " [n]" when the oracle is among the sources (when it is not, the target is the bare
answer, as RAFT does).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.documents import Document

from chatbot.prompts import rag_messages
from chatbot.qa_files import QAFileError, qa_rows

if TYPE_CHECKING:
    from chatbot.services import Services

DEFAULT_ORACLE_P = 0.8

# Chunks of the document(s) named by a QA pair's `source` / `corpus_id`, with their similarity to the answer.
# No ORDER BY on the vector column: with a filter, an HNSW scan could miss the document's chunks entirely.
ORACLE_SQL = (
    "SELECT k.id, k.document_id, k.text, k.metadata, d.source, d.title, c.name,"
    " 1 - (k.embedding <=> %(q)s) AS similarity"
    " FROM chunks k JOIN documents d ON d.id = k.document_id JOIN collections c ON c.id = d.collection_id"
    " WHERE c.name = %(collection)s AND (d.source = %(key)s"
    " OR right(d.source, length(%(key)s) + 1) = '/' || %(key)s"
    " OR d.metadata->>'corpus_id' = %(key)s)"
)


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
    oracle_number: int | None  # the oracle's citation number in the prompt, None when left out
    oracle_chunk_id: int | None
    chunk_ids: list[int | None] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        """The chat-format JSONL row: `{"messages": [system, user, assistant]}`."""
        return {"messages": self.messages}


@dataclass
class BuildStats:
    pairs: int = 0
    oracle_present: int = 0
    oracle_by_document: int = 0  # oracle found among the chunks of the named document
    oracle_by_nearest: int = 0  # no document named (or none matched): the chunk nearest the answer
    unmatched_documents: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "pairs": self.pairs,
            "oracle_present": self.oracle_present,
            "oracle_rate": round(self.oracle_present / self.pairs, 4) if self.pairs else 0.0,
            "oracle_by_document": self.oracle_by_document,
            "oracle_by_nearest": self.oracle_by_nearest,
            "unmatched_documents": self.unmatched_documents[:20],
        }


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


def distinct_distractors(candidates: Iterable[Document], oracle: Document | None) -> list[Document]:
    """Candidates in order, without the oracle chunk and without repeats (same chunk or same text)."""
    seen: set[Any] = set()
    texts: set[str] = set()
    if oracle is not None:
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


def rng_for(seed: int, pair_id: str, question: str) -> random.Random:
    """A per-pair generator: a pair's draw does not depend on which other pairs are in the file."""
    return random.Random(f"{seed}\x00{pair_id}\x00{question}")


def assemble_example(question: str, answer: str, oracle: Document | None, candidates: Sequence[Document],
                     *, k: int, p: float, rng: random.Random, question_id: str = "") -> Example:
    """k sources: the oracle (kept with probability p) + distinct distractors, shuffled; target cited."""
    if k < 1:
        raise ValueError("k must be at least 1")
    keep = rng.random() < p  # drawn even without an oracle, so that the stream of draws stays aligned
    keep = keep and oracle is not None
    distractors = distinct_distractors(candidates, oracle)[: k - 1 if keep else k]
    documents = ([oracle] if keep else []) + distractors
    documents.sort(key=lambda d: str(chunk_key(d)))  # the shuffle then depends on the set, not on rank ties
    rng.shuffle(documents)
    number = documents.index(oracle) + 1 if keep else None
    messages = rag_messages(question, [(d.page_content, d.metadata) for d in documents])
    target = f"{answer.strip()} [{number}]" if number else answer.strip()
    messages.append({"role": "assistant", "content": target})
    return Example(
        messages=messages,
        question_id=question_id,
        oracle_number=number,
        oracle_chunk_id=oracle.metadata.get("chunk_id") if oracle is not None else None,
        chunk_ids=[d.metadata.get("chunk_id") for d in documents],
    )


# --- the store side ------------------------------------------------------------------------------


def find_oracle(services: Services, collection: str, pair: QAPair, answer_vector: Any,
                stats: BuildStats | None = None) -> Document | None:
    """The chunk holding the answer: among the named document's chunks, the one most similar to the
    answer; with no document named (or none matching), the collection's chunk most similar to the answer."""
    from chatbot.retriever import Hit, PgRetriever

    key = pair.document_key
    if key:
        with services.pool.connection() as conn:
            hits = [Hit(*row) for row in conn.execute(
                ORACLE_SQL, {"q": answer_vector, "collection": collection, "key": key})]
        if hits:
            best = max(hits, key=lambda h: (h.similarity, -h.chunk_id))
            if stats is not None:
                stats.oracle_by_document += 1
            return PgRetriever._to_document(best, best.similarity)
        if stats is not None:
            stats.unmatched_documents.append(key)
    nearest = services.retriever(collection, mode="vector", k=1).invoke(pair.answer)
    if stats is not None and nearest:
        stats.oracle_by_nearest += 1
    return nearest[0] if nearest else None


def collection_size(services: Services, collection: str) -> int:
    with services.pool.connection() as conn:
        row = conn.execute(
            "SELECT count(*) FROM chunks k JOIN documents d ON d.id = k.document_id"
            " JOIN collections c ON c.id = d.collection_id WHERE c.name = %s", (collection,)).fetchone()
    return int(row[0])


def iter_examples(services: Services, pairs: Sequence[QAPair], collection: str, *, k: int | None = None,
                  p: float = DEFAULT_ORACLE_P, seed: int = 0, stats: BuildStats | None = None) -> Iterator[Example]:
    """Examples in the order of `pairs` (deterministic for a given seed and store)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError("p must be between 0 and 1")
    k = k or services.settings.top_k
    if collection_size(services, collection) == 0:
        raise DatasetError(f"collection '{collection}' is empty or missing: ingest its documents first")
    answer_vectors = services.embedder.encode([pair.answer for pair in pairs])
    retriever = services.retriever(collection, k=k + 1)  # one spare: the oracle may be among them
    for pair, vector in zip(pairs, answer_vectors, strict=True):
        oracle = find_oracle(services, collection, pair, vector, stats)
        candidates = retriever.invoke(pair.question)
        example = assemble_example(pair.question, pair.answer, oracle, candidates, k=k, p=p,
                                   rng=rng_for(seed, pair.id, pair.question), question_id=pair.id)
        if stats is not None:
            stats.pairs += 1
            stats.oracle_present += example.oracle_number is not None
        yield example


def build_examples(services: Services, pairs: Sequence[QAPair], collection: str, *, k: int | None = None,
                   p: float = DEFAULT_ORACLE_P, seed: int = 0) -> tuple[list[Example], BuildStats]:
    stats = BuildStats()
    examples = list(iter_examples(services, pairs, collection, k=k, p=p, seed=seed, stats=stats))
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
