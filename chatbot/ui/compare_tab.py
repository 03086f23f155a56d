"""The Compare tab: one question, two generators streamed side by side, blind votes and win rates.

The two answers run one after the other in the same handler (one model in memory), each streamed into
its own column. In blind mode the order is shuffled and labelled A/B until the vote reveals it."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from typing import Any

import gradio as gr
import pandas as pd

from chatbot.generators import BASE, EXTRACTIVE, FINETUNED
from chatbot.services import Services
from chatbot.ui.answering import answer_snapshots
from chatbot.ui.chat_tab import GENERATION, finetuned_note, generator_choices, voter, voter_state
from chatbot.ui.formatting import (
    WIN_RATE_HEADERS,
    notice_html,
    sources_html,
    win_rate_points,
    win_rate_rows,
    without_images,
)

SIDES = ("a", "b")
WINNER_LABEL = {"a": "A is better", "b": "B is better", "tie": "It's a tie"}
_shuffle = random.SystemRandom().shuffle


def _label(side: str, generator: str, blind: bool, revealed: bool = False) -> str:
    """'A' while blind, 'A · base' otherwise or once revealed."""
    return f"### {side.upper()} · {generator}" if revealed or not blind else f"### {side.upper()}"


def win_rate_results(services: Services) -> tuple:
    """The table rows and the chart (shown only once there are votes)."""
    rates = services.conversations.win_rates()
    frame = pd.DataFrame(win_rate_points(rates), columns=["matchup", "generator", "win rate", "votes"])
    return win_rate_rows(rates), gr.update(value=frame, visible=bool(rates))


def second_choice(choices: list[str]) -> str:
    """The second side's default: the fine-tuned generator once it exists, else the extractive one."""
    return FINETUNED if FINETUNED in choices else EXTRACTIVE


def build_compare_tab(demo: gr.Blocks, services: Services, concurrency_limit: int) -> None:
    """Components and events of the Compare tab (call inside a `gr.Tab` of `demo`)."""
    choices = generator_choices(services)
    state = gr.State({})
    browser_id = voter_state(demo)

    with gr.Row(equal_height=True):
        question = gr.Textbox(placeholder="One question, two answers…", show_label=False, scale=5, max_lines=4,
                              elem_id="compare-question", submit_btn=False)
        run = gr.Button("Compare", variant="primary", scale=1, min_width=100, elem_id="compare-run")
    with gr.Row(equal_height=True):
        first = gr.Dropdown(choices, value=BASE, label="Generator 1", elem_id="compare-first")
        second = gr.Dropdown(choices, value=second_choice(choices), label="Generator 2", elem_id="compare-second")
        blind = gr.Checkbox(value=True, label="Blind: shuffle the order and hide the names until you vote",
                            elem_id="compare-blind")
    missing = gr.Markdown(finetuned_note(services), elem_id="compare-finetuned-note")
    columns = {}
    with gr.Row(equal_height=False):
        for side in SIDES:
            with gr.Column(variant="panel"):
                label = gr.Markdown(f"### {side.upper()}", elem_id=f"compare-label-{side}")
                answer = gr.Markdown("", elem_id=f"compare-answer-{side}", min_height=80)
                with gr.Accordion("Sources", open=False, elem_id=f"compare-sources-box-{side}"):
                    panel = gr.HTML("", elem_id=f"compare-sources-{side}")
                columns[side] = (label, answer, panel)
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
    refresh = gr.Button("Refresh results", size="sm", elem_id="compare-refresh")

    def compare(text: str, gen_1: str, gen_2: str, is_blind: bool) -> Iterator[tuple]:
        text = (text or "").strip()
        if not text:
            yield (*[gr.update()] * 6, gr.update(visible=False), "Type a question first.", {})
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
                    gr.update(visible=show_vote), note, record)

        for i, side in enumerate(SIDES):
            texts[i] = "…"
            yield frame(f"Answering {side.upper()}…")
            for snap in answer_snapshots(services, text, generator=order[i], collection=None):
                texts[i] = without_images(snap.text) or "…"
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

    def vote(winner: str, record: dict[str, Any], browser: str, request: gr.Request | None = None) -> tuple:
        messages = record.get("messages") or [None, None]
        if record.get("voted") or not record.get("blind") or not all(messages):
            return gr.update(), gr.update(), gr.update(visible=False), "Nothing to vote on.", record, \
                gr.update(), gr.update()
        services.conversations.record_ab_vote(uuid.UUID(messages[0]), uuid.UUID(messages[1]), winner,
                                              client=voter(browser, request))
        record = {**record, "voted": True}
        order = record["generators"]
        labels = [_label(s, g, True, revealed=True) for s, g in zip(SIDES, order, strict=True)]
        verdict = "a tie" if winner == "tie" else f"{winner.upper()} ({order[SIDES.index(winner)]}) wins"
        note = f"Vote saved: {verdict}. A was **{order[0]}**, B was **{order[1]}**."
        return (labels[0], labels[1], gr.update(visible=False), note, record, *win_rate_results(services))

    def voting(winner: str):
        def handler(record: dict[str, Any], browser: str, request: gr.Request) -> tuple:
            return vote(winner, record, browser, request)
        return handler

    a_label, a_answer, a_panel = columns["a"]
    b_label, b_answer, b_panel = columns["b"]
    gr.on([run.click, question.submit], compare, [question, first, second, blind],
          [a_label, a_answer, a_panel, b_label, b_answer, b_panel, vote_row, status, state],
          concurrency_limit=concurrency_limit, concurrency_id=GENERATION, show_progress="hidden")
    for winner, button in vote_buttons.items():
        button.click(voting(winner), [state, browser_id], [a_label, b_label, vote_row, status, state, table, plot],
                     show_progress="hidden")

    def results() -> tuple:
        return win_rate_results(services)

    def pickers() -> tuple:
        """The generators that can answer now (an adapter may have been trained since the app started)."""
        names = generator_choices(services)
        return (gr.update(choices=names, value=BASE), gr.update(choices=names, value=second_choice(names)),
                finetuned_note(services))

    refresh.click(results, None, [table, plot], show_progress="hidden")
    demo.load(results, None, [table, plot], show_progress="hidden")
    demo.load(pickers, None, [first, second, missing], show_progress="hidden", queue=False)
