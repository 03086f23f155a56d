"""The HTTP perimeter of the real app (API + both Gradio apps) on the embedded database: upload routes authenticate
before a byte of their body is read, other routes take 2 MB, cross-site requests get no CORS answer and cannot change
state, the public app neither takes uploads nor serves the admin app's files, the /admin redirect ignores the Host
header, and made-up HTTP methods add no metrics series (issue 16: 1, 3, 4, 5 and two Low items)."""

from __future__ import annotations

import http.client
import secrets
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.integration.private_db import serving

pytestmark = pytest.mark.integration

ADMIN = ("admin", "perimeter-test-" + secrets.token_hex(8))
HOST = "chat.example.com"  # a Host that is not localhost: Gradio's own CORS reflects any Origin for such a Host
EVIL = "https://evil.example"
PARTNER = "https://partner.example"  # the one allow-listed origin


@pytest.fixture(scope="module")
def perimeter_services(services):
    """The product's services on the session database, with one allow-listed CORS origin."""
    from chatbot.services import Services

    own = Services(services.settings.model_copy(update={"cors_origins": [PARTNER], "max_new_tokens": 8}))
    yield own
    own.close()


@pytest.fixture(scope="module")
def base(perimeter_services) -> Iterator[str]:
    """The whole app, UI included, as `ragbot serve` runs it."""
    from chatbot.credentials import AdminCredentials
    from chatbot.server import create_server

    with serving(create_server(perimeter_services, AdminCredentials(*ADMIN, generated=False))) as url:
        yield url


@pytest.fixture
def admin(base) -> Iterator[httpx.Client]:
    """A client logged in to the admin Gradio app (its session cookie set)."""
    with httpx.Client(base_url=base, timeout=60) as client:
        login = client.post("/admin/login", data={"username": ADMIN[0], "password": ADMIN[1]})
        assert login.status_code == 200, login.text
        yield client


def headers_only(base: str, method: str, path: str, length: int, headers: dict[str, str] | None = None,
                 timeout: float = 10) -> tuple[int, dict[str, str]]:
    """Send a request's headers announcing `length` body bytes, send none of them, and wait for the answer.

    A server that reads (or waits for) the body before answering never answers: the socket times out."""
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in {"Content-Type": "multipart/form-data; boundary=x", **(headers or {}),
                            "Content-Length": str(length)}.items():
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()


def admin_upload(admin: httpx.Client, data: bytes, name: str = "notes.md") -> str:
    response = admin.post("/admin/gradio_api/upload", files=[("files", (name, data, "text/markdown"))])
    assert response.status_code == 200, response.text
    (path,) = response.json()
    return path


# --- 1: authenticate before the body is read; the large cap only on the two upload routes ------------------------


def test_upload_routes_refuse_unauthenticated_requests_before_reading_the_body(base, admin):
    hundred_mb = 100 * 1024 * 1024
    status, headers = headers_only(base, "POST", "/api/documents", hundred_mb)
    assert status == 401 and headers["www-authenticate"].startswith("Basic")
    status, _ = headers_only(base, "POST", "/api/documents", hundred_mb,
                             {"Authorization": "Basic " + "YWRtaW46d3Jvbmc="})  # admin:wrong
    assert status == 401
    status, headers = headers_only(base, "POST", "/admin/gradio_api/upload", hundred_mb)
    assert status == 401 and "www-authenticate" not in headers  # no browser Basic prompt inside the Gradio app
    status, _ = headers_only(base, "POST", "/admin/gradio_api/upload", hundred_mb,
                             {"Cookie": "access-token-unsecure-x=forged; access-token-x=forged"})
    assert status == 401
    # with credentials the upload cap applies: 3 MB (over the 2 MB cap elsewhere) goes through
    path = admin_upload(admin, b"# Big\n\n" + b"word " * (3 * 1024 * 1024 // 5))
    assert path.endswith("notes.md")
    big = [("files", ("big.bin", b"\0" * 3 * 1024 * 1024, "application/octet-stream"))]  # refused, not ingested
    uploaded = httpx.post(f"{base}/api/documents", files=big, data={"collection": "t-perimeter-big"}, auth=ADMIN,
                          timeout=120)
    assert uploaded.status_code == 200 and uploaded.json()["files_failed"][0]["path"] == "big.bin"


def test_every_other_route_takes_2mb_and_refuses_more_at_once(base, admin):
    three_mb = 3 * 1024 * 1024
    for path in ("/admin/gradio_api/queue/join", "/admin/login", "/admin/gradio_api/upload/", "/admin/x",
                 "/gradio_api/queue/join", "/v1/chat/completions", "/api/documents/1"):
        status, _ = headers_only(base, "POST", path, three_mb, {"Content-Type": "application/json"})
        assert status == 413, (path, status)
    # logged in changes nothing: the admin app's events take small JSON bodies
    joined = admin.post("/admin/gradio_api/queue/join", content=b"{" + b" " * three_mb + b"}",
                        headers={"Content-Type": "application/json"})
    assert joined.status_code == 413


# --- 3: cross-site requests -------------------------------------------------------------------------------------


def test_cross_site_requests_get_no_cors_answer_and_cannot_change_state(base, admin):
    evil = {"Host": HOST, "Origin": EVIL}
    preflight = httpx.options(f"{base}/admin/gradio_api/queue/join", headers={
        **evil, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
    assert "access-control-allow-origin" not in preflight.headers, preflight.headers
    with httpx.stream("GET", f"{base}/admin/gradio_api/queue/data", params={"session_hash": "x"}, headers=evil,
                      cookies=admin.cookies, timeout=10) as data:  # the headers only: the stream is Gradio's
        assert data.status_code == 200 and "access-control-allow-origin" not in data.headers, data.headers
    # a logged-in admin's browser, driven by another site: refused before anything runs
    join = admin.post("/admin/gradio_api/queue/join", json={"data": [], "fn_index": 0, "session_hash": "x"},
                      headers=evil)
    assert join.status_code == 403, join.text
    for headers in (evil, {"Host": HOST, "Origin": "null"}, {"Host": HOST, "Sec-Fetch-Site": "cross-site"},
                    {"Host": HOST, "Origin": f"http://{HOST}", "Sec-Fetch-Site": "cross-site"},
                    {"Host": HOST, "Origin": "http://chat.example.com.evil.example"}):
        assert admin.post("/admin/login", data={"username": ADMIN[0], "password": ADMIN[1]},
                          headers=headers).status_code == 403, headers
        assert httpx.post(f"{base}/api/feedback", json={"message_id": "x", "vote": "up"},
                          headers=headers).status_code == 403, headers
        assert httpx.delete(f"{base}/api/documents/1", auth=ADMIN, headers=headers).status_code == 403, headers
    # same origin, a user typing in the address bar, an allow-listed origin, and non-browser clients pass
    for headers in ({"Host": HOST, "Origin": f"http://{HOST}"}, {"Host": HOST, "Sec-Fetch-Site": "same-origin"},
                    {"Host": HOST, "Sec-Fetch-Site": "none"}, {"Host": HOST, "Origin": PARTNER},
                    {"Host": HOST, "Origin": PARTNER, "Sec-Fetch-Site": "cross-site"}, {"Host": HOST}):
        assert httpx.post(f"{base}/api/feedback", json={"message_id": "x", "vote": "up"},
                          headers=headers).status_code == 422, headers  # reached the route: a bad id
    partner = httpx.options(f"{base}/v1/chat/completions", headers={
        "Host": HOST, "Origin": PARTNER, "Access-Control-Request-Method": "POST"})
    assert partner.status_code == 200 and partner.headers["access-control-allow-origin"] == PARTNER


def test_cors_origins_setting_reads_a_comma_separated_or_json_list(monkeypatch):
    from pydantic import ValidationError

    from chatbot.settings import Settings

    assert Settings(_env_file=None).cors_origins == []
    monkeypatch.setenv("RAGBOT_CORS_ORIGINS", "https://a.example, https://b.example:8443/")
    assert Settings(_env_file=None).cors_origins == ["https://a.example", "https://b.example:8443"]
    monkeypatch.setenv("RAGBOT_CORS_ORIGINS", '["https://a.example"]')
    assert Settings(_env_file=None).cors_origins == ["https://a.example"]
    for bad in ("*", "a.example", "https://a.example/path"):
        monkeypatch.setenv("RAGBOT_CORS_ORIGINS", bad)
        with pytest.raises(ValidationError):
            Settings(_env_file=None)


# --- 4 and 5: the public app serves no admin file and takes no upload -------------------------------------------


def test_public_app_serves_no_admin_file(base, admin):
    secret = b"# Internal\n\nadmin-only " + secrets.token_hex(8).encode()
    path = admin_upload(admin, secret, "internal.md")
    assert admin.get(f"/admin/gradio_api/file={path}").content == secret  # the admin app serves it
    assert httpx.get(f"{base}/admin/gradio_api/file={path}").status_code == 401  # not without login
    public = httpx.get(f"{base}/gradio_api/file={path}")
    assert public.status_code == 403 and secret not in public.content


def test_public_app_refuses_uploads_before_reading_them(base):
    for path in ("/gradio_api/upload", "/gradio_api/upload?upload_id=x"):
        status, _ = headers_only(base, "POST", path, 1024 * 1024)
        assert status in (403, 404), (path, status)
    small = httpx.post(f"{base}/gradio_api/upload", files=[("files", ("a.txt", b"kept forever", "text/plain"))])
    assert small.status_code in (403, 404) and "a.txt" not in small.text
    assert httpx.post(f"{base}/gradio_api/upload/", files=[("files", ("a.txt", b"x", "text/plain"))],
                      follow_redirects=True).status_code in (403, 404)


# --- Low: the /admin redirect and metrics cardinality -----------------------------------------------------------


def test_admin_redirect_does_not_use_the_host_header(base):
    response = httpx.get(f"{base}/admin", headers={"Host": "evil.example"})
    assert response.status_code in (301, 302, 307, 308)
    assert response.headers["location"] == "admin/"
    assert httpx.get(f"{base}/admin?x=1").headers["location"] == "admin/?x=1"
    assert httpx.get(f"{base}/admin", follow_redirects=True).url.path == "/admin/"


def test_made_up_http_methods_add_no_metrics_series(base):
    method = "PROBE" + secrets.token_hex(4).upper()
    assert httpx.request(method, f"{base}/healthz").status_code in (404, 405)
    metrics = httpx.get(f"{base}/metrics").text
    assert method not in metrics
    assert 'method="OTHER"' in metrics
