"""Abuse of the open routes and the admin login (issue 16, findings 6, 8, 9 and the Low items), over HTTP against
the real app on the embedded database: per-client rate limits, a bounded search and UI queue, login throttling,
the minimum admin password, backups that keep the password off the command line, schema-checked restores and
uploads that say what they replaced."""

from __future__ import annotations

import copy
import os
import secrets
import stat
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.private_db import free_port, private_services, private_settings, run_cli, serving

pytestmark = pytest.mark.integration

PASSWORD = "abuse-test-" + secrets.token_hex(6)
QUESTION = "How do I factory reset the hub?"


def limited(services, **settings):
    """The session's services (same pool, models and chain) under other settings, for one app."""
    other = copy.copy(services)
    other.settings = services.settings.model_copy(update=settings)
    return other


def credentials():
    from chatbot.credentials import AdminCredentials

    return AdminCredentials("admin", PASSWORD, generated=False)  # the default throttle: 5 failures, then waits


@pytest.fixture(scope="module")
def strict_api(services, examples_ingested) -> Iterator[str]:
    """The API with 2 requests a client may make at once per route, then 1 a minute."""
    from chatbot.server import create_server

    app = create_server(limited(services, rate_limit_per_minute=1, rate_limit_burst=2), credentials(), with_ui=False)
    with serving(app) as url:
        yield url


# --- per-client rate limits ---------------------------------------------------------------------------------------


def assert_rate_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, (response.status_code, response.text[:300])
    assert int(response.headers["retry-after"]) >= 1
    assert "too many requests" in response.json()["error"]["message"]


def test_each_open_route_answers_429_with_retry_after_once_a_client_is_over_its_limit(strict_api):
    search = {"q": QUESTION, "collection": "examples", "k": 2}
    searches = [httpx.get(f"{strict_api}/api/search", params=search, timeout=60) for _ in range(3)]
    assert [r.status_code for r in searches[:2]] == [200, 200]
    assert_rate_limited(searches[2])

    vote = {"message_id": str(uuid.uuid4()), "vote": "up"}  # each route has its own allowance
    assert [httpx.post(f"{strict_api}/api/feedback", json=vote).status_code for _ in range(2)] == [404, 404]
    assert_rate_limited(httpx.post(f"{strict_api}/api/feedback", json=vote))

    bad_chat = {"model": "base", "messages": []}  # answered 422 at once: the limit counts requests, not answers
    assert [httpx.post(f"{strict_api}/v1/chat/completions", json=bad_chat).status_code for _ in range(2)] == [422, 422]
    assert_rate_limited(httpx.post(f"{strict_api}/v1/chat/completions", json=bad_chat))

    assert httpx.get(f"{strict_api}/healthz", timeout=30).status_code == 200  # operations routes are not limited
    assert httpx.get(f"{strict_api}/metrics", timeout=30).status_code == 200


# --- a bounded search and UI queue --------------------------------------------------------------------------------


def test_search_beyond_its_concurrency_is_answered_busy_not_queued(services, examples_ingested):
    from chatbot.server import create_server

    entered, release, calls = threading.Event(), threading.Event(), []
    gated = limited(services, max_search_concurrency=1)
    real = services.retriever

    def retriever(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:  # the first search holds the only slot until released
            entered.set()
            release.wait(60)
        return real(*args, **kwargs)

    gated.retriever = retriever
    with serving(create_server(gated, credentials(), with_ui=False)) as url:
        search = {"q": QUESTION, "collection": "examples"}
        first: list[httpx.Response] = []
        holder = threading.Thread(target=lambda: first.append(httpx.get(f"{url}/api/search", params=search,
                                                                        timeout=120)))
        holder.start()
        try:
            assert entered.wait(60)
            busy = httpx.get(f"{url}/api/search", params=search, timeout=60)
        finally:
            release.set()
            holder.join(120)
        assert busy.status_code == 503 and "busy" in busy.json()["detail"] and busy.headers["retry-after"]
        assert first[0].status_code == 200
        sources = first[0].json()["sources"]  # names, never the server's folders
        assert sources and all("/" not in s["source"] for s in sources)
        assert httpx.get(f"{url}/api/search", params=search, timeout=60).status_code == 200  # the slot is free again


@pytest.fixture(scope="module")
def ui_app(services, examples_ingested):
    """The app with the Gradio UI (public and admin)."""
    from chatbot.server import create_server

    app = create_server(limited(services, ui_queue_size=7), credentials())
    with serving(app) as url:
        yield app, url


def test_the_public_ui_queue_is_bounded_by_a_setting(ui_app):
    from gradio.routes import App

    app, _ = ui_app
    mounted = {route.path: route.app for route in app.routes if isinstance(getattr(route, "app", None), App)}
    assert mounted[""].get_blocks()._queue.max_size == 7


# --- login throttling and the minimum password --------------------------------------------------------------------


def test_failed_admin_logins_are_throttled_on_the_login_form_and_on_basic_auth(ui_app):
    _, url = ui_app
    login = f"{url}/admin/login"
    wrong = [httpx.post(login, data={"username": "admin", "password": f"guess-{n}"}) for n in range(5)]
    assert [r.status_code for r in wrong] == [400] * 5  # Gradio's "incorrect credentials"
    refused = httpx.post(login, data={"username": "admin", "password": PASSWORD})  # even the right one, for now
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert "access-token" not in " ".join(refused.headers.get_list("set-cookie"))
    basic = httpx.get(f"{url}/api/documents", auth=("admin", PASSWORD))  # one throttle for both doors
    assert basic.status_code == 429 and int(basic.headers["retry-after"]) >= 1


class Served:
    """`ragbot serve --no-ui` in a subprocess with the given environment (the real uvicorn options)."""

    def __init__(self, settings, cwd: Path, **env: str) -> None:
        from tests.integration.test_hostile_input import Served as HostileServed

        self.inner = HostileServed(settings, cwd, **env)
        self.url = self.inner.url

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *_exc) -> None:
        self.inner.stop()


def test_serve_limits_by_peer_address_and_throttles_basic_auth(settings, examples_ingested, tmp_path):
    env = {"RAGBOT_ADMIN_PASSWORD": PASSWORD, "RAGBOT_RATE_LIMIT_PER_MINUTE": "1", "RAGBOT_RATE_LIMIT_BURST": "2",
           "RAGBOT_LOGIN_FREE_FAILURES": "2"}
    with Served(settings, tmp_path, **env) as served:
        search = {"q": QUESTION, "collection": "examples", "k": 1}
        spoofed = [httpx.get(f"{served.url}/api/search", params=search, timeout=60,
                             headers={"X-Forwarded-For": f"203.0.113.{n}"}) for n in range(3)]
        assert [r.status_code for r in spoofed[:2]] == [200, 200]
        assert_rate_limited(spoofed[2])  # X-Forwarded-For names no client unless RAGBOT_TRUSTED_PROXIES says so

        documents = f"{served.url}/api/documents"
        assert [httpx.get(documents, auth=("admin", f"guess-{n}")).status_code for n in range(2)] == [401, 401]
        throttled = httpx.get(documents, auth=("admin", PASSWORD))
        assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) >= 1


def test_serve_refuses_a_short_admin_password_before_starting(settings):
    refused = run_cli(["serve", "--no-ui", "--port", str(free_port())], settings, timeout=60,
                      RAGBOT_ADMIN_PASSWORD="short-pass1")  # 11 characters
    assert refused.returncode == 1, refused.stdout + refused.stderr
    message = " ".join(refused.stderr.split())
    assert "at least 12" in message and "short-pass1" not in refused.stderr + refused.stdout


# --- backups ------------------------------------------------------------------------------------------------------


def test_backup_and_restore_keep_the_password_off_the_command_line_and_the_dump_private(ragbot_home, tmp_path,
                                                                                       monkeypatch):
    import subprocess

    from psycopg.conninfo import make_conninfo
    from pydantic import SecretStr

    from chatbot.storage import backup as backup_module

    secret = "pw:with\\odd-" + secrets.token_hex(4)
    base = private_settings(tmp_path / "db")
    with private_services(base) as services:
        services.conversations.create("kept in the backup")
        url = SecretStr(make_conninfo(services.url, password=secret))
        with_password = base.model_copy(update={"database_url": url})
        seen: list[dict] = []
        real_run = subprocess.run

        def recording_run(command, *args, **kwargs):
            env = kwargs.get("env") or {}
            passfile = env.get("PGPASSFILE")
            seen.append({"argv": list(command), "env": dict(env), "passfile": passfile,
                         "mode": stat.S_IMODE(os.stat(passfile).st_mode) if passfile else None,
                         "content": Path(passfile).read_text() if passfile else None})
            return real_run(command, *args, **kwargs)

        monkeypatch.setattr(backup_module.subprocess, "run", recording_run)
        old_umask = os.umask(0o022)
        try:
            target = tmp_path / "ragbot.dump"
            target.write_bytes(b"an older, world-readable file")
            os.chmod(target, 0o644)
            backup_module.backup(with_password, target)
        finally:
            os.umask(old_umask)
        assert stat.S_IMODE(target.stat().st_mode) == 0o600 and target.read_bytes()[:5] == b"PGDMP"
        backup_module.restore(with_password, target)

    dumps = [call for call in seen if Path(call["argv"][0]).name in ("pg_dump", "pg_restore")
             and any(a.startswith("--dbname=") for a in call["argv"])]
    assert [Path(c["argv"][0]).name for c in dumps] == ["pg_dump", "pg_restore"]
    for call in seen:
        assert not any(secret in arg for arg in call["argv"]), call["argv"]
        assert secret not in str(call["env"].get("PGPASSWORD", ""))
    for call in dumps:
        assert call["mode"] == 0o600 and secret.replace("\\", "\\\\").replace(":", "\\:") in call["content"]
        assert not Path(call["passfile"]).exists()  # removed once the binary is done


def test_restore_refuses_an_older_schema_over_a_newer_database(ragbot_home, tmp_path, monkeypatch):
    from chatbot.storage import db
    from chatbot.storage.backup import BackupError, backup, restore

    old = private_settings(tmp_path / "old")
    old_url = db.database_url(old)
    all_migrations = db.migration_files()
    try:
        with monkeypatch.context() as patch:
            patch.setattr(db, "migration_files", lambda: all_migrations[:4])  # what an older ragbot had
            db.apply_migrations(old_url, 384)
        dump = tmp_path / "old.dump"
        backup(old, dump)

        new = private_settings(tmp_path / "new")
        with private_services(new) as services:
            kept = services.conversations.create("must survive the refused restore")
            newest = all_migrations[-1].name[:3]
            with pytest.raises(BackupError, match=f"schema version 004 but the database is at {newest}") as refused:
                restore(new, dump)
            assert "empty database" in str(refused.value)
            assert not db.pending_migrations(services.url)
            assert services.conversations.exists(kept)

        # into an empty database it goes in, and the next start upgrades it
        with db.connect(old_url, vector=False) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
            conn.commit()
        restore(old, dump)
        assert db.pending_migrations(old_url)[:1] == [all_migrations[4].name]
        with private_services(old) as services:
            assert not db.pending_migrations(services.url)
    finally:
        db.stop_embedded(old)


# --- uploads of the same name -------------------------------------------------------------------------------------


def test_an_upload_that_replaces_a_document_of_the_same_name_says_so(services, collection):
    from chatbot.server import create_server

    def upload(*files: tuple[str, bytes]) -> dict:
        response = httpx.post(f"{url}/api/documents", auth=("admin", PASSWORD), data={"collection": collection},
                              files=[("files", (name, data, "text/markdown")) for name, data in files], timeout=300)
        assert response.status_code == 200, response.text
        return response.json()

    with serving(create_server(services, credentials(), with_ui=False)) as url:
        first = upload(("guide.md", b"# Guide\n\nThe first guide.\n"))
        assert first["replaced"] == [] and first["documents_added"] == 1
        same = upload(("guide.md", b"# Guide\n\nThe first guide.\n"))
        assert same["replaced"] == [] and same["documents_unchanged"] == 1
        second = upload(("guide.md", b"# Guide\n\nA different guide.\n"))
        assert second["replaced"] == ["guide.md"] and second["documents_updated"] == 1
        both = upload(("team-a/notes.md", b"# Notes\n\nTeam A.\n"), ("team-b/notes.md", b"# Notes\n\nTeam B.\n"))
        assert both["replaced"] == ["notes.md"]
    assert sorted(d.source for d in services.store.list_documents(collection)) == ["upload:guide.md",
                                                                                    "upload:notes.md"]
