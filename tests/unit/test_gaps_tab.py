"""The Gaps tab's shaping: rows in rank order, numbers-only summary, an escaped detail panel; the tab builds."""

from __future__ import annotations

from datetime import UTC, datetime

import gradio as gr

from chatbot.gap_report import ClosestSource, GapCluster, QuestionCoverage
from chatbot.gaps import GapQuestion
from chatbot.ui.gaps_tab import build_gaps_tab, cluster_html, gap_rows, gaps_summary

SEEN = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
HOSTILE = "<img src=x onerror=alert(1)> how do I <b>reset</b>?"


def cluster(covered: bool, question: str = "Solar panels?") -> GapCluster:
    asked = GapQuestion("docs", question, 3, SEEN, ("handoff", "thumbs_down"))
    source = ClosestSource(4, "<script>Guide</script>", "guide.md", "Setup", 0.42, "Hold <b>the</b> button")
    return GapCluster("abc123def456", question, "docs", 3, SEEN, (QuestionCoverage(asked, 0.42, covered),),
                      (source,), 0.5)


def test_rows_show_status_counts_and_the_closest_document():
    assert gap_rows([cluster(False), cluster(True)]) == [
        ["still missing", 3, 1, "Solar panels?", "2026-12-04 09:30", "docs", "<script>Guide</script> (0.42)"],
        ["covered now", 3, 1, "Solar panels?", "2026-12-04 09:30", "docs", "<script>Guide</script> (0.42)"]]


def test_summary_counts_missing_and_covered_topics():
    text = gaps_summary([cluster(False), cluster(True), cluster(False)], 30)
    assert "3 topics from 3 distinct questions" in text and "**2 still missing**, 1 covered now" in text
    assert "coverage threshold" in text
    assert "no question" in gaps_summary([], 7)


def test_detail_escapes_questions_and_documents():
    shown = cluster_html(cluster(False, HOSTILE))
    assert "<img" not in shown and "<script>" not in shown and "<b>reset" not in shown and "<b>the" not in shown
    assert "&lt;img src=x onerror=alert(1)&gt;" in shown and "&lt;script&gt;Guide" in shown
    assert "asked 3×, handed off, voted down" in shown and "best similarity now 0.42 (missing)" in shown
    assert "Closest documents now" in shown and "still missing · asked 3× · coverage threshold 0.5" in shown


def test_the_tab_builds_inside_blocks():
    class NoFinder:
        def report(self, days, collection):
            return []

    with gr.Blocks() as demo, gr.Tabs(), gr.Tab("Gaps") as tab:
        build_gaps_tab(demo, tab, NoFinder())
    ids = {getattr(block, "elem_id", None) for block in demo.blocks.values()}
    assert {"gaps-period", "gaps-collection", "gaps-refresh", "gaps-table", "gaps-detail"} <= ids
