"""The answer chain: condense → retrieve → fit into the context window → prompt → stream → cite."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.retrievers import BaseRetriever

from chatbot.answer_guard import AnswerGuard
from chatbot.extractive import Extractor
from chatbot.generators import EXTRACTIVE, Generators, GeneratorUnavailable
from chatbot.limits import InputLimits, InputTooLong
from chatbot.prompts import NOT_COVERED, cited_numbers, plain_prompt, rag_prompt
from chatbot.settings import Settings

Turn = tuple[str, str]  # (user question, assistant answer)


@dataclass
class Answer:
    text: str
    generator: str
    question: str
    search_query: str
    retrieved: list[Document] = field(default_factory=list)
    sources: list[tuple[int, Document]] = field(default_factory=list)  # (citation number, document), cited
    not_covered: bool = False
    seconds: float = 0.0
    first_token_seconds: float | None = None
    retrieval_seconds: float | None = None

    def sources_json(self) -> list[dict[str, Any]]:
        return [source_json(n, d) for n, d in self.sources]


def public_source(source: str | None) -> str | None:
    """What a user is shown of a document's source: a URL whole, a file by its name only (never the server's
    folders: '/srv/docs/x.pdf' and 'upload:x.pdf' → 'x.pdf')."""
    if not source or re.match(r"^[a-z][a-z0-9+.-]*://", source, re.IGNORECASE):
        return source
    return re.split(r"[\\/:]", source)[-1]


def source_json(n: int, doc: Document) -> dict[str, Any]:
    m = doc.metadata
    return {"n": n, "source": public_source(m.get("source")), "title": m.get("title"), "page": m.get("page"),
            "heading": m.get("heading"), "chunk_id": m.get("chunk_id"), "score": m.get("score"),
            "snippet": doc.page_content[:400]}


@dataclass(frozen=True)
class ChainEvent:
    kind: Literal["sources", "token", "done"]
    text: str = ""
    documents: list[Document] = field(default_factory=list)
    answer: Answer | None = None


def condense_question(question: str, history: Sequence[Turn]) -> str:
    """The retrieval query for a follow-up: the previous question gives the context the new one omits.
    Deterministic and model-free (a 135M generator rewrites questions worse than this)."""
    if not history:
        return question
    return f"{history[-1][0].strip()} {question.strip()}"


def fit_documents(documents: Sequence[Document], budget: int, count_tokens: Callable[[str], int]) -> list[Document]:
    """Keep documents in rank order while their text fits the token budget (never a partial chunk)."""
    kept, used = [], 0
    for doc in documents:
        cost = count_tokens(doc.page_content) + 12  # the "[n] title (where)" header
        if used + cost > budget:
            break
        kept.append(doc)
        used += cost
    return kept


def as_pairs(documents: Sequence[Document]) -> list[tuple[str, dict[str, Any]]]:
    return [(d.page_content, d.metadata) for d in documents]


class RagChain:
    """Answers questions from the store with a chosen generator, streaming."""

    def __init__(self, settings: Settings, generators: Generators,
                 retriever_for: Callable[[str], BaseRetriever],
                 threshold_for: Callable[[str], float] | None = None) -> None:
        self.settings = settings
        self.generators = generators
        self.retriever_for = retriever_for
        self.threshold_for = threshold_for or (lambda _collection: settings.relevance_threshold)
        self.limits = InputLimits.from_settings(settings)

    def retrieve(self, query: str, collection: str) -> list[Document]:
        return self.retriever_for(collection).invoke(query)

    def extractor(self, collection: str) -> Extractor:
        """The extractive generator, with the embedder (and reranker) the collection is searched with."""
        retriever = self.retriever_for(collection)
        embedder = getattr(retriever, "embedder", None)
        if embedder is None:
            raise GeneratorUnavailable("`extractive` needs a retriever with an embedder")
        return Extractor(embedder, getattr(retriever, "reranker", None))

    def covered(self, documents: Sequence[Document], collection: str | None = None) -> bool:
        """At least one chunk the retriever considered (kept or not) reaches the collection's abstention threshold
        (`threshold_for`: calibrated per collection, chatbot/abstention.py; else the global setting)."""
        if not documents:
            return False
        threshold = self.threshold_for(collection or self.settings.collection)
        return any(max(d.metadata.get("similarity", 0.0), d.metadata.get("best_similarity", 0.0)) >= threshold
                   for d in documents)

    def prompt_cap(self) -> int:
        """Tokens a prompt may have: the context window less the answer's `max_new_tokens`."""
        return self.generators.context_window() - self.settings.max_new_tokens

    def check_prompt(self, messages: Sequence[BaseMessage]) -> int:
        """The prompt's tokens; `InputTooLong` (the question's fault: nothing else is in it yet) over the cap."""
        tokens, cap = self.generators.prompt_tokens(messages), self.prompt_cap()
        if tokens > cap:
            raise InputTooLong("question", f"{tokens:,} tokens with the instructions; at most {cap:,} fit the "
                               "context window beside the answer")
        return tokens

    def build_messages(self, question: str,
                       documents: Sequence[Document]) -> tuple[list[BaseMessage], list[Document]]:
        """The prompt with as many ranked documents as fit under `prompt_cap` (the lowest-ranked dropped first,
        never the question), and those documents (numbered from 1)."""
        used = self.check_prompt(rag_prompt(question, []))
        fitted = fit_documents(documents, self.prompt_cap() - used, self.generators.count_tokens)
        messages = rag_prompt(question, as_pairs(fitted))
        while fitted and self.generators.prompt_tokens(messages) > self.prompt_cap():  # headers, token merges
            fitted.pop()
            messages = rag_prompt(question, as_pairs(fitted))
        return messages, fitted

    def chat_model(self, generator: str) -> BaseChatModel | None:
        """The chat model `generator` answers with (None: `extractive` runs none); `GeneratorUnavailable` when it
        cannot answer here."""
        return None if generator == EXTRACTIVE else self.generators.chat_model(generator)

    def stream(self, question: str, *, generator: str = "base", history: Sequence[Turn] = (),
               collection: str | None = None, use_retrieval: bool = True,
               model: BaseChatModel | None = None) -> Iterator[ChainEvent]:
        """Events: `sources` (retrieved, numbered as in the prompt), then `token`s, then `done`.
        `InputTooLong` (before anything is retrieved) when the question or the history is over its limit.
        `model`: the generator's chat model when the caller has resolved it already (`chat_model`), so that an
        answer resolves its generator once."""
        started = time.perf_counter()
        self.limits.check(question, history)
        collection = collection or self.settings.collection
        extractive = generator == EXTRACTIVE
        if extractive and not use_retrieval:
            raise GeneratorUnavailable("`extractive` answers from retrieved sources: it needs retrieval")
        if model is None:
            model = self.chat_model(generator)  # fails fast when unavailable
        if model is not None:
            self.check_prompt(rag_prompt(question, []) if use_retrieval else plain_prompt(question))
        search_query = condense_question(question, history)
        answer = Answer("", generator, question, search_query)
        if use_retrieval:
            retrieved = self.retrieve(search_query, collection)
            answer.retrieved = retrieved
            answer.retrieval_seconds = time.perf_counter() - started
            if not self.covered(retrieved, collection):
                answer.text, answer.not_covered = NOT_COVERED, True
                answer.seconds = time.perf_counter() - started
                yield ChainEvent("sources", documents=[])
                yield ChainEvent("token", text=NOT_COVERED)
                yield ChainEvent("done", answer=answer)
                return
            if not extractive:
                messages, answer.retrieved = self.build_messages(question, retrieved)
        else:
            messages = plain_prompt(question)
        yield ChainEvent("sources", documents=answer.retrieved)
        if model is None:
            answer.text = self.extractor(collection).answer(question, answer.retrieved)
            if not answer.text:  # the sources hold no sentence to quote
                answer.text, answer.not_covered = NOT_COVERED, True
            answer.first_token_seconds = time.perf_counter() - started
            yield ChainEvent("token", text=answer.text)
        else:
            answer.text = yield from self._generate(model, messages, answer, started)
        answer.sources = [(n, answer.retrieved[n - 1]) for n in cited_numbers(answer.text)
                          if 1 <= n <= len(answer.retrieved)]
        answer.seconds = time.perf_counter() - started
        yield ChainEvent("done", answer=answer)

    def _generate(self, model: BaseChatModel, messages: list[BaseMessage], answer: Answer,
                  started: float) -> Generator[ChainEvent, None, str]:
        """Stream the model's answer through the guard as `token` events; returns the text sent."""
        pieces: list[str] = []
        guard = AnswerGuard(len(answer.retrieved), stop_loops=self.settings.stop_on_loop)
        stream = model.stream(messages)
        try:
            for chunk in stream:
                if answer.first_token_seconds is None and chunk.content:
                    answer.first_token_seconds = time.perf_counter() - started
                piece = guard.feed(chunk.content if isinstance(chunk.content, str) else "")
                if piece:
                    pieces.append(piece)
                    yield ChainEvent("token", text=piece)
                if guard.stopped:
                    break
        finally:
            stream.close()  # a guarded stop ends the generation too (a local model drops the answer's row)
        if rest := guard.finish():
            pieces.append(rest)
            yield ChainEvent("token", text=rest)
        return "".join(pieces).strip()

    def invoke(self, question: str, **kwargs: Any) -> Answer:
        for event in self.stream(question, **kwargs):
            if event.kind == "done" and event.answer is not None:
                return event.answer
        raise RuntimeError("the chain ended without an answer")
