"""Hardening round three (issue 29) on the real app (API + both Gradio apps, embedded database): no anonymous
recordings (11), no server path in a 404 and no redirect built from the Host header (13), the Content-Security-Policy
(3), and votes counted per server-issued cookie and address, not per value the browser chooses (6)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.gradio_queue import QueueClient
from tests.integration.private_db import serving
from tests.integration.test_security_perimeter import headers_only

pytestmark = pytest.mark.integration

ADMIN = ("admin", "round3-test-" + secrets.token_hex(8))
EVIL_HOST = "evil.example"


@pytest.fixture(scope="module")
def app_and_base(services) -> Iterator[tuple]:
    """The whole app, UI included, on the session's services, as `ragbot serve` runs it; and its URL."""
    from chatbot.credentials import AdminCredentials
    from chatbot.server import create_server

    app = create_server(services, AdminCredentials(*ADMIN, generated=False))
    with serving(app) as url:
        yield app, url


@pytest.fixture(scope="module")
def base(app_and_base) -> str:
    return app_and_base[1]


def session_values(base_app, session_hash: str) -> str:
    """Everything the public app keeps for a page session (its State values and its components' values)."""
    from chatbot.ui.isolation import mounted

    session = mounted(base_app, "/").state_holder.session_data[session_hash]
    return repr(session.state_data) + repr(session.config_values)


def test_a_refused_question_leaves_nothing_in_the_session(app_and_base):
    app, url = app_and_base
    question, collection = "q" * 4001 + "-refused-question", "c" * 5000 + "-refused-collection"
    with httpx.Client(base_url=url, timeout=120) as client:
        queue = QueueClient(client)
        done = queue.run("respond", {"chat-question": question, "chat-collection": collection})
        assert "at most 4,000 are accepted" in str(done["output"]["data"]), done
        kept = session_values(app, queue.session_hash)
        assert "-refused-question" not in kept and "-refused-collection" not in kept
        compared = queue.run("compare", {"compare-question": question})
        assert "at most 4,000 are accepted" in str(compared["output"]["data"]), compared
        assert "-refused-question" not in session_values(app, queue.session_hash)
        status, _ = headers_only(url, "POST", "/gradio_api/queue/join", 200_000, {"Content-Type": "application/json"})
        assert status == 413  # past what the longest question needs: refused at the door


def test_an_accepted_comparison_still_asks_for_a_vote(base, examples_ingested):
    with httpx.Client(base_url=base, timeout=120) as client:
        done = QueueClient(client).run("compare", {"compare-question": "How do I reset the hub?",
                                                   "compare-first": "extractive", "compare-second": "extractive"})
    assert done["success"] and "Vote to reveal" in str(done["output"]["data"]), done


def test_no_app_accepts_recordings(base):
    video = [("video", ("a.mp4", b"\x00" * 4096, "video/mp4"))]
    for path in ("/gradio_api/process_recording", "/admin/gradio_api/process_recording"):
        status, _ = headers_only(base, "POST", path, 2 * 1024 * 1024)  # answered before the body is read
        assert status == 403, (path, status)
        assert httpx.post(f"{base}{path}", files=video).status_code == 403, path
    with httpx.Client(base_url=base) as admin:
        assert admin.post("/admin/login", data={"username": ADMIN[0], "password": ADMIN[1]}).status_code == 200
        assert admin.post("/admin/gradio_api/process_recording", files=video).status_code == 403


def test_an_unknown_adapter_404_does_not_name_ragbot_home(base, services):
    response = httpx.post(f"{base}/v1/chat/completions", timeout=60, json={
        "model": "finetuned:no-such-adapter", "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 404
    assert "no-such-adapter" in response.text
    assert str(services.settings.home) not in response.text and "/adapters" not in response.text


def test_redirects_never_name_the_host_the_request_gave(base):
    evil = {"Host": EVIL_HOST}
    login = httpx.post(f"{base}/login", data={"username": "x", "password": "y"}, headers=evil)  # public: no auth
    assert login.status_code == 302 and login.headers["location"].startswith("/"), login.headers
    forwarded = httpx.post(f"{base}/login", data={"username": "x", "password": "y"},
                           headers={"X-Forwarded-Host": EVIL_HOST})
    assert EVIL_HOST not in forwarded.headers.get("location", ""), forwarded.headers
    with httpx.Client(base_url=base) as admin:
        assert admin.post("/admin/login", data={"username": ADMIN[0], "password": ADMIN[1]}).status_code == 200
        logout = admin.get("/admin/logout", headers=evil)
        if logout.status_code == 405:  # logout may take POST only
            logout = admin.post("/admin/logout", headers=evil)
    location = urlsplit(logout.headers.get("location", ""))
    assert logout.status_code in (302, 303, 307) and not location.netloc and not location.scheme, logout.headers
    assert EVIL_HOST not in logout.headers["location"]


def test_pages_send_a_content_security_policy(base):
    for path in ("/", "/admin/", "/v1/models", "/gradio_api/info"):
        policy = httpx.get(f"{base}{path}").headers.get("content-security-policy", "")
        assert "img-src 'self' data:" in policy and "connect-src 'self'" in policy, (path, policy)
    refused = httpx.post(f"{base}/gradio_api/upload", files=[("files", ("a.txt", b"x", "text/plain"))])
    assert "content-security-policy" in refused.headers  # refusals by the perimeter too
    assert "content-security-policy" not in httpx.get(f"{base}/docs").headers  # Swagger UI comes from a CDN


def vote_three_times(base: str, question: str, cookies: list[str | None], browser_ids: list[str]) -> None:
    """In one page session: ask (extractive, stored), then thumbs up the answer three times, each time with the
    given voter cookie (None: the one the page load set) and browser id (what the page used to send)."""
    with httpx.Client(base_url=base, timeout=120) as browser:
        queue = QueueClient(browser)
        queue.load_page()
        done = queue.run("respond", {"chat-question": question, "chat-mode": "extractive",
                                     "chat-collection": "examples"})
        assert done["success"], done
        for cookie, browser_id in zip(cookies, browser_ids, strict=True):
            if cookie is not None:
                browser.cookies.set("ragbot-voter", cookie)
            liked = queue.run("rate", {"browserstate": browser_id},
                              event_data={"index": 1, "value": "x", "liked": True})
            assert liked["success"] and "thumbs up was saved" in str(liked["output"]["data"]), liked


def test_votes_count_once_per_cookie_and_address_whatever_the_browser_sends(base, services,
                                                                           examples_ingested):
    from chatbot.storage.feedback_export import voted_pairs

    made_up = f"How do I reset the hub? ({secrets.token_hex(4)})"
    vote_three_times(base, made_up, [None] * 3, ["voter-a", "voter-b", "voter-c"])
    forged = f"How do I reset the hub? ({secrets.token_hex(4)})"
    vote_three_times(base, forged, ["forged-1.x", "forged-2.y", "forged-3.z"], ["a", "b", "c"])
    counted = {p["question"]: p["votes"] for p in voted_pairs(services.pool)}
    assert (counted[made_up], counted[forged]) == (1, 1), counted


def test_the_public_page_sets_a_signed_voter_cookie_once(base):
    with httpx.Client(base_url=base) as browser:
        first = browser.get("/")
        cookie = first.cookies.get("ragbot-voter")
        assert cookie and "HttpOnly" in first.headers["set-cookie"] and "SameSite=Lax" in first.headers["set-cookie"]
        assert "ragbot-voter" not in browser.get("/").headers.get("set-cookie", "")  # a valid one is kept
        browser.cookies.set("ragbot-voter", cookie[:-2] + "xx")
        assert browser.get("/").cookies.get("ragbot-voter") not in (None, cookie)  # a forged one is replaced
