"""The Chat tab's "Talk to a person": always there, offered prominently after an answer that abstained (the
stored answer's `not_covered` flag, whatever its wording). It creates a handoff through `HandoffService`, with the
conversation the page holds (its id and token) and an optional contact."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

import gradio as gr

from chatbot.chat_service import ConversationDenied
from chatbot.handoffs import CONTACT_CHARS, HandoffService
from chatbot.limits import InvalidInput
from chatbot.storage.db import DatabaseError

log = logging.getLogger(__name__)

OFFER = ("### No answer in the documents\nA person from the support team can take over: add how to reach "
         "you if you like, then choose **Talk to a person**.")
CREATED = "Handed to a person (reference `{ref}`): the support team will get back to you{how}."


@dataclass(frozen=True)
class HandoffLayout:
    offer: gr.Markdown
    contact: gr.Textbox
    talk: gr.Button
    result: gr.Markdown


def handoff_layout() -> HandoffLayout:
    """The components, laid out (inside the Chat tab)."""
    offer = gr.Markdown("", elem_id="handoff-offer")
    with gr.Row(equal_height=True):
        contact = gr.Textbox(label="Your contact (optional)", placeholder="e-mail or phone, so a person can reply",
                             max_lines=1, max_length=CONTACT_CHARS, scale=4, elem_id="handoff-contact")
        talk = gr.Button("Talk to a person", variant="secondary", scale=1, min_width=160, elem_id="handoff-talk")
    result = gr.Markdown("", elem_id="handoff-result")
    return HandoffLayout(offer, contact, talk, result)


class HandoffHandlers:
    def __init__(self, handoffs: HandoffService) -> None:
        self.handoffs = handoffs

    def offer(self, current: dict[str, str]) -> tuple:
        """After each answer: the offer and a primary button when the conversation's last answer abstained."""
        abstained = bool(current.get("id")) and self.handoffs.seen(uuid.UUID(current["id"])).abstained
        return (OFFER if abstained else ""), gr.update(variant="primary" if abstained else "secondary"), ""

    def talk(self, typed: str, current: dict[str, str], contact: str, collection: str) -> tuple:
        """Create the handoff: the question typed, else the conversation's last one. Outputs: result, contact."""
        conversation = uuid.UUID(current["id"]) if current.get("id") else None
        question = (typed or "").strip()
        if not question and conversation is not None:
            turns = self.handoffs.seen(conversation).turns
            question = turns[-1]["question"] if turns else ""
        if not question:
            return "Type your question first, then choose **Talk to a person**.", gr.update()
        try:
            handoff = self.handoffs.create(question, conversation_id=conversation,
                                           conversation_token=current.get("token"), contact=contact,
                                           collection=(collection or "").strip() or None)
        except InvalidInput as exc:
            return f"⚠️ Not handed off: {exc}.", gr.update()
        except ConversationDenied:
            return "⚠️ This conversation can no longer be continued: start a new conversation.", gr.update()
        except DatabaseError as exc:
            return f"⚠️ The database is unavailable right now ({exc}). Please retry shortly.", gr.update()
        how = " at the contact you gave" if handoff.contact else " here or through your usual support channel"
        return CREATED.format(ref=str(handoff.id)[:8], how=how), ""


def wire_handoff(ui: HandoffLayout, handlers: HandoffHandlers, answered: Any, conversation: gr.State,
                 question: gr.Textbox, collection: gr.Textbox, new_chat: gr.Button) -> None:
    """`answered`: the Chat tab's answer event, after which the offer is refreshed; `new_chat` withdraws it."""
    offered = [ui.offer, ui.talk, ui.result]
    answered.then(handlers.offer, [conversation], offered, show_progress="hidden")
    new_chat.click(lambda: ("", gr.update(variant="secondary"), ""), None, offered, queue=False)
    ui.talk.click(handlers.talk, [question, conversation, ui.contact, collection], [ui.result, ui.contact],
                  show_progress="hidden")
