"""Issue 29, item 3, in a real browser: a `style` payload that asks for a remote background image, typed as a
question and carried by a document into an answer, its sources and Admin → Monitor, is shown as text; no
request reaches the payload's host (a local HTTP server that counts what it is asked), and the pages run under
the Content-Security-Policy without a violation."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.support import ANSWER_TIMEOUT_MS, Server, ragbot, screenshot
from tests.e2e.test_ui import ask, choose_mode, sign_in

pytestmark = pytest.mark.e2e


class Canary(BaseHTTPRequestHandler):
    """Counts every request (the payload's URLs point here) and answers a 1×1 GIF."""

    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        Canary.hits.append(self.path)
        body = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00" \
               b"\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
        self.send_response(200)
        self.send_header("Content-Type", "image/gif")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args) -> None:
        pass


@pytest.fixture
def canary() -> Iterator[str]:
    """A local HTTP server standing for a remote host; yields its `host:port`."""
    Canary.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Canary)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def payload(host: str, where: str) -> str:
    return (f'<p style="background-image:url(http://{host}/{where});position:fixed;inset:0;z-index:9999">'
            f'Purple light {where}</p>')


def test_style_payloads_in_questions_documents_and_monitor_are_text(page: Page, server: Server, canary: str,
                                                                    tmp_path: Path) -> None:
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    requested: list[str] = []
    page.context.on("request", lambda r: requested.append(r.url) if canary in r.url else None)
    collection = f"e2e-hostile-{uuid.uuid4().hex[:8]}"
    document = tmp_path / "hub-lights.txt"
    document.write_text(f"Hub lights.\n\nA purple hub light means a firmware update. {payload(canary, 'doc')} "
                        "The purple light turns off when the update is done.\n", encoding="utf-8")
    ragbot(server.env, "ingest", str(document), "--collection", collection)

    page.goto("/")
    choose_mode(page, "extractive")
    page.locator("#chat-collection input, #chat-collection textarea").first.fill(collection)
    ask(page, f"What does a purple hub light mean? {payload(canary, 'question')}")
    expect(page.locator("#chat-status")).to_contain_text("Answered by extractive", timeout=ANSWER_TIMEOUT_MS)
    chat = page.locator("#chat")
    expect(chat).to_contain_text(f'style="background-image:url(http://{canary}/question)')  # the question, as text
    expect(page.locator("#chat-sources")).to_contain_text(f"url(http://{canary}/doc)")
    assert "url(http://" + canary + "/doc)" in chat.inner_text()  # the document's payload quoted in the answer
    expect(page.locator("[style*='background-image']")).to_have_count(0)
    screenshot(page, "untrusted-chat")
    page.locator("#chat button[aria-label='Dislike']").last.click()
    expect(page.locator("#chat-status")).to_contain_text("thumbs down was saved")

    sign_in(page)
    page.get_by_role("tab", name="Monitor").click()
    worst = page.locator("#monitor-worst")
    expect(worst).to_contain_text(f"url(http://{canary}/question)")
    worst.get_by_text(f"url(http://{canary}/question)").filter(visible=True).first.click()
    expect(page.locator("#monitor-conversation")).to_contain_text(f"url(http://{canary}/question)")
    expect(page.locator("#monitor-sources")).to_contain_text(f"url(http://{canary}/doc)")
    expect(page.locator("[style*='background-image']")).to_have_count(0)
    screenshot(page, "untrusted-monitor")

    page.wait_for_timeout(1000)  # a late background fetch would land by now
    assert Canary.hits == [] and requested == [], (Canary.hits, requested)
    assert violations == [], violations  # Gradio itself runs within the policy
