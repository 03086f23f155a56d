"""Answering as a product feature: admission, the chain, and persistence of every answer."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from chatbot.chain import ChainEvent, RagChain
from chatbot.cluster.in_flight import AnswersInFlight
from chatbot.gate import GenerationGate
from chatbot.limits import History, check_collection
from chatbot.metrics import record_answer, record_feedback
from chatbot.storage.conversations import ConversationStore, new_token


@dataclass(frozen=True)
class Stored:
    """Where a finished answer was saved."""

    conversation_id: uuid.UUID
    message_id: uuid.UUID
    conversation_token: str  # the secret that continues the conversation


class ConversationDenied(LookupError):
    """A conversation that does not exist, or whose token was not given: nobody else may continue it."""


class ChatService:
    """The one entry point the API, the UI and the CLI use to answer and record."""

    def __init__(self, chain: RagChain, conversations: ConversationStore, gate: GenerationGate,
                 in_flight: AnswersInFlight) -> None:
        self.chain = chain
        self.conversations = conversations
        self.gate = gate
        self.in_flight = in_flight

    def stream(self, question: str, *, generator: str = "base", conversation_id: uuid.UUID | None = None,
               conversation_token: str | None = None, collection: str | None = None, use_retrieval: bool = True,
               history: list[tuple[str, str]] | None = None,
               client: str | None = None) -> Iterator[ChainEvent | Stored]:
        """Chain events, then a `Stored`. The first `next()` raises, before anything is stored: `InvalidInput`
        (a question or an explicit history over its limit, a collection name the API would refuse),
        `ConversationDenied` (a conversation id without its token), `Busy` (the gate is full, or `client` already
        has its answers in flight: `TooManyInFlight`),
        `GeneratorUnavailable`.

        History comes from the stored conversation (its newest turns within the limits) unless given explicitly
        (OpenAI clients send it: over the limits it is refused, not cut). A new conversation is stored with its
        first answer, under a fresh token returned in `Stored`."""
        limits = self.chain.limits
        self.check(question, collection=collection, history=history or ())
        leave = self.in_flight.enter(client)
        try:
            self.gate.acquire()
        except BaseException:
            leave()
            raise
        try:
            model = self.chain.chat_model(generator)  # resolved once; unavailable: fails before anything is stored
            if conversation_id is None:
                conversation_token, stored_history = new_token(), []
            elif self.conversations.owns(conversation_id, conversation_token):
                stored_history = limits.trim(self.conversations.history(conversation_id, limits.history_turns))
            else:
                raise ConversationDenied(f"no conversation {conversation_id} with this conversation_token")
            collection = collection or self.chain.settings.collection
            for event in self.chain.stream(question, generator=generator, collection=collection,
                                           history=history if history is not None else stored_history,
                                           use_retrieval=use_retrieval, model=model):
                yield event
                if event.kind == "done" and event.answer is not None:
                    if conversation_id is None:
                        conversation_id = self.conversations.create(question[:80], conversation_token)
                    message_id = self.conversations.add_message(conversation_id, event.answer, collection)
                    record_answer(event.answer, self._token_count(event.answer.text))
                    yield Stored(conversation_id, message_id, conversation_token)
        finally:
            self.gate.release()
            leave()

    def check(self, question: str, *, collection: str | None = None, history: History = ()) -> None:
        """`InvalidInput` for a question or history over its limit, or a collection name the API would refuse: the
        one check for API, UI and CLI (the name is stored with every answer). `stream` makes it first; a caller
        that keeps the inputs (the UI's session state) makes it before keeping anything."""
        self.chain.limits.check(question, history)
        check_collection(collection)

    def _token_count(self, text: str) -> int:
        try:
            return self.chain.generators.count_tokens(text)
        except Exception:  # a metric must never fail an answer (e.g. a remote generator's tokenizer)
            return len(text.split())

    def feedback(self, message_id: uuid.UUID, vote: int, *, client: str) -> bool:
        """Store the client's thumbs vote (replacing its own earlier one) and count it; False when the message
        does not exist. `client`: `conversations.client_key(...)`."""
        message = self.conversations.message(message_id)
        if message is None or not self.conversations.record_feedback(message_id, vote, client):
            return False
        record_feedback(message["generator"], vote)
        return True
