"""The Gradio UI in a real browser against a real server: chat, mode switch, compare + blind vote, admin."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.support import ADMIN_PASSWORD, ADMIN_USER, ANSWER_TIMEOUT_MS, Server, screenshot

pytestmark = pytest.mark.e2e

QUESTION = "How do I reset the hub to factory settings?"
FOLLOW_UP = "How long do I hold the button?"
UNAVAILABLE = "no fine-tuned adapter"

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


def message_count(server: Server) -> int:
    return server.sql("SELECT count(*) FROM messages")[0][0]


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

    ask(page, FOLLOW_UP)  # multi-turn: same conversation, history loaded from Postgres
    expect(page.locator("#chat-status")).to_contain_text("Answered by", timeout=ANSWER_TIMEOUT_MS)
    _, follow_conversation, _, follow_question, _ = latest_message(server)
    assert (follow_conversation, follow_question) == (conversation_id, FOLLOW_UP)
    expect(page.locator('#chat [data-testid="bot"]')).to_have_count(2)
    screenshot(page, "chat-follow-up")


def test_mode_switch_changes_the_generator(page: Page, server: Server) -> None:
    page.goto("/")
    choose_mode(page, "finetuned")
    before = message_count(server)
    ask(page, QUESTION)
    if has_adapter(server):
        expect(page.locator("#chat-status")).to_contain_text("Answered by finetuned", timeout=ANSWER_TIMEOUT_MS)
        assert latest_message(server)[2].startswith("finetuned")
    else:
        expect(page.locator('#chat [data-testid="bot"]').last).to_contain_text(UNAVAILABLE,
                                                                              timeout=ANSWER_TIMEOUT_MS)
        expect(page.locator("#chat-question textarea")).to_be_enabled()
        assert message_count(server) == before, "an unavailable generator must not store an answer"
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
    if not has_adapter(server):  # the default pair is base vs finetuned: one column explains, no vote offered
        page.locator("#compare-run").click()
        expect(page.locator("#compare-status")).to_contain_text("Both generators must answer",
                                                                timeout=ANSWER_TIMEOUT_MS)
        expect(page.locator("#compare-answer-a, #compare-answer-b").filter(has_text=UNAVAILABLE)).to_have_count(1)
        expect(page.locator("#compare-vote")).to_be_hidden()
        screenshot(page, "compare-unavailable")
        page.locator("#compare-second input").click()
        page.get_by_role("option", name="base", exact=True).click()
        expect(page.locator("#compare-second input")).to_have_value("base")

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
    expect(page.locator("#compare-label-a")).to_contain_text("base")
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
    expect(page.locator("#admin-documents")).to_contain_text(f"upload:{name}")
    rows = server.sql("SELECT d.id, count(k.id) FROM documents d JOIN chunks k ON k.document_id = d.id"
                      " WHERE d.source = %s GROUP BY d.id", (f"upload:{name}",))
    assert len(rows) == 1 and rows[0][1] >= 1
    document_id = rows[0][0]
    screenshot(page, "admin-ingested")

    page.locator("#admin-documents").get_by_text(f"upload:{name}").click()
    expect(page.locator("#admin-doc-id input")).to_have_value(str(document_id))
    page.locator("#admin-delete").click()
    expect(page.locator("#admin-delete-result")).to_contain_text(f"Deleted document {document_id}")
    expect(page.locator("#admin-documents")).not_to_contain_text(f"upload:{name}")
    assert server.sql("SELECT 1 FROM documents WHERE id = %s", (document_id,)) == []
