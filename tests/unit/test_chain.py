"""The chain with LangChain fakes: no database, no model."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import BaseMessage
from langchain_core.retrievers import BaseRetriever

from chatbot.chain import RagChain, condense_question, fit_documents
from chatbot.generators import GeneratorUnavailable
from chatbot.prompts import NOT_COVERED
from chatbot.settings import Settings


class ListRetriever(BaseRetriever):
    documents: list[Document]

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return self.documents


class FakeGenerators:
    def __init__(self, reply: str, window: int = 2048) -> None:
        self.reply, self.window, self.calls = reply, window, 0

    def chat_model(self, name: str):
        self.calls += 1
        return GenericFakeChatModel(messages=iter([self.reply]))

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def prompt_tokens(self, messages: list[BaseMessage]) -> int:
        return sum(self.count_tokens(str(m.content)) + 4 for m in messages)

    def context_window(self) -> int:
        return self.window


def doc(text: str, similarity: float, **meta) -> Document:
    return Document(page_content=text, metadata={"similarity": similarity, "title": text[:10], **meta})


def make_chain(reply: str, documents: list[Document], window: int = 2048) -> tuple[RagChain, FakeGenerators]:
    generators = FakeGenerators(reply, window)
    settings = Settings(max_new_tokens=20, relevance_threshold=0.3, _env_file=None)
    return RagChain(settings, generators, lambda _c: ListRetriever(documents=documents)), generators


def test_answer_streams_and_keeps_only_valid_cited_sources():
    docs = [doc("warranty is 24 months", 0.8), doc("returns within 30 days", 0.6)]
    chain, _ = make_chain("The warranty lasts 24 months [1]. Also [7].", docs)
    events = list(chain.stream("How long is the warranty?"))
    assert events[0].kind == "sources" and len(events[0].documents) == 2
    tokens = "".join(e.text for e in events if e.kind == "token")
    assert tokens.startswith("The warranty lasts 24 months [1]")
    answer = events[-1].answer
    assert events[-1].kind == "done" and answer is not None
    assert [n for n, _ in answer.sources] == [1]
    assert answer.sources_json()[0]["title"] == "warranty i"
    assert not answer.not_covered


def test_no_relevant_chunk_gives_not_covered_without_calling_the_model():
    chain, generators = make_chain("should not be used", [doc("unrelated", 0.1)])
    model_calls_before = generators.calls
    answer = chain.invoke("What is the capital of Mars?")
    assert answer.not_covered and answer.text == NOT_COVERED and answer.sources == []
    assert generators.calls == model_calls_before + 1  # resolved once up front, never streamed
    assert answer.first_token_seconds is None


def test_without_retrieval_the_prompt_has_no_sources():
    chain, _ = make_chain("Plain answer.", [doc("x", 0.9)])
    answer = chain.invoke("Hi?", use_retrieval=False)
    assert answer.text == "Plain answer." and answer.retrieved == []


def test_context_fitting_drops_lower_ranked_chunks_that_do_not_fit():
    docs = [doc("a " * 50, 0.9), doc("b " * 50, 0.8), doc("c " * 50, 0.7)]
    assert len(fit_documents(docs, budget=130, count_tokens=lambda t: len(t.split()))) == 2
    assert fit_documents(docs, budget=10, count_tokens=lambda t: len(t.split())) == []
    chain, _ = make_chain("ok [1]", docs, window=200)
    messages, fitted = chain.build_messages("q?", docs)
    assert len(fitted) < 3 and "[1]" in messages[1].content and "c c c" not in messages[1].content


def test_a_model_resolved_by_the_caller_is_not_resolved_again():
    chain, generators = make_chain("unused", [doc("warranty is 24 months", 0.8)])
    model = chain.chat_model("base")
    answer = chain.invoke("How long is the warranty?", model=model)
    assert generators.calls == 1 and answer.text == "unused"


def test_condense_uses_the_previous_question():
    assert condense_question("and the price?", []) == "and the price?"
    assert condense_question("and the price?", [("Tell me about the Pro plan", "...")]) == (
        "Tell me about the Pro plan and the price?"
    )


def test_a_runoff_ends_the_answer_and_the_generation():
    docs = [doc("warranty is 24 months", 0.8), doc("returns within 30 days", 0.6)]
    chain, _ = make_chain("24 months [1]. [2] [3] [4] [5] [6] [7] [8] [9]", docs)
    events = list(chain.stream("How long is the warranty?"))
    tokens = "".join(e.text for e in events if e.kind == "token")
    answer = events[-1].answer
    assert tokens.strip() == answer.text == "24 months [1]. [2]"
    assert [n for n, _ in answer.sources] == [1, 2]


class EmbeddingRetriever(ListRetriever):
    embedder: Any
    reranker: Any = None


def test_extractive_answers_quote_the_sources_without_any_generator():
    from tests.unit.test_extractive import BagOfWords

    docs = [doc("Invoices are sent by email each month.", 0.5), doc("Hold the reset button for 15 seconds.", 0.7)]
    generators = FakeGenerators("never used")
    settings = Settings(relevance_threshold=0.3, _env_file=None)
    chain = RagChain(settings, generators, lambda _c: EmbeddingRetriever(documents=docs, embedder=BagOfWords()))
    answer = chain.invoke("How long do I hold the reset button?", generator="extractive")
    assert answer.text.startswith("Hold the reset button for 15 seconds. [2]") and generators.calls == 0
    assert [n for n, _ in answer.sources] == [2] and answer.first_token_seconds is not None
    with pytest.raises(GeneratorUnavailable, match="needs retrieval"):
        chain.invoke("Hi?", generator="extractive", use_retrieval=False)
