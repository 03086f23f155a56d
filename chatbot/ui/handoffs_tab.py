"""Admin → Handoffs: every handoff to a person (open, delivered, answered) with its delivery attempts; an agent
answers one here, then approves or rejects the question–answer pair for the QA data (the same export as
`ragbot feedback export`, previewed below). Thin: it calls `HandoffService`, like `ragbot handoffs`."""

from __future__ import annotations

import json
import uuid
from typing import Any

import gradio as gr
from psycopg_pool import ConnectionPool

from chatbot.handoffs import HandoffService
from chatbot.limits import InvalidInput
from chatbot.storage.feedback_export import reviewed_pairs
from chatbot.storage.handoffs import REVIEWS, STATUSES, Handoff, Review

HANDOFF_HEADERS = ["id", "status", "reason", "created", "question", "contact", "attempts", "last error", "delivered",
                   "review"]
COLUMN_WIDTHS: list[str | int] = ["110px", "80px", "90px", "110px", "22%", "120px", "80px", "14%", "110px", "80px"]
ALL = "all"
SHOWN = 200


def when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def handoff_row(h: Handoff) -> list[Any]:
    return [str(h.id), h.status, h.reason, when(h.created_at), h.question, h.contact, h.attempts, h.last_error,
            when(h.delivered_at), h.review if h.status == "answered" else ""]


class HandoffsHandlers:
    def __init__(self, handoffs: HandoffService, pool: ConnectionPool, min_votes: int, agent: str) -> None:
        self.handoffs, self.pool, self.min_votes, self.agent = handoffs, pool, min_votes, agent

    def listing(self, status: str, review: str) -> list[list[Any]]:
        rows = self.handoffs.recent(None if status == ALL else status, None if review == ALL else review, SHOWN)
        return [handoff_row(h) for h in rows]

    def reload(self, status: str, review: str) -> tuple:
        """The table under the filters, and the QA preview."""
        return self.listing(status, review), self.preview()

    def preview(self) -> str:
        """The reviewed QA data as `ragbot feedback export` writes it (JSONL)."""
        pairs = reviewed_pairs(self.pool, min_votes=self.min_votes)
        return "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs)

    def _handoff(self, value: str) -> Handoff | None:
        try:
            return self.handoffs.get(uuid.UUID((value or "").strip()))
        except ValueError:
            return None

    def show(self, value: str) -> tuple:
        """Details and the answer box of the chosen handoff."""
        handoff = self._handoff(value)
        if handoff is None:
            return "", ""
        return json.dumps(handoff.to_json(), indent=2, ensure_ascii=False), handoff.answer

    def answer(self, value: str, text: str) -> str:
        handoff = self._handoff(value)
        if handoff is None:
            return "Choose a handoff first (select its row)."
        try:
            self.handoffs.answer(handoff.id, text, self.agent)
        except InvalidInput as exc:
            return f"Not saved: {exc}."
        return "Answer saved: approve it to add the pair to the QA data."

    def review(self, value: str, verdict: Review) -> str:
        handoff = self._handoff(value)
        if handoff is None or handoff.status != "answered":
            return "Only an answered handoff can be reviewed: save an answer first."
        self.handoffs.review(handoff.id, verdict)
        return "Approved: the pair is in the QA data." if verdict == "approved" else "Rejected: the pair stays out."

    def delivery_note(self) -> str:
        """Where handoffs go: the support desk's webhook, or nowhere but this tab when none is configured."""
        if not self.handoffs.settings.handoff_url:
            return ("**No webhook is configured** (`RAGBOT_HANDOFF_URL`): handoffs are not sent to a support desk; "
                    "they stay open here until someone answers them (docs/handoffs.md).")
        return "Each new handoff is sent to the support desk's webhook (`RAGBOT_HANDOFF_URL`), retried until it takes."

    def deliver(self) -> str:
        if not self.handoffs.settings.handoff_url:
            return "No webhook is configured (RAGBOT_HANDOFF_URL): handoffs stay open here."
        queued = self.handoffs.queue_open()
        return f"Queued the delivery of {queued} open handoff(s): Admin → Jobs shows each attempt."

    @staticmethod
    def pick(event: gr.SelectData) -> str:
        row = event.row_value or []
        return str(row[0]) if row else ""


def build_handoffs_tab(blocks: gr.Blocks, handlers: HandoffsHandlers) -> None:
    """Components and events of the Handoffs tab (call inside a `gr.Tab` of `blocks`)."""
    gr.Markdown("Questions users handed to a person, newest first. Select a row, type the answer, save it, then "
                "approve the pair for the QA data the next adapter and embedder tuning can use.")
    gr.Markdown(handlers.delivery_note(), elem_id="handoffs-delivery")
    with gr.Row():
        status = gr.Dropdown([ALL, *STATUSES], value=ALL, label="Status", scale=1, elem_id="handoffs-status")
        review = gr.Dropdown([ALL, *REVIEWS], value=ALL, label="Review", scale=1, elem_id="handoffs-review")
        refresh = gr.Button("Refresh", size="sm", scale=0, min_width=100, elem_id="handoffs-refresh")
        deliver = gr.Button("Retry delivery", size="sm", scale=0, min_width=140, elem_id="handoffs-deliver")
    table = gr.Dataframe(headers=HANDOFF_HEADERS, value=[], interactive=False, wrap=True, max_height=420,
                         elem_id="handoffs-table", column_widths=COLUMN_WIDTHS)
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            chosen = gr.Textbox(label="Handoff id", max_lines=1, elem_id="handoffs-id")
            answer = gr.Textbox(label="Agent's answer", lines=4, max_length=20000, elem_id="handoffs-answer")
            with gr.Row():
                save = gr.Button("Save answer", variant="primary", elem_id="handoffs-save")
                approve = gr.Button("Approve for QA data", elem_id="handoffs-approve")
                reject = gr.Button("Reject", variant="stop", elem_id="handoffs-reject")
            note = gr.Markdown("", elem_id="handoffs-note")
        with gr.Column(scale=2):
            details = gr.Code("", language="json", label="Handoff", elem_id="handoffs-details")
    qa = gr.Code("", language="json", label="Reviewed QA data (what `ragbot feedback export` writes)",
                 elem_id="handoffs-qa")
    hidden: dict[str, Any] = {"api_visibility": "private"}
    filters, listed = [status, review], [table, qa]
    shown = [details, answer]

    table.select(handlers.pick, None, chosen, show_progress="hidden", **hidden)
    chosen.change(handlers.show, chosen, shown, show_progress="hidden", **hidden)
    for trigger in (refresh.click, status.change, review.change):
        trigger(handlers.reload, filters, listed, **hidden)
    deliver.click(handlers.deliver, None, note, **hidden).then(handlers.reload, filters, listed, **hidden)
    actions = [(save, handlers.answer, [chosen, answer]),
               (approve, lambda value: handlers.review(value, "approved"), [chosen]),
               (reject, lambda value: handlers.review(value, "rejected"), [chosen])]
    for button, action, inputs in actions:
        button.click(action, inputs, note, **hidden).then(handlers.reload, filters, listed, **hidden).then(
            handlers.show, chosen, shown, show_progress="hidden", **hidden)
    blocks.load(handlers.reload, filters, listed, **hidden)
