"""The admin Gaps tab: what the documents are missing. Topics of the questions users voted down, the bot abstained
on or handed off, most asked first, each 'covered now' or 'still missing' by the store as it is now; a selected
topic's questions and closest documents.

The report comes from `chatbot.gap_report` (recomputed on each refresh, so it follows every ingest); this module only
shapes it for Gradio. Questions and documents are untrusted: tables show plain text, the detail panel is escaped."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC
from typing import TYPE_CHECKING, Any

import gradio as gr
from langchain_core.documents import Document

from chatbot.storage.monitoring import PERIODS
from chatbot.ui.formatting import notice_html, sources_html

if TYPE_CHECKING:  # scikit-learn (under gap_report) loads at the first report, not with the admin app
    from chatbot.gap_report import GapCluster, GapFinder

DEFAULT_DAYS = 30
GAP_HEADERS = ["status", "times asked", "questions", "topic", "last seen (UTC)", "collection", "closest document"]
PICK_HINT = "Select a topic to see its questions and the documents closest to them."
REASONS = {"thumbs_down": "voted down", "not_covered": "abstained", "handoff": "handed off"}


def gap_rows(clusters: Sequence[GapCluster]) -> list[list[Any]]:
    """One row per topic, in rank order."""
    return [[c.status, c.count, len(c.questions), c.label, c.last_seen.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
             c.collection, f"{c.sources[0].title} ({c.sources[0].similarity:.2f})" if c.sources else "—"]
            for c in clusters]


def gaps_summary(clusters: Sequence[GapCluster], days: int) -> str:
    """Numbers only (no user text)."""
    if not clusters:
        return f"**Last {days} days (UTC):** no question was voted down, abstained on or handed off."
    missing = sum(not c.covered for c in clusters)
    questions = sum(len(c.questions) for c in clusters)
    return (f"**Last {days} days (UTC):** {len(clusters)} topics from {questions} distinct questions · "
            f"**{missing} still missing**, {len(clusters) - missing} covered now (every question's best match reaches "
            "its collection's coverage threshold).")


def cluster_html(cluster: GapCluster) -> str:
    """A topic's questions (how often, why, best similarity now) and its closest documents, escaped."""
    items = "".join(
        f"<li>{html.escape(q.question.question)} <span class=\"rb-meta\">— asked {q.question.occurrences}×, "
        f"{html.escape(', '.join(REASONS.get(r, r) for r in q.question.reasons))}; best similarity now "
        f"{q.best_similarity:.2f} ({'covered' if q.covered else 'missing'})</span></li>" for q in cluster.questions)
    head = (f'<div class="rb-sources-heading">{html.escape(cluster.status)} · asked {cluster.count}× · '
            f'coverage threshold {cluster.threshold:g}</div><ul class="rb-gap-questions">{items}</ul>')
    documents = [(n, Document(page_content=s.snippet, metadata={"title": s.title, "source": s.source,
                                                              "heading": s.where, "similarity": s.similarity}))
                 for n, s in enumerate(cluster.sources, 1)]
    return f'<div class="rb-sources">{head}</div>' + sources_html(documents, "Closest documents now")


def build_gaps_tab(demo: gr.Blocks, tab: gr.Tab, finder: GapFinder) -> None:
    """Components and events of the Gaps tab (call inside `tab`, a `gr.Tab` of `demo`). The report is computed
    when the tab is opened and on each refresh (each topic's questions are retrieved again)."""
    with gr.Row(equal_height=True):
        period = gr.Radio([(f"{d} days", d) for d in PERIODS], value=DEFAULT_DAYS, label="Period", scale=3,
                          elem_id="gaps-period")
        collection = gr.Textbox("", label="Collection (empty: all)", max_lines=1, scale=2, elem_id="gaps-collection")
        refresh = gr.Button("Refresh", size="sm", scale=0, min_width=120, elem_id="gaps-refresh")
    summary = gr.Markdown("", elem_id="gaps-summary")
    table = gr.Dataframe(headers=GAP_HEADERS, value=[], interactive=False, wrap=True, max_height=420,
                         elem_id="gaps-table",
                         column_widths=["110px", "80px", "80px", "38%", "130px", "110px", "22%"])
    detail = gr.HTML(notice_html(PICK_HINT), elem_id="gaps-detail")
    clusters = gr.State([])

    def load(days: int, name: str) -> tuple:
        days = int(days or DEFAULT_DAYS)
        found = finder.report(days, name.strip() or None)
        return gaps_summary(found, days), gap_rows(found), found, notice_html(PICK_HINT)

    # found: list[GapCluster]; Gradio resolves these hints when the tab is built, and GapCluster is imported only
    # for type checking (a name it cannot resolve would hide the SelectData argument)
    def pick(found: list[Any], event: gr.SelectData) -> str:
        row = event.index[0] if isinstance(event.index, list | tuple) else event.index
        if not isinstance(row, int) or not 0 <= row < len(found):
            return notice_html(PICK_HINT)
        return cluster_html(found[row])

    # UI-only events (api_visibility private): not advertised on the login page or to API clients
    gr.on([refresh.click, period.change, collection.submit, tab.select], load, [period, collection],
          [summary, table, clusters, detail], api_visibility="private")
    table.select(pick, clusters, detail, api_visibility="private")
