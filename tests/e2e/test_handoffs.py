"""Handoff to a person in a real browser: a question the documents cannot answer → the abstention offers "Talk to
a person" → the handoff appears in Admin → Handoffs → the agent's answer, once approved, is in the reviewed QA
data (what `ragbot feedback export` writes)."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.support import ANSWER_TIMEOUT_MS, Server, ragbot, screenshot
from tests.e2e.test_ui import sign_in

pytestmark = pytest.mark.e2e

OUT_OF_DOMAIN = "What was the score of the 1966 football world cup final?"
AGENT_ANSWER = "The hub has no sports scores; please see a sports site. (agent e2e)"


def test_abstain_then_talk_to_a_person_then_the_agents_answer_joins_the_qa_data(page: Page, server: Server) -> None:
    page.goto("/")
    expect(page.locator("#handoff-talk")).to_be_visible()  # always offered
    page.locator("#chat-question textarea").fill(OUT_OF_DOMAIN)
    page.locator("#chat-send").click()
    expect(page.locator("#handoff-offer")).to_contain_text("No answer in the documents", timeout=ANSWER_TIMEOUT_MS)
    [(abstained,)] = server.sql("SELECT not_covered FROM messages WHERE question = %s", (OUT_OF_DOMAIN,))
    assert abstained is True
    page.locator("#handoff-contact input").fill("ana@example.com")
    screenshot(page, "handoff-offered")
    page.locator("#handoff-talk").click()
    expect(page.locator("#handoff-result")).to_contain_text("Handed to a person")
    [(handoff_id, reason, contact, status, turns)] = server.sql(
        "SELECT id::text, reason, contact, status, conversation FROM handoffs WHERE question = %s", (OUT_OF_DOMAIN,))
    assert (reason, contact, status) == ("abstained", "ana@example.com", "open")  # no webhook: open in Admin
    assert turns[0]["question"] == OUT_OF_DOMAIN
    expect(page.locator("#handoff-result")).to_contain_text(handoff_id[:8])
    screenshot(page, "handoff-created")
    page.locator("#chat-new").click()  # a new conversation withdraws the offer; the button stays
    expect(page.locator("#handoff-offer")).not_to_contain_text("No answer in the documents")
    expect(page.locator("#handoff-talk")).to_be_visible()

    sign_in(page)
    page.get_by_role("tab", name="Handoffs").click()
    expect(page.locator("#handoffs-delivery")).to_contain_text("No webhook is configured")
    table = page.locator("#handoffs-table")
    expect(table).to_contain_text(OUT_OF_DOMAIN)
    table.get_by_text(OUT_OF_DOMAIN, exact=True).last.click()  # the cell's text (its wrapper matches too)
    expect(page.locator("#handoffs-id input")).to_have_value(handoff_id)
    expect(page.locator("#handoffs-details")).to_contain_text("ana@example.com")
    page.locator("#handoffs-answer textarea").fill(AGENT_ANSWER)
    page.locator("#handoffs-save").click()
    expect(page.locator("#handoffs-note")).to_contain_text("Answer saved")
    expect(page.locator("#handoffs-table tr", has_text=OUT_OF_DOMAIN)).to_contain_text("answered")
    expect(page.locator("#handoffs-qa")).not_to_contain_text("agent e2e")  # not before review
    page.locator("#handoffs-approve").click()
    expect(page.locator("#handoffs-note")).to_contain_text("Approved")
    expect(page.locator("#handoffs-qa")).to_contain_text("agent e2e")
    expect(page.locator("#handoffs-qa")).to_contain_text('"origin": "handoff"')
    expect(page.locator("#handoffs-details")).to_contain_text('"review": "approved"')
    screenshot(page, "admin-handoffs")

    listed = json.loads(ragbot(server.env, "handoffs", "list", "--status", "answered", "--json").stdout)
    assert [(h["id"], h["answer"], h["review"]) for h in listed] == [(handoff_id, AGENT_ANSWER, "approved")]
