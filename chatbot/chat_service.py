"""Answering as a product feature: admission, the chain, and persistence of every answer."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from chatbot.chain import ChainEvent, RagChain
from chatbot.conversations import ConversationStore
from chatbot.gate import GenerationGate
from chatbot.metrics import record_answer, record_feedback


@dataclass(frozen=True)
class Stored:
    """Where a finished answer was saved."""

    conversation_id: uuid.UUID
    message_id: uuid.UUID


class ChatService:
    """The one entry point the API, the UI and the CLI use to answer and record."""

    def __init__(self, chain: RagChain, conversations: ConversationStore, gate: GenerationGate) -> None:
        self.chain = chain
        self.conversations = conversations
        self.gate = gate

    def stream(self, question: str, *, generator: str = "base", conversation_id: uuid.UUID | None = None,
               collection: str | None = None, use_retrieval: bool = True,
               history: list[tuple[str, str]] | None = None) -> Iterator[ChainEvent | Stored]:
        """Chain events, then a `Stored`. The first `next()` raises `Busy` when the gate is full.

        History comes from the stored conversation unless given explicitly (OpenAI clients send it)."""
        self.gate.acquire()
        try:
            self.chain.generators.check(generator)  # an unavailable generator fails before anything is stored
            if conversation_id is None or not self.conversations.exists(conversation_id):
                conversation_id = self.conversations.create(question[:80])
                stored_history: list[tuple[str, str]] = []
            else:
                stored_history = self.conversations.history(conversation_id)
            collection = collection or self.chain.settings.collection
            for event in self.chain.stream(question, generator=generator, collection=collection,
                                           history=history if history is not None else stored_history,
                                           use_retrieval=use_retrieval):
                yield event
                if event.kind == "done" and event.answer is not None:
                    message_id = self.conversations.add_message(conversation_id, event.answer, collection)
                    record_answer(event.answer, self._token_count(event.answer.text))
                    yield Stored(conversation_id, message_id)
        finally:
            self.gate.release()

    def _token_count(self, text: str) -> int:
        try:
            return self.chain.generators.count_tokens(text)
        except Exception:  # a metric must never fail an answer (e.g. a remote generator's tokenizer)
            return len(text.split())

    def feedback(self, message_id: uuid.UUID, vote: int) -> bool:
        """Store a thumbs vote and count it; False when the message does not exist."""
        message = self.conversations.message(message_id)
        if message is None or not self.conversations.record_feedback(message_id, vote):
            return False
        record_feedback(message["generator"], vote)
        return True
