"""The Gradio UI in a real browser against a real server: chat, mode switch, compare + blind vote, admin."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.support import ADMIN_PASSWORD, ADMIN_USER, ANSWER_TIMEOUT_MS, Server, screenshot

pytestmark = pytest.mark.e2e

QUESTION = "How do I reset the hub to factory settings?"
FOLLOW_UP = "How long do I hold the button?"

# Every 50 ms, remember the text of the last bot message: proof that the answer arrived in pieces.
RECORD_STREAM = """() => {
  window.__seen = [];
  window.__timer = setInterval(() => {
    const bots = document.querySelectorAll('#chat [data-testid="bot"]');
    if (bots.length) window.__seen.push(bots[bots.length - 1].innerText.trim());
  }, 50);
}"""


def has_adapter(server: Server) -> bool:
    adapters = server.home / "adapters"
    return adapters.is_dir() and any((p / "adapter_config.json").is_file() for p in adapters.iterdir())


def latest_message(server: Server) -> tuple:
    rows = server.sql("SELECT id, conversation_id, generator, question, answer FROM messages"
                      " ORDER BY created_at DESC LIMIT 1")
    return rows[0] if rows else (None,) * 5


def ask(page: Page, question: str) -> None:
    """Send a question in the chat tab; the status line empties until the answer is stored."""
    page.locator("#chat-question textarea").fill(question)
    page.locator("#chat-send").click()
    expect(page.locator("#chat-status")).to_have_text("")


def choose_mode(page: Page, name: str) -> None:
    page.locator("#chat-mode").get_by_role("radio", name=name, exact=True).check()


def test_chat_streams_an_answer_with_sources_and_records_thumbs(page: Page, server: Server) -> None:
    page.goto("/")
    expect(page.locator("#chat-mode").get_by_role("radio", name="base", exact=True)).to_be_checked()
    screenshot(page, "chat-empty")
    page.evaluate(RECORD_STREAM)
    ask(page, QUESTION)
    expect(page.locator("#chat-status")).to_contain_text("Answered by base", timeout=ANSWER_TIMEOUT_MS)
    seen = [s for s in dict.fromkeys(page.evaluate("() => { clearInterval(window.__timer); return window.__seen; }"))
            if s and s != "…"]
    assert len(seen) >= 2, f"the answer did not stream: {seen}"

    sources = page.locator("#chat-sources .rb-source")
    expect(sources.first).to_be_visible()
    expect(page.locator("#chat-sources")).to_contain_text("[1]")
    message_id, conversation_id, generator, question, _ = latest_message(server)
    assert (generator, question) == ("base", QUESTION)
    screenshot(page, "chat-answered")

    page.locator("#chat button[aria-label='Like']").last.click()
    expect(page.locator("#chat-status")).to_contain_text("thumbs up was saved")
    assert server.sql("SELECT vote FROM feedback WHERE message_id = %s", (message_id,)) == [(1,)]
    [(browser,)] = server.sql("SELECT client FROM feedback WHERE message_id = %s", (message_id,))
    assert browser != "legacy"  # one vote per message per browser: the page's random id, hashed

    ask(page, FOLLOW_UP)  # multi-turn: same conversation, history loaded from Postgres
    expect(page.locator("#chat-status")).to_contain_text("Answered by", timeout=ANSWER_TIMEOUT_MS)
    _, follow_conversation, _, follow_question, _ = latest_message(server)
    assert (follow_conversation, follow_question) == (conversation_id, FOLLOW_UP)
    expect(page.locator('#chat [data-testid="bot"]')).to_have_count(2)
    screenshot(page, "chat-follow-up")


def test_mode_switch_changes_the_generator(page: Page, server: Server) -> None:
    page.goto("/")
    expect(page.locator("#chat-mode")).to_contain_text("extractive")
    if has_adapter(server):
        choose_mode(page, "finetuned")
        ask(page, QUESTION)
        expect(page.locator("#chat-status")).to_contain_text("Answered by finetuned", timeout=ANSWER_TIMEOUT_MS)
        assert latest_message(server)[2].startswith("finetuned")
    else:  # not offered, and the page says how to get it
        expect(page.locator("#chat-mode").get_by_role("radio", name="finetuned", exact=True)).to_have_count(0)
        expect(page.locator("#chat-finetuned-note")).to_contain_text("ragbot train")
    screenshot(page, "chat-finetuned")

    choose_mode(page, "base")
    ask(page, QUESTION)
    expect(page.locator("#chat-status")).to_contain_text("Answered by base", timeout=ANSWER_TIMEOUT_MS)
    assert latest_message(server)[2] == "base"


def test_compare_streams_two_answers_and_records_a_blind_vote(page: Page, server: Server) -> None:
    page.goto("/")
    page.get_by_role("tab", name="Compare").click()
    expect(page.locator("#compare-blind input")).to_be_checked()
    page.locator("#compare-question textarea").fill(QUESTION)
    # the default pair: base vs finetuned once an adapter exists, base vs extractive before
    expect(page.locator("#compare-second input")).to_have_value("finetuned" if has_adapter(server) else "extractive")

    page.locator("#compare-run").click()
    expect(page.locator("#compare-status")).to_contain_text("Which answer is better", timeout=ANSWER_TIMEOUT_MS)
    for side in ("a", "b"):
        expect(page.locator(f"#compare-label-{side}")).to_have_text(side.upper())  # blind: no names yet
        expect(page.locator(f"#compare-answer-{side}")).not_to_have_text("")
        expect(page.locator(f"#compare-answer-{side}")).not_to_contain_text("Waiting")
    screenshot(page, "compare-blind")

    votes_before = server.sql("SELECT count(*) FROM ab_votes")[0][0]
    page.locator("#compare-vote-a").click()
    expect(page.locator("#compare-status")).to_contain_text("Vote saved")
    pair = ["base", "finetuned" if has_adapter(server) else "extractive"]
    expect(page.locator("#compare-label-a")).to_contain_text(re.compile("|".join(pair)))  # the names revealed
    expect(page.locator("#compare-vote")).to_be_hidden()
    rows = server.sql("SELECT v.winner, ma.generator, mb.generator FROM ab_votes v JOIN messages ma ON ma.id ="
                      " v.message_a JOIN messages mb ON mb.id = v.message_b ORDER BY v.id DESC")
    assert len(rows) == votes_before + 1
    assert rows[0][0] == "a" and "base" in rows[0][1:]
    expect(page.locator("#compare-winrates")).to_contain_text("base")
    expect(page.locator("#compare-chart .marks")).to_be_visible()  # vega drew the bar chart
    screenshot(page, "compare-voted")


def test_admin_requires_login_then_ingests_and_deletes(page: Page, server: Server, tmp_path: Path) -> None:
    assert httpx.get(f"{server.url}/admin/config").status_code == 401
    page.goto("/admin")
    expect(page.get_by_role("button", name="Login")).to_be_visible()
    expect(page.locator("#admin-title")).to_have_count(0)
    screenshot(page, "admin-login")

    page.get_by_label("username").fill(ADMIN_USER)
    page.get_by_label("password").fill("not-the-password")
    page.get_by_role("button", name="Login").click()
    expect(page.get_by_text("Incorrect Credentials")).to_be_visible()
    page.get_by_label("username").fill(ADMIN_USER)
    page.get_by_label("password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Login").click()
    expect(page.locator("#admin-title")).to_be_visible()
    expect(page.locator("#admin-stats")).to_contain_text("default")

    name = f"e2e-{uuid.uuid4().hex[:8]}.md"
    good = tmp_path / name
    good.write_text("# Zorblax warranty\n\nThe Zorblax gadget carries a seven year warranty on every part.\n",
                    encoding="utf-8")
    bad = tmp_path / "notes.xyz"
    bad.write_text("not a supported format", encoding="utf-8")
    page.locator("#admin-files input[type=file]").set_input_files([str(good), str(bad)])
    expect(page.locator("#admin-files")).to_contain_text(good.stem)  # the name and suffix render apart
    page.locator("#admin-ingest").click()
    expect(page.locator("#admin-report")).to_contain_text("1 file ok", timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator("#admin-failures")).to_contain_text("notes.xyz")
    expect(page.locator("#admin-failures")).to_contain_text("unsupported file type")
    expect(page.locator("#admin-documents")).to_contain_text(name)
    expect(page.locator("#admin-documents")).not_to_contain_text("upload:")  # a file's name, not where it is kept
    rows = server.sql("SELECT d.id, count(k.id) FROM documents d JOIN chunks k ON k.document_id = d.id"
                      " WHERE d.source = %s GROUP BY d.id", (f"upload:{name}",))
    assert len(rows) == 1 and rows[0][1] >= 1
    document_id = rows[0][0]
    screenshot(page, "admin-ingested")

    page.locator("#admin-documents").get_by_text(name, exact=True).click()
    expect(page.locator("#admin-doc-id input")).to_have_value(str(document_id))
    page.locator("#admin-delete").click()
    expect(page.locator("#admin-delete-result")).to_contain_text(f"Deleted document {document_id}")
    expect(page.locator("#admin-documents")).not_to_contain_text(name)
    assert server.sql("SELECT 1 FROM documents WHERE id = %s", (document_id,)) == []

    # the ingest ran as a job, which the Jobs tab lists from the database
    page.get_by_role("tab", name="Jobs").click()
    job = server.sql("SELECT id FROM jobs WHERE kind = 'ingest_uploads' AND arguments->'files' ? %s", (name,))
    assert len(job) == 1
    row = page.locator("#admin-jobs tr", has_text=f"ingest {name}")
    expect(row).to_contain_text("succeeded")
    expect(row).to_contain_text("admin-ui:admin")
    screenshot(page, "admin-jobs")


def sign_in(page: Page) -> None:
    page.goto("/admin")
    page.get_by_label("username").fill(ADMIN_USER)
    page.get_by_label("password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Login").click()
    expect(page.locator("#admin-title")).to_be_visible()


def fake_report(server: Server, tag: str) -> str:
    """A report folder as the 2×2 job writes it (made-up scores: no model runs in the browser test)."""
    from training.compare import ARMS
    from training.evaluate import Record, Scores
    from training.reports import report_name, write_report

    arms = {arm: {"f1": 0.1 * (i + 1), "rougeL": 0.1 * (i + 1), "citation_valid": 0.5, "grounded": 0.7,
                  "seconds_per_answer": 2.0 + i, "first_token_seconds": 0.4, "peak_rss_mb": 900}
            for i, arm in enumerate(ARMS)}
    result = {"n": 1, "split": "test", "collection": f"e2e-{tag}", "adapter": "some-adapter", "arms": arms,
              "win_rates_rougeL": {}, "costs": {"retrieval": {"chunks": 3}, "finetuning": {}},
              "best_arm_by_f1": "finetuned+rag", "seconds": 12.0}
    records = {arm: [Record("q1", "How do I reset the hub?", "Hold the button.", arm, "Hold it [1].", 1, False,
                            2.0, 0.4, Scores(0.5, 0.5, True, 0.8))] for arm in ARMS}
    folder = server.home / "reports" / report_name(f"e2e-{tag}")
    write_report(folder, {"result": result, "records": records}, server.home / "cache" / "matplotlib")
    return folder.name


def test_admin_monitor_shows_charts_and_conversations_and_evaluation_lists_reports(page: Page,
                                                                                 server: Server) -> None:
    tag = uuid.uuid4().hex[:8]
    question = f"Monitor question {tag}?"
    hostile = [{"n": 1, "source": "upload:evil.html", "title": "<b>Bold title</b>", "page": None, "heading": None,
                "chunk_id": 1, "score": 0.5, "snippet": "<img src=x onerror=alert(1)> Hold the button."}]
    rows = server.sql(
        "WITH c AS (INSERT INTO conversations (title) VALUES ('e2e monitor') RETURNING id)"
        " INSERT INTO messages (conversation_id, question, answer, generator, collection, sources, seconds)"
        " SELECT id, q, 'An answer [1].', g, 'default', %s::jsonb, s FROM c,"
        " (VALUES (%s, 'base', 987.5::real), (%s, 'e2e-other', 1.5::real)) AS v(q, g, s)"
        " RETURNING id, conversation_id, generator",
        (json.dumps(hostile), question, f"Other question {tag}?"))
    ids = {generator: (message_id, conversation_id) for message_id, conversation_id, generator in rows}
    slow_id, conversation_id = ids["base"]
    server.sql("INSERT INTO feedback (message_id, vote) VALUES (%s, -1) RETURNING message_id", (slow_id,))
    server.sql("INSERT INTO ab_votes (message_a, message_b, winner) VALUES (%s, %s, 'a') RETURNING id",
               (slow_id, ids["e2e-other"][0]))
    report = fake_report(server, tag)

    sign_in(page)
    page.get_by_role("tab", name="Monitor").click()
    for chart in ("answers", "not-covered", "thumbs", "wins"):
        expect(page.locator(f"#monitor-{chart} .marks")).to_be_visible()  # vega drew it
    expect(page.locator("#monitor-totals")).to_contain_text("Last 30 days")
    expect(page.locator("#monitor-thumbs-table")).to_contain_text("base")
    expect(page.locator("#monitor-wins-table")).to_contain_text("e2e-other")
    expect(page.locator("#monitor-wins-table")).to_contain_text("not yet distinguishable")  # 1 vote: no verdict
    expect(page.locator("#monitor-worst")).to_contain_text(question)
    expect(page.locator("#monitor-slowest")).to_contain_text(question)
    screenshot(page, "admin-monitor")
    page.locator("#monitor-wins-split").get_by_text("per collection").click()  # split: the collection's rows
    expect(page.locator("#monitor-wins-table")).to_contain_text("default")

    page.locator("#monitor-slowest").get_by_text(question).filter(visible=True).first.click()
    expect(page.locator("#monitor-conversation-title")).to_contain_text(str(conversation_id))
    expect(page.locator("#monitor-conversation")).to_contain_text(question)
    expect(page.locator("#monitor-conversation")).to_contain_text(f"Other question {tag}?")
    sources = page.locator("#monitor-sources")
    expect(sources).to_contain_text("<b>Bold title</b>")  # shown as text, not markup
    expect(sources).to_contain_text("<img src=x onerror=alert(1)>")
    expect(sources.locator("img, b")).to_have_count(1)  # the card's own <b> around the (escaped) title
    screenshot(page, "admin-monitor-conversation")

    page.get_by_role("tab", name="Evaluation").click()
    page.locator("#eval-reports input").click()
    page.get_by_role("option", name=report, exact=True).click()
    expect(page.locator("#eval-reports input")).to_have_value(report)
    expect(page.locator("#eval-details")).to_contain_text(f"e2e-{tag}")
    expect(page.locator("#eval-summary")).to_contain_text("finetuned+rag")
    expect(page.locator("#eval-chart-quality img")).to_be_visible()
    expect(page.locator("#eval-chart-cost img")).to_be_visible()
    expect(page.locator("#eval-files")).to_contain_text("report")
    expect(page.locator("#eval-status")).to_be_visible()
    screenshot(page, "admin-evaluation")


def test_admin_fine_tuning_lists_adapters_refuses_bad_input_and_switches_the_active_one(
        page: Page, server: Server, untrained_adapter: str, tmp_path: Path) -> None:
    sign_in(page)
    page.get_by_role("tab", name="Fine-tuning").click()
    expect(page.locator("#train-adapters")).to_contain_text(untrained_adapter)
    expect(page.locator("#train-adapters")).to_contain_text("unknown (trained before documents were recorded)")

    page.locator("#train-start").click()  # "a QA file" is chosen, but none is picked
    expect(page.locator("#train-status")).to_contain_text("Choose a QA file first")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "How?"}\n')
    page.locator("#train-upload input[type=file]").set_input_files(str(bad))
    expect(page.locator("#train-status")).to_contain_text(
        "bad.jsonl:1: each line needs a non-empty 'question' and 'answer'")
    assert not (server.home / "qa" / "bad.jsonl").exists()

    try:
        page.locator("#train-choose input").click()
        page.get_by_role("option", name=untrained_adapter, exact=True).click()
        page.locator("#train-retrain").click()  # no manifest recorded how it was trained: nothing is queued
        expect(page.locator("#train-use-result")).to_contain_text("Not started")
        page.locator("#train-use").click()
        expect(page.locator("#train-use-result")).to_contain_text(f"now answers with {untrained_adapter}")
        assert server.sql("SELECT name FROM adapters WHERE active") == [(untrained_adapter,)]
        expect(page.locator("#train-adapters")).to_contain_text("●")
        screenshot(page, "admin-fine-tuning")
    finally:  # later tests expect no active adapter (the newest answers `finetuned`)
        server.sql("UPDATE adapters SET active = false WHERE active RETURNING name")
