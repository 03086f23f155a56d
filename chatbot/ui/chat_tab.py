"""The Chat tab: mode switch, streamed answers, a sources panel, thumbs per answer, multi-turn history.

History lives in Postgres; the page keeps only the conversation (its id and its secret token, in server-side
session state) and which chat row is which message. Votes count once per voter (`voter`: a server-issued cookie
at the peer's network)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from chatbot.chat_service import ChatService
from chatbot.generators import BASE, Generators
from chatbot.handoffs import HandoffService
from chatbot.limits import COLLECTION_CHARS, InvalidInput, check_collection
from chatbot.ui.answering import answer_snapshots, refusal
from chatbot.ui.formatting import inert_markdown, notice_html, sources_html, timing
from chatbot.ui.handoff_offer import HandoffHandlers, handoff_layout, wire_handoff
from chatbot.ui.voters import VOTER_COOKIE, VoterCookies

SOURCES_PLACEHOLDER = "Sources appear here with each answer."
SHOWN_ROWS = 40  # chat rows (20 turns) a page's session state keeps; older ones stay in the database
STATE_SECONDS = 2 * 3600  # a page's session state is dropped this long after its last change
GENERATION = "generation"  # one concurrency group for every event that runs a generator


GENERATOR_INFO = ("base: the bundled model · extractive: the sources' own sentences, no model · "
                  "finetuned: the model with your trained adapter")


def generator_choices(generators: Generators) -> list[str]:
    return generators.names()


def finetuned_note(generators: Generators) -> str:
    """Why `finetuned` is not offered, and how to get it ('' once it is)."""
    hint = generators.finetuned_hint()
    return f"ℹ️ {hint[0].upper()}{hint[1:]}." if hint else ""


def voter(voters: VoterCookies, request: gr.Request | None) -> str:
    """Who votes: the server's signed cookie at the peer's network (see `chatbot.ui.voters`)."""
    cookies = getattr(request, "cookies", None) or {}
    client = getattr(request, "client", None)
    return voters.voter(cookies.get(VOTER_COOKIE), getattr(client, "host", None))


def recent(shown: list[dict[str, Any]], ids: dict[str, str], rows: int) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The newest `rows` chat rows, and the stored-message ids of those rows re-indexed to them."""
    dropped = max(0, len(shown) - rows)
    if not dropped:
        return shown, ids
    return shown[dropped:], {str(int(k) - dropped): v for k, v in ids.items() if int(k) >= dropped}


@dataclass(frozen=True)
class ChatLayout:
    """The Chat tab's components: session state, then what the page shows."""

    messages: gr.State  # [{"role", "content"}] as shown in the chatbot
    conversation: gr.State  # {"id", "token"} once the first answer is stored (server-side session state)
    message_ids: gr.State  # chat row index (str) → stored message id
    mode: gr.Radio
    missing: gr.Markdown
    chatbot: gr.Chatbot
    question: gr.Textbox
    send: gr.Button
    status: gr.Markdown
    new_chat: gr.Button
    collection: gr.Textbox
    sources: gr.HTML


def session_state(value: list | dict) -> gr.State:
    """Server-side state of one page session, dropped `STATE_SECONDS` after its last change."""
    return gr.State(value, time_to_live=STATE_SECONDS)


def chat_layout(generators: Generators, collection_name: str, question_chars: int) -> ChatLayout:
    """The Chat tab's components, laid out (call inside a `gr.Tab`); `collection_name`: the default."""
    states = session_state([]), session_state({}), session_state({})
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            mode = gr.Radio(generator_choices(generators), value=BASE, label="Generator", info=GENERATOR_INFO,
                            elem_id="chat-mode")
            missing = gr.Markdown(finetuned_note(generators), elem_id="chat-finetuned-note")
            chatbot = gr.Chatbot(label="Conversation", height=460, elem_id="chat",
                                 placeholder="Ask a question about your documents.",
                                 feedback_options=("Like", "Dislike"), buttons=["copy"], allow_tags=False)
            with gr.Row():
                question = gr.Textbox(placeholder="Ask a question…", show_label=False, scale=5, lines=1,
                                      max_lines=6, max_length=question_chars, elem_id="chat-question",
                                      submit_btn=False)
                send = gr.Button("Send", variant="primary", scale=1, min_width=90, elem_id="chat-send")
            with gr.Row():
                status = gr.Markdown("", elem_id="chat-status")
                new_chat = gr.Button("New conversation", size="sm", scale=0, min_width=160, elem_id="chat-new")
        with gr.Column(scale=2):
            collection = gr.Textbox(collection_name, label="Collection", max_lines=1, max_length=COLLECTION_CHARS,
                                    elem_id="chat-collection")
            sources = gr.HTML(notice_html(SOURCES_PLACEHOLDER), label="Sources", elem_id="chat-sources")
    return ChatLayout(*states, mode, missing, chatbot, question, send, status, new_chat, collection, sources)


class ChatHandlers:
    """The Chat tab's event handlers: answer (streamed), rate an answer, start over, refresh the generators."""

    def __init__(self, chat: ChatService, generators: Generators, voters: VoterCookies,
                 default_collection: str) -> None:
        self.chat, self._generators, self.voters = chat, generators, voters
        self.default_collection = default_collection

    def respond(self, text: str, shown: list[dict[str, Any]], generator: str, current: dict[str, str],
                collection_name: str, ids: dict[str, str]) -> Iterator[tuple]:
        """Outputs: chatbot, its rows (state), question box, sources, conversation, row ids, status, collection."""
        text = (text or "").strip()
        if not text:
            yield shown, shown, gr.update(), gr.update(), current, ids, "Type a question first.", gr.update()
            return
        try:
            self.chat.check(text, collection=collection_name or None)
        except InvalidInput as exc:  # refused before anything is kept; the session's copy of the inputs goes too
            yield shown, shown, "", gr.update(), current, ids, refusal(exc), self._kept(collection_name)
            return
        shown, ids = recent(shown, ids, SHOWN_ROWS - 2)
        shown = [*shown, {"role": "user", "content": inert_markdown(text)}, {"role": "assistant", "content": "…"}]
        row = len(shown) - 1
        yield shown, shown, "", notice_html("Searching the documents…"), current, ids, "", gr.update()
        for snap in answer_snapshots(self.chat, text, generator=generator, collection=collection_name,
                                     conversation_id=current.get("id"), conversation_token=current.get("token")):
            shown[row] = {"role": "assistant", "content": inert_markdown(snap.text) or "…"}
            panel = sources_html(snap.sources, snap.sources_heading) if snap.sources_heading else gr.update()
            note = ""
            if snap.stored is not None:
                current = {"id": str(snap.stored.conversation_id), "token": snap.stored.conversation_token}
                ids = {**ids, str(row): str(snap.stored.message_id)}
                note = timing(snap.answer) if snap.answer else ""
            elif snap.error is not None:
                panel = notice_html("No answer, so no sources.")
            yield shown, shown, "", panel, current, ids, note, gr.update()

    def _kept(self, collection_name: str) -> Any:
        """The collection box after a refusal: as it is when valid, else the default (nothing oversized is kept)."""
        try:
            check_collection(collection_name)
        except InvalidInput:
            return self.default_collection
        return gr.update()

    def rate(self, ids: dict[str, str], like: gr.LikeData, request: gr.Request) -> str:
        index = like.index if isinstance(like.index, int) else like.index[0]
        message_id = ids.get(str(index))
        if message_id is None or like.liked not in (True, False):
            return "Only stored answers can be rated."
        vote = 1 if like.liked is True else -1
        if not self.chat.feedback(uuid.UUID(message_id), vote, client=voter(self.voters, request)):
            return "That answer is no longer stored."
        return f"Thanks — your thumbs {'up' if vote > 0 else 'down'} was saved."

    @staticmethod
    def reset() -> tuple:
        return [], [], {}, {}, notice_html(SOURCES_PLACEHOLDER), "New conversation started."

    def generators(self) -> tuple:
        """The generators that can answer now (an adapter may have been trained since the app started)."""
        return gr.update(choices=generator_choices(self._generators)), finetuned_note(self._generators)


def wire_chat(demo: gr.Blocks, ui: ChatLayout, handlers: ChatHandlers, concurrency_limit: int) -> Any:
    """The Chat tab's events; returns the answer event (others follow it with `.then`)."""
    inputs = [ui.question, ui.messages, ui.mode, ui.conversation, ui.collection, ui.message_ids]
    outputs = [ui.chatbot, ui.messages, ui.question, ui.sources, ui.conversation, ui.message_ids, ui.status,
               ui.collection]
    answered = gr.on([ui.send.click, ui.question.submit], handlers.respond, inputs, outputs,
                     concurrency_limit=concurrency_limit, concurrency_id=GENERATION, show_progress="hidden")
    ui.chatbot.like(handlers.rate, [ui.message_ids], ui.status, show_progress="hidden")
    cleared = [ui.chatbot, ui.messages, ui.conversation, ui.message_ids, ui.sources, ui.status]
    ui.new_chat.click(handlers.reset, None, cleared, queue=False)
    ui.chatbot.clear(handlers.reset, None, cleared, queue=False)
    demo.load(handlers.generators, None, [ui.mode, ui.missing], show_progress="hidden", queue=False)
    return answered


def build_chat_tab(demo: gr.Blocks, chat: ChatService, generators: Generators, collection: str,
                   concurrency_limit: int, voters: VoterCookies, handoffs: HandoffService | None = None) -> None:
    """Components and events of the Chat tab (call inside a `gr.Tab` of `demo`); `collection`: the default;
    `handoffs`: "Talk to a person" under the conversation."""
    layout = chat_layout(generators, collection, chat.chain.limits.question_chars)
    offer = handoff_layout() if handoffs is not None else None
    answered = wire_chat(demo, layout, ChatHandlers(chat, generators, voters, collection), concurrency_limit)
    if offer is not None and handoffs is not None:
        wire_handoff(offer, HandoffHandlers(handoffs), answered, layout.conversation, layout.question,
                     layout.collection, layout.new_chat)
