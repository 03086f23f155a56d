"""One answer as a sequence of UI-neutral snapshots, with every expected failure turned into a message.

Both tabs stream through `answer_snapshots`: it calls `ChatService.stream` and only reshapes events."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field

from gradio.context import LocalContext

from chatbot.chain import Answer, ChainEvent
from chatbot.chat_service import ChatService, ConversationDenied, Stored
from chatbot.cluster.in_flight import TooManyInFlight
from chatbot.gate import Busy
from chatbot.generators import GeneratorUnavailable
from chatbot.limits import InputTooLong, InvalidInput
from chatbot.storage.db import DatabaseError
from chatbot.ui.formatting import Numbered, answer_sources, numbered_retrieved

log = logging.getLogger(__name__)

BUSY_MESSAGE = ("The assistant is busy answering other questions right now. "
                "Please retry in a few seconds.")
DATABASE_MESSAGE = "⚠️ The document database is unavailable right now ({detail}). Please retry shortly."
FAILED_MESSAGE = "⚠️ Something went wrong while answering ({detail}). Please retry."
TOO_LONG_MESSAGE = "⚠️ Not answered: the {detail}. Please shorten it."
INVALID_MESSAGE = "⚠️ Not answered: the {field} {reason}."
DENIED_MESSAGE = "⚠️ This conversation can no longer be continued: start a new conversation."


@dataclass
class Snapshot:
    """The answer so far: text, the sources to show, and (once stored) where it was saved."""

    text: str = ""
    sources: Numbered = field(default_factory=list)
    sources_heading: str = ""
    answer: Answer | None = None
    stored: Stored | None = None
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.stored is not None or self.error is not None


def as_uuid(value: str | uuid.UUID | None) -> uuid.UUID | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def ui_client() -> str | None:
    """The client of the Gradio event being handled (its peer address, as the rate limit sees it), or None
    outside an event."""
    request = LocalContext.request.get(None)
    client = getattr(request, "client", None)
    return getattr(client, "host", None) or None


def answer_snapshots(chat: ChatService, question: str, *, generator: str, collection: str | None,
                     conversation_id: str | uuid.UUID | None = None,
                     conversation_token: str | None = None) -> Iterator[Snapshot]:
    """Yields a snapshot after every event; the last one has `stored` or `error` set."""
    snap = Snapshot()
    try:
        with closing(chat.stream(question, generator=generator, conversation_id=as_uuid(conversation_id),
                                          conversation_token=conversation_token,
                                          collection=collection or None, client=ui_client())) as events:
            for event in events:
                if isinstance(event, Stored):
                    snap.stored = event
                else:
                    _apply(snap, event)
                yield snap
    except InvalidInput as exc:
        snap.error = refusal(exc)
    except ConversationDenied:
        snap.error = DENIED_MESSAGE
    except GeneratorUnavailable as exc:
        snap.error = f"⚠️ {exc}"
    except TooManyInFlight as exc:
        snap.error = f"⚠️ Not answered: {exc}."
    except Busy:
        snap.error = BUSY_MESSAGE
    except DatabaseError as exc:
        snap.error = DATABASE_MESSAGE.format(detail=exc)
    except Exception as exc:  # the page must survive anything a request can hit; the log keeps the trace
        log.exception("answering failed")
        snap.error = FAILED_MESSAGE.format(detail=type(exc).__name__)
    if snap.error is not None:
        snap.text = f"{snap.text}\n\n{snap.error}".strip() if snap.text else snap.error
        yield snap


def refusal(exc: InvalidInput) -> str:
    """What the page says about a refused input."""
    if isinstance(exc, InputTooLong):
        return TOO_LONG_MESSAGE.format(detail=str(exc).replace(": ", " is ", 1))
    return INVALID_MESSAGE.format(field=exc.field, reason=str(exc).split(": ", 1)[-1])


def _apply(snap: Snapshot, event: ChainEvent) -> None:
    if event.kind == "sources":
        snap.sources = numbered_retrieved(event.documents)
        snap.sources_heading = "Retrieved sources" if event.documents else ""
    elif event.kind == "token":
        snap.text += event.text
    elif event.kind == "done" and event.answer is not None:
        snap.answer = event.answer
        snap.text = event.answer.text
        snap.sources, snap.sources_heading = answer_sources(event.answer)
