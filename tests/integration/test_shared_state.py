"""The web tier's shared state in the real (session) Postgres: every object here stands for one replica, and two
of them on the same database must see one state (issue 28 item 2; issue 29 items 5, 9 and 10)."""

from __future__ import annotations

import secrets
import threading
import time

import httpx
import pytest

from tests.integration.private_db import serving

pytestmark = pytest.mark.integration

PASSWORD = "shared-state-" + secrets.token_hex(6)


def test_a_rate_limit_holds_across_replicas_and_under_concurrency(services):
    from chatbot.cluster.rate_buckets import SharedTokenBuckets

    a, b = (SharedTokenBuckets(services.pool, per_minute=6, burst=4) for _ in range(2))  # one every 10 s
    client = f"198.51.100.{secrets.randbelow(250)}"
    waits: list[float] = []
    threads = [threading.Thread(target=lambda r=r: waits.append(r.take(("search", client))))
               for r in (a, b) * 6]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(waits)[:4] == [0.0] * 4 and all(w > 0 for w in sorted(waits)[4:]), waits  # exactly the burst
    assert max(waits) == pytest.approx(10.0, abs=0.5)
    assert a.take(("chat", client)) == 0.0  # another route: its own bucket


def test_failed_logins_on_one_replica_throttle_the_client_on_the_other(services):
    from chatbot.cluster.login_records import SharedLoginRecords
    from chatbot.credentials import AdminCredentials, AdminLogin
    from chatbot.login_throttle import LoginThrottle, LoginThrottled

    credentials = AdminCredentials("admin", PASSWORD, generated=False)
    a, b = (AdminLogin(credentials, LoginThrottle(SharedLoginRecords(services.pool), free_failures=4))
            for _ in range(2))
    attacker = "203.0.113.66"
    for login in (a, b, a, b):
        assert login.login("admin", "wrong-guess", client=attacker) is False
    for login in (a, b):
        with pytest.raises(LoginThrottled):
            login.login("admin", PASSWORD, client=attacker)
    assert b.login("admin", PASSWORD, client="192.0.2.10")  # issue 29 item 9: a clean address is not refused


def test_admin_sessions_are_shared_and_expire_when_idle_or_too_old(services):
    from chatbot.cluster.admin_sessions import SessionTokens

    token = secrets.token_urlsafe(16)
    a = SessionTokens(services.pool, idle_s=60, max_s=3600)
    a[token] = "admin"
    assert SessionTokens(services.pool, idle_s=60, max_s=3600).get(token) == "admin"  # another replica
    with services.pool.connection() as conn:  # stored by hash only
        assert conn.execute("SELECT count(*) FROM admin_sessions WHERE token_sha256 = %s",
                            (token.encode(),)).fetchone()[0] == 0
    assert SessionTokens(services.pool, idle_s=0.5, max_s=3600).get(token) == "admin"
    time.sleep(0.8)
    assert SessionTokens(services.pool, idle_s=0.5, max_s=3600).get(token) is None  # idle too long
    assert token not in SessionTokens(services.pool, idle_s=60, max_s=0.5)  # older than the absolute expiry
    assert a.get(token) == "admin"
    del a[token]
    assert a.get(token) is None and a.get("") is None


def test_answers_in_flight_are_capped_per_client_across_replicas(services):
    from chatbot.cluster.in_flight import AnswersInFlight, TooManyInFlight

    a, b = AnswersInFlight(services.pool, "replica-a", 2), AnswersInFlight(services.pool, "replica-b", 2)
    client = f"198.51.100.{secrets.randbelow(250)}"
    first, second = a.enter(client), b.enter(client)
    with pytest.raises(TooManyInFlight, match="at most 2"):
        a.enter(client)
    other = b.enter("192.0.2.77")  # other clients are not held up
    first()
    b.enter(client)()  # a finished answer frees its slot
    second(), other()
    assert AnswersInFlight(services.pool, "replica-a", 0).enter(client) is not None  # 0: no cap


@pytest.fixture
def no_replicas(services):
    """No replica alive and no stored password, as on a fresh database."""
    with services.pool.connection() as conn:
        conn.execute("DELETE FROM replicas")
        conn.execute("DELETE FROM admin_password")
    yield
    with services.pool.connection() as conn:
        conn.execute("DELETE FROM replicas")
        conn.execute("DELETE FROM admin_password")


def test_a_generated_password_is_shared_and_a_replica_without_one_is_refused(services, no_replicas):
    from chatbot.cluster.admin_password import AdminPasswordRequired, join_replicas
    from chatbot.credentials import AdminCredentials

    def generated() -> AdminCredentials:
        return AdminCredentials.from_settings(services.settings)

    first = join_replicas(services.pool, generated(), "replica-a")
    assert first.generated and first.password
    second = join_replicas(services.pool, generated(), "replica-b")
    assert second.password is None and second.check("admin", first.password)  # the first one's, by its hash
    assert not second.check("admin", "not-the-password")
    configured = AdminCredentials("admin", PASSWORD, generated=False)
    assert join_replicas(services.pool, configured, "replica-c") is configured

    with services.pool.connection() as conn:
        conn.execute("DELETE FROM admin_password")  # as if replica-a had been started with a configured password
    with pytest.raises(AdminPasswordRequired, match="RAGBOT_ADMIN_PASSWORD"):
        join_replicas(services.pool, generated(), "replica-d")


@pytest.fixture(scope="module")
def ui_url(services, examples_ingested):
    from chatbot.credentials import AdminCredentials
    from chatbot.server import create_server

    app = create_server(services, AdminCredentials("admin", PASSWORD, generated=False))
    with serving(app) as url:
        yield url


def test_logout_is_a_guarded_post_that_ends_the_session(ui_url):
    with httpx.Client(base_url=ui_url) as browser:
        assert browser.post("/admin/login", data={"username": "admin", "password": PASSWORD}).status_code == 200
        assert browser.get("/admin/gradio_api/user").json() == "admin"
        assert 'action=\\"logout\\"' in browser.get("/admin/config").text  # the Sign out form posts here
        assert browser.get("/admin/logout").status_code == 405  # a link on another site ends nothing
        assert browser.get("/admin/gradio_api/user").json() == "admin"
        cross_site = browser.post("/admin/logout", headers={"Sec-Fetch-Site": "cross-site"})
        assert cross_site.status_code == 403 and browser.get("/admin/gradio_api/user").json() == "admin"
        token = browser.cookies.get("access-token-unsecure-ragbot-admin")
        ended = browser.post("/admin/logout", headers={"Sec-Fetch-Site": "same-origin"})
        assert ended.status_code == 303
    with httpx.Client(base_url=ui_url, cookies={"access-token-unsecure-ragbot-admin": token}) as stale:
        assert stale.get("/admin/gradio_api/user").json() is None  # the session is gone, not just the cookie


def test_the_ui_counts_answers_in_flight_by_the_events_client(services, examples_ingested):
    from types import SimpleNamespace

    from gradio.context import LocalContext

    from chatbot.chat_service import ChatService
    from chatbot.cluster.in_flight import AnswersInFlight
    from chatbot.gate import GenerationGate
    from chatbot.ui.answering import answer_snapshots

    capped = AnswersInFlight(services.pool, "replica-ui", 1)
    chat = ChatService(services.chain, services.conversations, GenerationGate(4), capped)
    client = f"198.51.100.{secrets.randbelow(250)}"
    LocalContext.request.set(SimpleNamespace(client=SimpleNamespace(host=client)))  # what Gradio sets per event
    try:
        leave = capped.enter(client)  # this client's other answer, on another replica
        refused = list(answer_snapshots(chat, "How do I factory reset the hub?", generator="base",
                                        collection="examples"))
        leave()
        answered = list(answer_snapshots(chat, "How do I factory reset the hub?", generator="base",
                                         collection="examples"))
    finally:
        LocalContext.request.set(None)
    assert refused[-1].error and "in flight" in refused[-1].error and refused[-1].stored is None
    assert answered[-1].stored is not None


def test_housekeeping_clears_what_expired_and_a_stopped_replica_leaves(services):
    from chatbot.cluster.in_flight import AnswersInFlight
    from chatbot.cluster.replicas import Heartbeat, beat, housekeeping

    with services.pool.connection() as conn:
        beat(conn, "replica-gone")
        conn.execute("UPDATE replicas SET seen_at = now() - interval '1 minute' WHERE name = 'replica-gone'")
        beat(conn, "replica-live")
        conn.execute("INSERT INTO login_failures VALUES ('client', 'old-client', 9, now() - interval '2 hours')")
        conn.execute("INSERT INTO admin_sessions (token_sha256, user_name, created_at, seen_at)"
                     " VALUES ('\\x01', 'admin', now() - interval '13 hours', now())")
    AnswersInFlight(services.pool, "replica-gone", 2).enter("198.51.100.1")  # its replica died mid-answer
    kept = AnswersInFlight(services.pool, "replica-live", 2).enter("198.51.100.1")
    housekeeping(services.pool, services.settings)
    with services.pool.connection() as conn:
        assert [r[0] for r in conn.execute("SELECT replica FROM answers_in_flight")] == ["replica-live"]
        assert not conn.execute("SELECT 1 FROM login_failures WHERE key = 'old-client'").fetchone()
        assert not conn.execute("SELECT 1 FROM admin_sessions WHERE token_sha256 = '\\x01'").fetchone()
    kept()
    Heartbeat(services.pool, services.settings, "replica-live").start().stop()
    with services.pool.connection() as conn:
        assert not conn.execute("SELECT 1 FROM replicas WHERE name = 'replica-live'").fetchone()
        conn.execute("DELETE FROM replicas WHERE name = 'replica-gone'")
