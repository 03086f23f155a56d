"""Regenerate the screenshots of README.md and docs/ui.md from a running ragbot (`make screenshots` starts one
and runs this).

Drives Debian's chromium through Playwright (never `playwright install`): Chat with a cited answer (the
`extractive` generator: every sentence cited), Compare after a blind vote, a handoff to a person after an
abstention, a few more questions the documents do not cover (for Admin → Gaps), then each Admin tab."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect, sync_playwright

CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]
QUESTION = "How do I factory reset the hub?"
ANSWER_MS = 180_000
ADMIN_TABS = (("Documents", "admin-documents"), ("Fine-tuning", "admin-fine-tuning"), ("Embedders", "admin-embedders"),
              ("Monitor", "admin-monitor"), ("Gaps", "admin-gaps"),
              ("Evaluation", "admin-evaluation"), ("Handoffs", "admin-handoffs"))
OUT_OF_DOMAIN = "What was the score of the 1966 football world cup final?"
AGENT_ANSWER = "England beat West Germany 4–2 after extra time. (This help desk covers the Lumio hub only.)"
GAP_QUESTIONS = ("Who scored in the 1966 football world cup final?", "How long should I bake banana bread?",
                 "What temperature do I bake banana bread at?")


def wait_healthy(url: str, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise SystemExit(f"{url} is not answering /healthz")


def chat(page: Page, out: Path) -> None:
    page.goto("/")
    page.locator("#chat-mode").get_by_role("radio", name="extractive", exact=True).check()
    page.locator("#chat-question textarea").fill(QUESTION)
    page.locator("#chat-send").click()
    expect(page.locator("#chat-status")).to_contain_text("Answered by", timeout=ANSWER_MS)
    expect(page.locator("#chat-sources")).to_contain_text("Cited sources")
    page.screenshot(path=str(out / "chat.png"), full_page=True)


def handoff(page: Page, out: Path) -> None:
    """An abstention, then "Talk to a person" (the handoff then shows in Admin → Handoffs)."""
    page.goto("/")
    page.locator("#chat-question textarea").fill(OUT_OF_DOMAIN)
    page.locator("#chat-send").click()
    expect(page.locator("#handoff-offer")).to_contain_text("No answer in the documents", timeout=ANSWER_MS)
    page.locator("#handoff-contact input").fill("ana@example.com")
    page.locator("#handoff-talk").click()
    expect(page.locator("#handoff-result")).to_contain_text("Handed to a person")
    page.screenshot(path=str(out / "handoff.png"), full_page=True)


def gap_questions(page: Page) -> None:
    """Questions the sample documents do not cover: each one abstained on, so Admin → Gaps has topics to show."""
    for question in GAP_QUESTIONS:
        page.locator("#chat-new").click()
        expect(page.locator("#handoff-offer")).not_to_contain_text("No answer in the documents")
        page.locator("#chat-question textarea").fill(question)
        page.locator("#chat-send").click()
        expect(page.locator("#handoff-offer")).to_contain_text("No answer in the documents", timeout=ANSWER_MS)


def compare(page: Page, out: Path) -> None:
    page.goto("/")
    page.get_by_role("tab", name="Compare").click()
    page.locator("#compare-question textarea").fill(QUESTION)
    page.locator("#compare-run").click()
    expect(page.locator("#compare-status")).to_contain_text("Which answer is better", timeout=ANSWER_MS)
    page.locator("#compare-vote-a").click()
    expect(page.locator("#compare-status")).to_contain_text("Vote saved")
    page.screenshot(path=str(out / "compare.png"), full_page=True)


def admin(page: Page, out: Path, user: str, password: str) -> None:
    page.goto("/admin")
    page.get_by_label("username").fill(user)
    page.get_by_label("password").fill(password)
    page.get_by_role("button", name="Login").click()
    expect(page.locator("#admin-title")).to_be_visible()
    for tab, name in ADMIN_TABS:
        page.get_by_role("tab", name=tab).click()
        page.wait_for_timeout(2500)  # the tab's tables and charts load on open
        if tab == "Handoffs":
            answer_handoff(page)
        page.screenshot(path=str(out / f"{name}.png"), full_page=True)


def answer_handoff(page: Page) -> None:
    """An agent answers the handed-off question and approves the pair for the QA data."""
    page.locator("#handoffs-table").get_by_text(OUT_OF_DOMAIN, exact=True).last.click()
    expect(page.locator("#handoffs-details")).to_contain_text("ana@example.com")
    page.locator("#handoffs-answer textarea").fill(AGENT_ANSWER)
    page.locator("#handoffs-save").click()
    expect(page.locator("#handoffs-note")).to_contain_text("Answer saved")
    page.locator("#handoffs-approve").click()
    expect(page.locator("#handoffs-qa")).to_contain_text('"origin": "handoff"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:7860")
    parser.add_argument("--user", default="admin")
    parser.add_argument("--password", default=os.environ.get("RAGBOT_ADMIN_PASSWORD"),
                        help="the admin password (default: $RAGBOT_ADMIN_PASSWORD; not on the command line, which "
                        "`ps` shows)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "screenshots")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    if not args.password:
        parser.error("set RAGBOT_ADMIN_PASSWORD or pass --password")
    args.out.mkdir(parents=True, exist_ok=True)
    wait_healthy(args.url)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 900}, base_url=args.url)
        context.set_default_timeout(60_000)
        page = context.new_page()
        chat(page, args.out)
        compare(page, args.out)
        handoff(page, args.out)
        gap_questions(page)
        admin(page, args.out, args.user, args.password)
        browser.close()
    print(f"screenshots written to {args.out}")


if __name__ == "__main__":
    main()
