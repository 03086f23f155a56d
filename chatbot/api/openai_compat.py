"""OpenAI-compatible `/v1/models` and `/v1/chat/completions` (non-streaming and SSE).

Extras beyond the OpenAI schema (clients ignore unknown fields): request `collection`, `conversation_id` with its
`conversation_token`, `use_retrieval`; response `sources` (the cited sources), `conversation_id`,
`conversation_token` (the secret that continues it), `message_id`. The question and the earlier turns are held to
the service's limits (`chatbot.limits`): over one, a 422 whose `param` names the field."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, Literal

import psycopg
from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field, field_validator

from chatbot.chain import ChainEvent, public_source
from chatbot.chat_service import ChatService, ConversationDenied, Stored
from chatbot.cluster.in_flight import TooManyInFlight
from chatbot.gate import Busy
from chatbot.generators import Generators, GeneratorUnavailable
from chatbot.limits import COLLECTION_CHARS, InvalidInput, storable
from chatbot.login_throttle import current_client
from chatbot.storage.db import DatabaseError


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            parts = (part.get("text") for part in self.content if isinstance(part, dict))
            return "".join(text for text in parts if isinstance(text, str))
        return self.content or ""


class ChatRequest(BaseModel):
    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=200)
    stream: bool = False
    collection: str | None = Field(default=None, min_length=1, max_length=COLLECTION_CHARS)
    conversation_id: uuid.UUID | None = None
    conversation_token: str | None = Field(default=None, max_length=200)
    use_retrieval: bool = True
    # Accepted for compatibility; decoding is greedy and bounded by the server's settings.
    temperature: float | None = None
    max_tokens: int | None = None

    @field_validator("model", "collection")
    @classmethod
    def _storable_name(cls, value: str | None) -> str | None:
        return value if value is None else storable(value)

    @field_validator("messages")
    @classmethod
    def _ends_with_user(cls, messages: list[ChatMessage]) -> list[ChatMessage]:
        for message in messages:
            storable(message.text())
        if messages[-1].role != "user" or not messages[-1].text().strip():
            raise ValueError("the last message must be a non-empty user message")
        return messages

    def history(self) -> list[tuple[str, str]]:
        """(user, assistant) pairs before the final question."""
        turns, pending = [], None
        for m in self.messages[:-1]:
            if m.role == "user":
                pending = m.text()
            elif m.role == "assistant" and pending is not None:
                turns.append((pending, m.text()))
                pending = None
        return turns


# The request field each limit applies to: the question is the last message, the history the ones before it.
LIMIT_PARAMS = {"question": "messages[-1].content", "history": "messages"}


def openai_error(status: int, message: str, kind: str, headers: dict[str, str] | None = None,
                 param: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": status}},
                        status_code=status, headers=headers)


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


AdapterStates = Callable[[], dict[str, dict[str, Any]]]


def adapter_metadata(generators: Generators, name: str, states: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A fine-tuned generator's adapter and whether it is stale (a training document changed since); {} for the
    others, or when the adapter is not known here."""
    if not name.startswith("finetuned"):
        return {}
    try:
        adapter = generators.resolve(name).name
    except GeneratorUnavailable:
        return {}
    state = states.get(adapter)
    if state is None:
        return {}
    changed = state["changed_documents"]
    shown = [{"title": d["title"], "source": public_source(d["source"]), "change": d["change"]}
             for d in changed["documents"]]  # what a chat user sees of a document anyway: no server folders
    return {"ragbot": {"adapter": adapter, "stale": state["stale"], "documents_recorded": state["documents_recorded"],
                       "changed_documents": {"count": changed["count"], "documents": shown}}}


def router(generators: Generators, chat: ChatService, adapter_states: AdapterStates | None = None) -> APIRouter:
    """`adapter_states()` gives each adapter's staleness (`adapter_entries`) for the `/v1/models` metadata."""
    api = APIRouter(prefix="/v1", tags=["openai"])

    @api.get("/models")
    def list_models() -> dict[str, Any]:
        created = int(time.time())
        try:
            states = adapter_states() if adapter_states else {}
        except (DatabaseError, psycopg.OperationalError):  # the list still answers while the database is away
            states = {}
        return {"object": "list", "data": [
            {"id": name, "object": "model", "created": created, "owned_by": "ragbot",
             **adapter_metadata(generators, name, states)}
            for name in generators.names()
        ]}

    @api.post("/chat/completions", response_model=None)
    def chat_completions(request: ChatRequest) -> JSONResponse | StreamingResponse:
        question = request.messages[-1].text()
        history = request.history() if len(request.messages) > 1 else None
        events = chat.stream(question, generator=request.model, conversation_id=request.conversation_id,
                             conversation_token=request.conversation_token, collection=request.collection,
                             use_retrieval=request.use_retrieval, history=history, client=current_client.get())
        try:
            first = next(events)  # admission, generator and database errors surface here, before any byte
        except InvalidInput as exc:
            return openai_error(422, str(exc), "invalid_request_error", param=LIMIT_PARAMS.get(exc.field, exc.field))
        except ConversationDenied as exc:
            return openai_error(404, str(exc), "conversation_not_found", param="conversation_token")
        except TooManyInFlight as exc:  # this client's own answers hold its share: 429, like its rate limit
            return openai_error(429, str(exc), "rate_limited", {"Retry-After": "5"})
        except Busy as exc:
            return openai_error(503, str(exc), "server_busy", {"Retry-After": "5"})
        except GeneratorUnavailable as exc:
            return openai_error(404, str(exc), "model_not_found")
        except (DatabaseError, psycopg.OperationalError) as exc:  # incl. PoolTimeout while the server is down
            return openai_error(503, f"database unavailable: {exc}", "database_unavailable")
        if request.stream:
            return StreamingResponse(sse(first, events, request.model), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        return JSONResponse(complete(first, events, request.model))

    return api


def complete(first: ChainEvent | Stored, events: Iterator[ChainEvent | Stored], model: str) -> dict[str, Any]:
    answer, stored = None, None
    for event in itertools.chain([first], events):
        if isinstance(event, Stored):
            stored = event
        elif event.kind == "done":
            answer = event.answer
    assert answer is not None and stored is not None
    return {
        "id": completion_id(), "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        "sources": answer.sources_json(), "not_covered": answer.not_covered,
        "conversation_id": str(stored.conversation_id), "conversation_token": stored.conversation_token,
        "message_id": str(stored.message_id),
    }


def sse(first: ChainEvent | Stored, events: Iterator[ChainEvent | Stored], model: str) -> Iterator[str]:
    """`chat.completion.chunk` events; the final chunk carries `sources`, `conversation_id`, `conversation_token`,
    `message_id`."""
    cid, created = completion_id(), int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        body = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(body)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    answer = None
    try:
        for event in itertools.chain([first], events):
            if isinstance(event, Stored):
                yield chunk({}, "stop", sources=answer.sources_json() if answer else [],
                            not_covered=bool(answer and answer.not_covered),
                            conversation_id=str(event.conversation_id), conversation_token=event.conversation_token,
                            message_id=str(event.message_id))
            elif event.kind == "token":
                yield chunk({"content": event.text})
            elif event.kind == "done":
                answer = event.answer
    except Exception as exc:  # mid-stream failures become a visible error event, not a cut connection
        yield f"data: {json.dumps({'error': {'message': str(exc), 'type': type(exc).__name__}})}\n\n"
    yield "data: [DONE]\n\n"
