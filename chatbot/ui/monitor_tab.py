"""The admin Monitor tab: answers, thumbs, blind votes and 'not covered' over time; the slowest and worst-rated
questions, and a selected one's conversation with the sources of its answer.

The numbers come from `chatbot.storage.monitoring` (SQL); this module only shapes them for Gradio. Questions, answers
and sources are untrusted: tables show plain text, sources go through `formatting.sources_html` (escaped)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import gradio as gr
import pandas as pd
from langchain_core.documents import Document
from psycopg_pool import ConnectionPool

from chatbot.ab_grouping import BlindVote, Grouping, grouped_win_rates
from chatbot.storage.monitoring import (
    PERIODS,
    BadQuestion,
    DayCount,
    Monitor,
    NotCoveredDay,
    SlowAnswer,
    Thumbs,
    Totals,
)
from chatbot.ui.formatting import (
    GROUPED_WIN_RATE_HEADERS,
    WIN_NOTE,
    WIN_RATE_HEADERS,
    Numbered,
    inert_markdown,
    notice_html,
    sources_html,
    win_rate_points,
    win_rate_rows,
)

TopicsFor = Callable[[Sequence[BlindVote], int], Grouping]  # the period's blind votes and days → a vote's gap topic

DEFAULT_DAYS = 30
THUMBS_HEADERS = ["generator", "thumbs up", "thumbs down", "votes", "up share"]
SLOWEST_HEADERS = ["when (UTC)", "generator", "seconds", "question", "conversation", "message"]
WORST_HEADERS = ["thumbs down", "thumbs up", "question", "generator", "conversation", "message"]
ANSWERS_COLUMNS = ["day", "generator", "answers"]
NOT_COVERED_COLUMNS = ["day", "not covered", "answers", "not covered answers"]
THUMBS_COLUMNS = ["generator", "up share", "votes"]
WIN_COLUMNS = ["matchup", "generator", "win rate", "votes"]
PICK_HINT = "Select a row of either table to see its conversation and the sources of that answer."


# --- shaping (no Gradio) -------------------------------------------------------------------------


def _when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def answers_frame(days: Sequence[DayCount]) -> pd.DataFrame:
    frame = pd.DataFrame([(d.day, d.generator, d.answers) for d in days], columns=ANSWERS_COLUMNS)
    frame["day"] = pd.to_datetime(frame["day"])
    return frame


def not_covered_frame(days: Sequence[NotCoveredDay]) -> pd.DataFrame:
    """Every day of the period; a day without answers is drawn at 0 (its tooltip says 0 answers)."""
    frame = pd.DataFrame([(d.day, round(d.rate or 0.0, 4), d.answers, d.not_covered) for d in days],
                         columns=NOT_COVERED_COLUMNS)
    frame["day"] = pd.to_datetime(frame["day"])
    return frame


def thumbs_frame(thumbs: Sequence[Thumbs]) -> pd.DataFrame:
    return pd.DataFrame([(t.generator, round(t.up_share, 4), t.votes) for t in thumbs], columns=THUMBS_COLUMNS)


def thumbs_rows(thumbs: Sequence[Thumbs]) -> list[list[Any]]:
    return [[t.generator, t.up, t.down, t.votes, f"{t.up_share:.0%}"] for t in thumbs]


def slowest_rows(answers: Sequence[SlowAnswer]) -> list[list[Any]]:
    return [[_when(a.created_at), a.generator, round(a.seconds, 1), a.question, str(a.conversation_id),
             str(a.message_id)] for a in answers]


def worst_rows(questions: Sequence[BadQuestion]) -> list[list[Any]]:
    return [[q.down, q.up, q.question, q.generator, str(q.conversation_id), str(q.message_id)] for q in questions]


def split_choices(topics: TopicsFor | None) -> list[tuple[str, str]]:
    """The ways to split the blind votes: not at all, by collection, and by gap topic when topics are wired."""
    return [("all votes", ""), ("per collection", "collection"), *([("per gap topic", "topic")] if topics else [])]


def win_rate_table(monitor: Monitor, days: int, split: str, topics: TopicsFor | None) -> tuple[list, pd.DataFrame]:
    """The win rates (for the chart, unsplit) and the table, split as chosen."""
    rates = monitor.win_rates(days)
    if not split:
        return rates, pd.DataFrame(win_rate_rows(rates), columns=WIN_RATE_HEADERS)
    votes = monitor.blind_votes(days)  # read once: the topics and the split come from the same votes
    by = topics(votes, days) if split == "topic" and topics else split
    return rates, pd.DataFrame(win_rate_rows(grouped_win_rates(votes, by), grouped=True),
                               columns=GROUPED_WIN_RATE_HEADERS)


def totals_markdown(totals: Totals, days: int) -> str:
    """Numbers only (no user text)."""
    votes = totals.thumbs_up + totals.thumbs_down
    up = f"{totals.thumbs_up / votes:.0%} thumbs up of {votes} votes" if votes else "no thumbs votes"
    covered = f"{totals.not_covered / totals.answers:.0%} not covered" if totals.answers else "no answers"
    mean = f", {totals.mean_seconds:.1f} s per answer on average" if totals.mean_seconds is not None else ""
    return (f"**Last {days} days (UTC):** {totals.answers} answers in {totals.conversations} conversations"
            f"{mean} · {covered} · {up} · {totals.blind_votes} blind votes.")


def stored_sources(sources: Sequence[dict[str, Any]]) -> Numbered:
    """A message's stored sources (`chain.source_json`) as the numbered documents `sources_html` renders."""
    numbered = []
    for i, s in enumerate(sources or [], 1):
        metadata = {k: s.get(k) for k in ("source", "title", "page", "heading", "chunk_id", "score")}
        n = s.get("n") if isinstance(s.get("n"), int) else i
        numbered.append((n, Document(page_content=str(s.get("snippet") or ""), metadata=metadata)))
    return numbered


def message_sources_html(message: dict[str, Any] | None) -> str:
    if message is None:
        return notice_html("That answer is no longer stored.")
    if message["not_covered"]:
        return notice_html("No document matched the question closely enough, so none was used.")
    numbered = stored_sources(message["sources"])
    if not numbered:
        return notice_html("The answer cited no source.")
    return sources_html(numbered, f"Sources cited by the selected answer ({message['generator']})")


def conversation_messages(messages: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """Chatbot messages: each question, then its answer with who answered, how fast and the vote (both
    untrusted Markdown: no image or fetching tag is left to load, see `inert_markdown`)."""
    shown: list[dict[str, str]] = []
    for m in messages:
        vote = {1: " · rated up", -1: " · rated down"}.get(m["vote"], "")
        shown.append({"role": "user", "content": inert_markdown(m["question"])})
        shown.append({"role": "assistant",
                      "content": f"{inert_markdown(m['answer'])}\n\n*— {m['generator']}, {m['seconds']:.1f} s{vote}*"})
    return shown


def conversation_view(monitor: Monitor, conversation: str, message: str) -> tuple[str, list[dict[str, str]], str]:
    """Heading, chatbot messages and sources panel for a selected table row."""
    try:
        conversation_id, message_id = uuid.UUID(conversation), uuid.UUID(message)
    except (TypeError, ValueError):
        return PICK_HINT, [], notice_html("")
    messages = monitor.conversation(conversation_id)
    selected = next((m for m in messages if m["id"] == message_id), None)
    heading = (f"**Conversation** `{conversation_id}` · {len(messages)} message{'s' if len(messages) != 1 else ''}"
               f" · selected answer `{message_id}`")
    return heading, conversation_messages(messages), message_sources_html(selected)


# --- the tab -------------------------------------------------------------------------------------


def build_monitor_tab(demo: gr.Blocks, pool: ConnectionPool, topics: TopicsFor | None = None) -> None:
    """Components and events of the Monitor tab (call inside a `gr.Tab` of `demo`); `topics` groups the period's
    blind votes by gap topic (`GapFinder.vote_topics`), to split the win rates by topic."""
    with gr.Row(equal_height=True):
        period = gr.Radio([(f"{d} days", d) for d in PERIODS], value=DEFAULT_DAYS, label="Period", scale=3,
                          elem_id="monitor-period")
        refresh = gr.Button("Refresh", size="sm", scale=0, min_width=120, elem_id="monitor-refresh")
    totals = gr.Markdown("", elem_id="monitor-totals")
    with gr.Row(equal_height=False):
        answers = gr.LinePlot(answers_frame([]), x="day", y="answers", color="generator", title="Answers per day",
                              tooltip="all", elem_id="monitor-answers", x_title="day (UTC)")
        not_covered = gr.LinePlot(not_covered_frame([]), x="day", y="not covered", y_lim=[0, 1], tooltip="all",
                                  title="Share of answers 'not covered' per day", elem_id="monitor-not-covered",
                                  x_title="day (UTC)")
    with gr.Row(equal_height=False):
        with gr.Column():
            thumbs_plot = gr.BarPlot(thumbs_frame([]), x="generator", y="up share", y_lim=[0, 1],
                                     title="Thumbs-up share per generator", tooltip="all", elem_id="monitor-thumbs")
            thumbs_table = gr.Dataframe(headers=THUMBS_HEADERS, value=[], interactive=False,
                                        elem_id="monitor-thumbs-table")
        with gr.Column():
            wins_plot = gr.BarPlot(pd.DataFrame(columns=WIN_COLUMNS), x="matchup", y="win rate", color="generator",
                                   y_lim=[0, 1], title="Blind-vote win rate per matchup", tooltip="all",
                                   elem_id="monitor-wins")
    gr.Markdown("### Blind votes: win rates with 95 % intervals")  # full width: the interval and verdict columns
    split = gr.Radio(split_choices(topics), value="", label="Split the blind votes", elem_id="monitor-wins-split")
    wins_table = gr.Dataframe(headers=WIN_RATE_HEADERS, value=[], interactive=False, elem_id="monitor-wins-table")
    gr.Markdown(WIN_NOTE, elem_id="monitor-wins-note")
    gr.Markdown("### Slowest answers\n" + PICK_HINT)
    slowest = gr.Dataframe(headers=SLOWEST_HEADERS, value=[], interactive=False, wrap=True, max_height=360,
                           elem_id="monitor-slowest",
                           column_widths=["130px", "110px", "80px", "40%", "150px", "150px"])
    gr.Markdown("### Worst-rated questions (most thumbs down)")
    worst = gr.Dataframe(headers=WORST_HEADERS, value=[], interactive=False, wrap=True, max_height=360,
                         elem_id="monitor-worst", column_widths=["90px", "80px", "40%", "110px", "150px", "150px"])
    heading = gr.Markdown(PICK_HINT, elem_id="monitor-conversation-title")
    with gr.Row(equal_height=False):
        conversation = gr.Chatbot(label="Conversation", height=420, elem_id="monitor-conversation", scale=3,
                                   allow_tags=False)
        sources = gr.HTML(notice_html(""), label="Sources", elem_id="monitor-sources")

    def load(days: int, split_by: str) -> tuple:
        monitor = Monitor(pool)
        days = int(days or DEFAULT_DAYS)
        rates, wins = win_rate_table(monitor, days, split_by, topics)
        thumbs = monitor.thumbs(days)
        return (totals_markdown(monitor.totals(days), days), answers_frame(monitor.answers_per_day(days)),
                not_covered_frame(monitor.not_covered_per_day(days)), thumbs_frame(thumbs), thumbs_rows(thumbs),
                pd.DataFrame(win_rate_points(rates), columns=WIN_COLUMNS), wins,
                slowest_rows(monitor.slowest(days)), worst_rows(monitor.worst_rated(days)))

    def pick(event: gr.SelectData) -> tuple:
        row = event.row_value or []
        if len(row) < 2:
            return PICK_HINT, [], notice_html("")
        return conversation_view(Monitor(pool), str(row[-2]), str(row[-1]))

    hidden = {"api_visibility": "private"}  # UI-only: not advertised on the login page or to API clients
    outputs = [totals, answers, not_covered, thumbs_plot, thumbs_table, wins_plot, wins_table, slowest, worst]
    gr.on([refresh.click, period.change, split.change], load, [period, split], outputs, **hidden)
    demo.load(load, [period, split], outputs, **hidden)
    for table in (slowest, worst):
        table.select(pick, None, [heading, conversation, sources], **hidden)
