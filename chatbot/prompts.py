"""The one prompt template: used by the chain at answer time and by `training/` to build examples."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import BaseMessage, convert_to_openai_messages
from langchain_core.prompts import ChatPromptTemplate

SYSTEM_RAG = (
    "You are a support assistant. Answer the question using only the numbered sources below. "
    "Cite each fact with its source number in square brackets, like [1]. "
    "If the sources do not contain the answer, say that the documents do not cover it."
)
SYSTEM_PLAIN = "You are a support assistant. Answer the customer's question briefly and accurately."

RAG_PROMPT = ChatPromptTemplate.from_messages(
    [("system", SYSTEM_RAG), ("human", "Sources:\n\n{sources}\n\nQuestion: {question}")]
)
PLAIN_PROMPT = ChatPromptTemplate.from_messages([("system", SYSTEM_PLAIN), ("human", "{question}")])

# What every generator answers when the evidence does not support an answer (the chain's coverage check,
# chatbot/abstention.py): one sentence, no citation, and the way to a person (the Chat's handoff button).
HANDOFF_LABEL = "Talk to a person"
NOT_COVERED = f"I couldn't find this in the documents, so I won't guess: use “{HANDOFF_LABEL}” to ask someone."

# A run of citations ("[1]", "[1, 3]", "[1][2]"), not an index into code (`x[0]`): never right after a word, `)`
# or `]`.
_CITATION_RUN = re.compile(r"(?<![\w)\]])\[\d+(?:\s*,\s*\d+)*\](?:[ \t]*\[\d+(?:\s*,\s*\d+)*\])*")
_NUMBER = re.compile(r"\d+")


def source_header(n: int, metadata: dict[str, Any]) -> str:
    """`[n] Title (page 3)` or `[n] Title (Section > Sub)`."""
    where = f"page {metadata['page']}" if metadata.get("page") else metadata.get("heading") or ""
    title = metadata.get("title") or metadata.get("source") or "untitled"
    return f"[{n}] {title}" + (f" ({where})" if where else "")


def format_sources(sources: Sequence[tuple[str, dict[str, Any]]]) -> str:
    """Numbered source blocks from (text, metadata) pairs, numbered from 1 in the given order."""
    return "\n\n".join(f"{source_header(n, meta)}\n{text.strip()}" for n, (text, meta) in enumerate(sources, 1))


def rag_prompt(question: str, sources: Sequence[tuple[str, dict[str, Any]]]) -> list[BaseMessage]:
    """The chat messages for a question with numbered sources, as the chain hands them to the model."""
    return RAG_PROMPT.format_messages(sources=format_sources(sources), question=question.strip())


def plain_prompt(question: str) -> list[BaseMessage]:
    """The chat messages for a question answered without retrieval."""
    return PLAIN_PROMPT.format_messages(question=question.strip())


def rag_messages(question: str, sources: Sequence[tuple[str, dict[str, Any]]]) -> list[dict[str, str]]:
    """`rag_prompt` as role/content dicts: training stores the exact prompt the chain sends."""
    return convert_to_openai_messages(rag_prompt(question, sources))


def cited_numbers(answer: str) -> list[int]:
    """Every [n] / [n, m] citation in order of first appearance (duplicates removed)."""
    seen: list[int] = []
    for run in _CITATION_RUN.findall(answer):
        for part in _NUMBER.findall(run):
            number = int(part)
            if number not in seen:
                seen.append(number)
    return seen


def citations_valid(answer: str, n_sources: int) -> bool:
    """True when every cited number names a source that exists (an answer with no citation is not valid)."""
    numbers = cited_numbers(answer)
    return bool(numbers) and all(1 <= n <= n_sources for n in numbers)
