"""Handoff to a person, as a product feature: the one service the API, the Chat and Admin tabs and the CLI use
to create, deliver, answer and review handoffs (docs/handoffs.md)."""

from __future__ import annotations

import logging
import uuid

from chatbot.chat_service import ConversationDenied
from chatbot.handoff_delivery import send
from chatbot.limits import InputTooLong, InvalidInput, check_collection, storable
from chatbot.queue.service import JobQueue
from chatbot.settings import Settings
from chatbot.storage.conversations import ConversationStore
from chatbot.storage.handoffs import Handoff, HandoffStore, NewHandoff, Review, Seen, seen_in

log = logging.getLogger(__name__)

CONTACT_CHARS = 300
ANSWER_CHARS = 20000
DELIVERY_KIND = "handoff_delivery"
QUEUED_BY = "handoffs"


def checked_text(field: str, value: str | None, limit: int, *, required: bool = False) -> str:
    """`value` stripped; `InvalidInput` naming `field` when it is required and empty, too long or unstorable."""
    text = (value or "").strip()
    if required and not text:
        raise InvalidInput(field, "must not be empty")
    if len(text) > limit:
        raise InputTooLong(field, f"{len(text):,} characters; at most {limit:,} are accepted")
    try:
        return storable(text)
    except ValueError as exc:
        raise InvalidInput(field, str(exc)) from None


def submit_delivery(jobs: JobQueue, handoff_id: uuid.UUID | str, delay_s: float | None = None) -> None:
    """Queue a delivery job for the handoff, to run now or in `delay_s` seconds."""
    jobs.submit(DELIVERY_KIND, f"deliver handoff {handoff_id}", {"handoff": str(handoff_id)}, queued_by=QUEUED_BY,
                schedule_in=delay_s)


class HandoffService:
    def __init__(self, settings: Settings, store: HandoffStore, conversations: ConversationStore,
                 jobs: JobQueue) -> None:
        self.settings, self.store, self.conversations, self.jobs = settings, store, conversations, jobs

    def create(self, question: str, *, conversation_id: uuid.UUID | None = None, conversation_token: str | None = None,
               contact: str | None = None, collection: str | None = None) -> Handoff:
        """A new open handoff with what the user saw in the conversation (which `conversation_token` must own:
        `ConversationDenied` otherwise), queued for delivery when a webhook is configured. `InvalidInput` names
        the field it refuses."""
        question = checked_text("question", question, self.settings.max_question_chars, required=True)
        contact = checked_text("contact", contact, CONTACT_CHARS)
        check_collection(collection)
        new = NewHandoff(question=question, contact=contact, collection=collection or self.settings.collection)
        if conversation_id is not None:
            if not self.conversations.owns(conversation_id, conversation_token):
                raise ConversationDenied(f"no conversation {conversation_id} with this conversation_token")
            seen = seen_in(self.conversations.pool, conversation_id)
            new = NewHandoff(question=question, contact=contact, conversation_id=conversation_id,
                             collection=collection or seen.collection or self.settings.collection,
                             message_id=seen.last_message, conversation=seen.turns, sources=seen.last_sources,
                             reason="abstained" if seen.abstained else "asked")
        handoff = self.store.create(new)
        self.queue(handoff.id)
        return handoff

    def seen(self, conversation_id: uuid.UUID) -> Seen:
        """What the conversation's user saw (its turns, whether its last answer abstained)."""
        return seen_in(self.conversations.pool, conversation_id)

    def queue(self, handoff_id: uuid.UUID, delay_s: float | None = None) -> bool:
        """Queue its delivery when a webhook is configured; a queue that fails leaves the handoff open (logged)."""
        if not self.settings.handoff_url:
            return False
        try:
            submit_delivery(self.jobs, handoff_id, delay_s)
        except Exception:  # the handoff is stored: `ragbot handoffs deliver` or the next retry sends it
            log.exception("could not queue the delivery of handoff %s", handoff_id)
            return False
        return True

    def queue_open(self) -> int:
        """Queue a delivery job for each open handoff now; returns how many were queued."""
        return sum(self.queue(handoff_id) for handoff_id in self.store.open_ids())

    def deliver(self, handoff_id: uuid.UUID) -> Handoff | None:
        """One delivery attempt now (see `HandoffStore.deliver`): None when it is not open."""
        return self.store.deliver(handoff_id, lambda handoff: send(handoff, self.settings))

    def deliver_open(self) -> list[Handoff]:
        """One attempt for each open handoff, oldest first; returns them as they are afterwards."""
        outcomes = (self.deliver(handoff_id) for handoff_id in self.store.open_ids())
        return [handoff for handoff in outcomes if handoff is not None]

    def recent(self, status: str | None = None, review: str | None = None, limit: int = 200) -> list[Handoff]:
        """Newest first, optionally only those in `status` / with `review`."""
        return self.store.recent(status, review, limit)

    def get(self, handoff_id: uuid.UUID) -> Handoff | None:
        return self.store.get(handoff_id)

    def answer(self, handoff_id: uuid.UUID, text: str, by: str) -> Handoff:
        """The agent's answer: the handoff becomes answered, its pair awaits review. LookupError if unknown."""
        text = checked_text("answer", text, ANSWER_CHARS, required=True)
        handoff = self.store.answer(handoff_id, text, by[:200])
        if handoff is None:
            raise LookupError(f"no handoff {handoff_id}")
        return handoff

    def review(self, handoff_id: uuid.UUID, verdict: Review) -> Handoff:
        """Approve (the pair joins the QA data) or reject an answered handoff; LookupError if there is none."""
        handoff = self.store.set_review(handoff_id, verdict)
        if handoff is None:
            raise LookupError(f"no answered handoff {handoff_id}")
        return handoff
