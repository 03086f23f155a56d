"""The Compare tab: one question, two generators streamed side by side, blind votes and win rates.

The two answers run one after the other in the same handler (one model in memory), each streamed into
its own column. In blind mode the order is shuffled and labelled A/B until the vote reveals it."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr
import pandas as pd

from chatbot.chat_service import ChatService
from chatbot.generators import BASE, EXTRACTIVE, FINETUNED, Generators
from chatbot.limits import InvalidInput
from chatbot.storage.conversations import ConversationStore
from chatbot.ui.answering import answer_snapshots, refusal
from chatbot.ui.chat_tab import GENERATION, STATE_SECONDS, finetuned_note, generator_choices, voter
from chatbot.ui.formatting import (
    WIN_NOTE,
    WIN_RATE_HEADERS,
    inert_markdown,
    notice_html,
    sources_html,
    win_rate_points,
    win_rate_rows,
)
from chatbot.ui.voters import VoterCookies

SIDES = ("a", "b")
WINNER_LABEL = {"a": "A is better", "b": "B is better", "tie": "It's a tie"}
_shuffle = random.SystemRandom().shuffle


def _label(side: str, generator: str, blind: bool, revealed: bool = False) -> str:
    """'A' while blind, 'A · base' otherwise or once revealed."""
    shown = f"{side.upper()} · {inert_markdown(generator)}" if revealed or not blind else side.upper()
    return f"### {shown}"


def win_rate_results(conversations: ConversationStore) -> tuple:
    """The table rows and the chart (shown only once there are votes)."""
    rates = conversations.win_rates()
    frame = pd.DataFrame(win_rate_points(rates), columns=["matchup", "generator", "win rate", "votes"])
    return win_rate_rows(rates), gr.update(value=frame, visible=bool(rates))


def second_choice(choices: list[str]) -> str:
    """The second side's default: the fine-tuned generator once it exists, else the extractive one."""
    return FINETUNED if FINETUNED in choices else EXTRACTIVE


@dataclass(frozen=True)
class Side:
    """One answer's column."""

    label: gr.Markdown
    answer: gr.Markdown
    panel: gr.HTML


@dataclass(frozen=True)
class CompareLayout:
    """The Compare tab's components."""

    state: gr.State  # the last comparison: {"generators", "messages", "blind", "voted"}
    question: gr.Textbox
    run: gr.Button
    first: gr.Dropdown
    second: gr.Dropdown
    blind: gr.Checkbox
    missing: gr.Markdown
    sides: dict[str, Side]
    vote_row: gr.Row
    vote_buttons: dict[str, gr.Button]
    status: gr.Markdown
    table: gr.Dataframe
    plot: gr.BarPlot
    refresh: gr.Button


def _side(side: str) -> Side:
    """One answer's column: its label, the answer, its sources folded away."""
    with gr.Column(variant="panel"):
        label = gr.Markdown(f"### {side.upper()}", elem_id=f"compare-label-{side}")
        answer = gr.Markdown("", elem_id=f"compare-answer-{side}", min_height=80)
        with gr.Accordion("Sources", open=False, elem_id=f"compare-sources-box-{side}"):
            panel = gr.HTML("", elem_id=f"compare-sources-{side}")
    return Side(label, answer, panel)


def compare_layout(generators: Generators, question_chars: int) -> CompareLayout:
    """The Compare tab's components, laid out (call inside a `gr.Tab`)."""
    choices = generator_choices(generators)
    state = gr.State({}, time_to_live=STATE_SECONDS)
    with gr.Row(equal_height=True):
        question = gr.Textbox(placeholder="One question, two answers…", show_label=False, scale=5, max_lines=4,
                              max_length=question_chars, elem_id="compare-question", submit_btn=False)
        run = gr.Button("Compare", variant="primary", scale=1, min_width=100, elem_id="compare-run")
    with gr.Row(equal_height=True):
        first = gr.Dropdown(choices, value=BASE, label="Generator 1", elem_id="compare-first")
        second = gr.Dropdown(choices, value=second_choice(choices), label="Generator 2", elem_id="compare-second")
        blind = gr.Checkbox(value=True, label="Blind: shuffle the order and hide the names until you vote",
                            elem_id="compare-blind")
    missing = gr.Markdown(finetuned_note(generators), elem_id="compare-finetuned-note")
    with gr.Row(equal_height=False):
        sides = {side: _side(side) for side in SIDES}
    with gr.Row(visible=False, elem_id="compare-vote") as vote_row:
        vote_buttons = {w: gr.Button(WINNER_LABEL[w], elem_id=f"compare-vote-{w}") for w in ("a", "tie", "b")}
    status = gr.Markdown("", elem_id="compare-status")
    gr.Markdown("### Blind-vote results")
    with gr.Row(equal_height=False):
        table = gr.Dataframe(headers=WIN_RATE_HEADERS, value=[], interactive=False, label="Win rates",
                             elem_id="compare-winrates", scale=3)
        plot = gr.BarPlot(pd.DataFrame(columns=["matchup", "generator", "win rate", "votes"]), x="matchup",
                          y="win rate", color="generator", y_lim=[0, 1], title="Win rate per matchup", visible=False,
                          tooltip=["matchup", "win rate", "votes"], elem_id="compare-chart", scale=2)
    gr.Markdown(WIN_NOTE, elem_id="compare-winrates-note")
    refresh = gr.Button("Refresh results", size="sm", elem_id="compare-refresh")
    return CompareLayout(state, question, run, first, second, blind, missing, sides, vote_row,
                         vote_buttons, status, table, plot, refresh)


class CompareHandlers:
    """The Compare tab's event handlers: both answers (streamed), a blind vote, the results, the pickers."""

    def __init__(self, chat: ChatService, conversations: ConversationStore, generators: Generators,
                 voters: VoterCookies) -> None:
        self.chat, self.conversations, self.generators, self.voters = chat, conversations, generators, voters

    def compare(self, text: str, gen_1: str, gen_2: str, is_blind: bool) -> Iterator[tuple]:
        """Outputs: each side's label, answer and sources, the vote row, status, the comparison (state), question."""
        text = (text or "").strip()
        if not text:
            yield (*[gr.update()] * 6, gr.update(visible=False), "Type a question first.", {}, gr.update())
            return
        try:
            self.chat.check(text)
        except InvalidInput as exc:  # refused before anything is kept; the session's copy of the question goes too
            yield (*[gr.update()] * 6, gr.update(visible=False), refusal(exc), {}, "")
            return
        order = [gen_1, gen_2]
        if is_blind:
            _shuffle(order)
        texts = ["_Waiting…_", "_Waiting…_"]
        panels = ["", ""]
        stored: list[str | None] = [None, None]

        def frame(note: str, show_vote: bool = False) -> tuple:
            record = {"generators": list(order), "messages": list(stored), "blind": is_blind, "voted": False}
            labels = [_label(s, g, is_blind) for s, g in zip(SIDES, order, strict=True)]
            return (labels[0], texts[0], panels[0], labels[1], texts[1], panels[1],
                    gr.update(visible=show_vote), note, record, gr.update())

        for i, side in enumerate(SIDES):
            texts[i] = "…"
            yield frame(f"Answering {side.upper()}…")
            for snap in answer_snapshots(self.chat, text, generator=order[i], collection=None):
                texts[i] = inert_markdown(snap.text) or "…"
                if snap.sources_heading:
                    panels[i] = sources_html(snap.sources, snap.sources_heading)
                if snap.error is not None:
                    panels[i] = notice_html("No answer, so no sources.")
                if snap.stored is not None:
                    stored[i] = str(snap.stored.message_id)
                yield frame(f"Answering {side.upper()}…")
        if not all(stored):
            yield frame("Both generators must answer before you can vote.")
        elif is_blind:
            yield frame("Which answer is better? Vote to reveal which generator wrote each.", show_vote=True)
        else:
            yield frame("Turn on blind mode to vote.")

    def vote(self, winner: str, record: dict[str, Any], request: gr.Request | None = None) -> tuple:
        messages = record.get("messages") or [None, None]
        if record.get("voted") or not record.get("blind") or not all(messages):
            return gr.update(), gr.update(), gr.update(visible=False), "Nothing to vote on.", record, \
                gr.update(), gr.update()
        self.conversations.record_ab_vote(uuid.UUID(messages[0]), uuid.UUID(messages[1]), winner,
                                          client=voter(self.voters, request))
        record = {**record, "voted": True}
        order = record["generators"]
        labels = [_label(s, g, True, revealed=True) for s, g in zip(SIDES, order, strict=True)]
        verdict = "a tie" if winner == "tie" else f"{winner.upper()} ({order[SIDES.index(winner)]}) wins"
        note = inert_markdown(f"Vote saved: {verdict}. A was **{order[0]}**, B was **{order[1]}**.")
        return (labels[0], labels[1], gr.update(visible=False), note, record, *win_rate_results(self.conversations))

    def voting(self, winner: str) -> Callable[[dict[str, Any], gr.Request], tuple]:
        """The vote handler of one button."""
        def handler(record: dict[str, Any], request: gr.Request) -> tuple:
            return self.vote(winner, record, request)
        return handler

    def results(self) -> tuple:
        return win_rate_results(self.conversations)

    def pickers(self) -> tuple:
        """The generators that can answer now (an adapter may have been trained since the app started)."""
        names = generator_choices(self.generators)
        return (gr.update(choices=names, value=BASE), gr.update(choices=names, value=second_choice(names)),
                finetuned_note(self.generators))


def wire_compare(demo: gr.Blocks, ui: CompareLayout, handlers: CompareHandlers, concurrency_limit: int) -> None:
    """The Compare tab's events."""
    a, b = ui.sides["a"], ui.sides["b"]
    gr.on([ui.run.click, ui.question.submit], handlers.compare, [ui.question, ui.first, ui.second, ui.blind],
          [a.label, a.answer, a.panel, b.label, b.answer, b.panel, ui.vote_row, ui.status, ui.state, ui.question],
          concurrency_limit=concurrency_limit, concurrency_id=GENERATION, show_progress="hidden")
    for winner, button in ui.vote_buttons.items():
        button.click(handlers.voting(winner), [ui.state],
                     [a.label, b.label, ui.vote_row, ui.status, ui.state, ui.table, ui.plot], show_progress="hidden")
    ui.refresh.click(handlers.results, None, [ui.table, ui.plot], show_progress="hidden")
    demo.load(handlers.results, None, [ui.table, ui.plot], show_progress="hidden")
    demo.load(handlers.pickers, None, [ui.first, ui.second, ui.missing], show_progress="hidden", queue=False)


def build_compare_tab(demo: gr.Blocks, chat: ChatService, conversations: ConversationStore, generators: Generators,
                      concurrency_limit: int, voters: VoterCookies) -> None:
    """Components and events of the Compare tab (call inside a `gr.Tab` of `demo`)."""
    layout = compare_layout(generators, chat.chain.limits.question_chars)
    wire_compare(demo, layout, CompareHandlers(chat, conversations, generators, voters), concurrency_limit)
