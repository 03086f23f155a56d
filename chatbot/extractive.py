"""The `extractive` generator: an answer made only of the retrieved sources' own sentences, each cited.

The sources are cut into passages — sentences, and whole lists, code blocks and tables (a block keeps the sentence
that introduces it, "…like this:") — and each is scored against the question with the embedder (the reranker when
one is configured), plus a share of its source's retrieval similarity. The best passage and those scoring within
`margin` of it are kept while they fit `max_words`, then printed in source order, each cited `[n]`. No generator
runs: it is instant on a CPU, every word comes from a source and every citation names one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
from langchain_core.documents import Document

Kind = Literal["sentence", "list", "code", "table"]

_LIST_ITEM = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*•‣◦]|\(?[a-z]\))\s+\S")
_CODE_START = re.compile(r"^(?:>>>|\.\.\.(?:\s|$)|\$ |\s{2,}\S|\t)")
_CODE_END = re.compile(r"[;{}]\s*$|^\s*[)\]}]")
_TABLE_ROW = re.compile(r"\S\s{3,}\S|^\s*\|.*\|\s*$")  # aligned columns, or a Markdown table row
_RULE = re.compile(r"^\s*[-=~_*#]{3,}[-=~_*#\s]*$")
_HEADING = re.compile(r"^\s*#{1,6}\s")
_FENCE = re.compile(r"^\s*```")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"”’)]?\s+(?=[\"“(\[]?[A-Z0-9])")
_SPACES = re.compile(r"\s+")
_FIELD = re.compile(r"^[a-z][a-z_]{0,30}:\s+(?=\S)")  # "answer: …": a CSV row with lower-case headers
_PROSE_WORD = re.compile(r"\b[A-Za-z]{2,}\b")


class Encoder(Protocol):
    def encode(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class Passage:
    source: int  # citation number: the document's rank, from 1
    position: int  # order within its source
    kind: Kind
    text: str


def _line_kind(line: str) -> Kind | None:
    """What a line of a block is (None: prose)."""
    if _LIST_ITEM.match(line):
        return "list"
    if _CODE_START.match(line) or _CODE_END.search(line):
        return "code"
    if _TABLE_ROW.search(line.strip()):
        return "table"
    return None


def _continues(kind: Kind, line: str) -> bool:
    """Whether `line` belongs to the `kind` block above it: a line of that kind, an indented line under a list
    item, or a line of code's output (one with fewer than three words, like `0.19999999999999996`)."""
    if not line.strip():
        return False
    if _line_kind(line) == kind:
        return True
    if kind == "list":
        return line.startswith((" ", "\t"))
    return kind == "code" and len(_PROSE_WORD.findall(line)) < 3


def split_passages(text: str) -> list[tuple[Kind, str]]:
    """A source's text as sentences and whole blocks (lists, code, tables), in order; headings and rules dropped."""
    lines = text.splitlines()
    out: list[tuple[Kind, str]] = []
    prose: list[str] = []

    def flush_prose() -> None:
        if prose:
            paragraph = _SPACES.sub(" ", " ".join(prose)).strip()
            out.extend(("sentence", s.strip()) for s in _SENTENCE_END.split(paragraph) if s.strip())
            prose.clear()

    def add_block(kind: Kind, block: list[str]) -> None:
        flush_prose()
        body = "\n".join(line.rstrip() for line in block).strip("\n")
        if out and out[-1][0] == "sentence" and out[-1][1].endswith(":"):  # "…like this:" belongs to the block
            body = f"{out.pop()[1]}\n{body}"
        out.append((kind, body))

    i = 0
    while i < len(lines):
        line = lines[i]
        if _FENCE.match(line):
            end = next((j for j in range(i + 1, len(lines)) if _FENCE.match(lines[j])), len(lines) - 1)
            add_block("code", lines[i: end + 1])
            i = end + 1
            continue
        if not line.strip() or _RULE.match(line) or _HEADING.match(line):
            flush_prose()
            i += 1
            continue
        if i + 1 < len(lines) and _RULE.match(lines[i + 1]) and lines[i + 1].strip():  # an underlined heading
            flush_prose()
            i += 2
            continue
        kind = _line_kind(line)
        if kind is None:
            field = _FIELD.match(line)
            if field:  # a field starts its own paragraph, without its label; a question field answers nothing
                flush_prose()
                line = line[field.end():]
                if line.rstrip().endswith("?"):
                    i += 1
                    continue
            prose.append(line)
            i += 1
            continue
        block = [line]
        i += 1
        while i < len(lines) and _continues(kind, lines[i]):
            block.append(lines[i])
            i += 1
        add_block(kind, block)
    flush_prose()
    return out


def _key(text: str) -> str:
    return _SPACES.sub(" ", text).strip().lower()


def passages(documents: Sequence[Document]) -> list[Passage]:
    """Every passage of the documents (numbered from 1), without repeats (chunks overlap) and without a chunk's
    leading fragment (a sentence cut by the chunker starts in lower case)."""
    seen: list[str] = []
    found: list[Passage] = []
    for n, doc in enumerate(documents, 1):
        for position, (kind, text) in enumerate(split_passages(doc.page_content)):
            key = _key(text)
            if (position == 0 and kind == "sentence" and text[:1].islower()) or len(key.split()) < 3:
                continue
            if any(key in other for other in seen):
                continue
            seen.append(key)
            found.append(Passage(n, position, kind, text))
    return found


def render(chosen: Sequence[Passage]) -> str:
    """Passages in source order, each cited; sentences of one source that follow each other share a paragraph,
    code goes in a fenced block."""
    parts: list[str] = []
    previous: Passage | None = None
    for p in sorted(chosen, key=lambda p: (p.source, p.position)):
        cite = f"[{p.source}]"
        if p.kind == "sentence":
            text = f"{p.text} {cite}"
            joined = previous is not None and previous.kind == "sentence" and previous.source == p.source \
                and previous.position == p.position - 1
            if joined:
                parts[-1] += " " + text
            else:
                parts.append(text)
        elif p.kind in ("code", "table"):  # the citation goes on the introduction, else under the block
            lines = p.text.split("\n")
            intro = lines.pop(0) + f" {cite}\n\n" if lines[0].rstrip().endswith(":") and len(lines) > 1 else ""
            block = "\n".join(lines)
            if p.kind == "code" and not _FENCE.match(block):
                block = f"```\n{block}\n```"
            parts.append(f"{intro}{block}" + ("" if intro else f"\n\n{cite}"))
        else:
            parts.append(f"{p.text} {cite}")
        previous = p
    return "\n\n".join(parts)


@dataclass
class Extractor:
    """Builds extractive answers. `max_words`, `margin` and `source_weight`: the best mean token F1 over the train
    splits of python-faq (0.403) and examples/ (0.452) in `ragbot bench extractive`'s grid (2-core AVX2 CPU;
    python-faq alone preferred margin 1.0 at 0.423, examples/ alone this setting)."""

    encoder: Encoder
    reranker: Any = None  # a sentence-transformers CrossEncoder, when configured
    max_words: int = 80
    margin: float = 0.25
    source_weight: float = 1.0

    def scores(self, question: str, found: Sequence[Passage], documents: Sequence[Document]) -> np.ndarray:
        """How well each passage answers the question, plus a share of its source's retrieval similarity."""
        texts = [p.text for p in found]
        if self.reranker is not None:
            relevance = np.asarray(self.reranker.predict([(question, t) for t in texts]), dtype=float)
            relevance = 1 / (1 + np.exp(-relevance))  # logits → 0..1, comparable with the similarity share
        else:
            vectors = self.encoder.encode([question, *texts])
            relevance = vectors[1:] @ vectors[0]
        prior = np.asarray([float(documents[p.source - 1].metadata.get("similarity") or 0.0) for p in found])
        return relevance + self.source_weight * prior

    def choose(self, question: str, documents: Sequence[Document]) -> list[Passage]:
        """The passages that best answer the question, best first."""
        found = passages(documents)
        return self.select(found, self.scores(question, found, documents)) if found else []

    def select(self, found: Sequence[Passage], scores: np.ndarray) -> list[Passage]:
        """The best passage, then those within `margin` of it while they fit `max_words`, best first."""
        order = np.argsort(-scores, kind="stable")
        best = float(scores[order[0]])
        chosen = [found[order[0]]]
        words = len(chosen[0].text.split())
        for i in order[1:]:
            size = len(found[i].text.split())
            if float(scores[i]) < best - self.margin or words + size > self.max_words:
                continue
            chosen.append(found[i])
            words += size
        return chosen

    def answer(self, question: str, documents: Sequence[Document]) -> str:
        """The extractive answer ('' when the documents have no passage)."""
        return render(self.choose(question, documents))
