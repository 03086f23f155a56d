"""The safe fetcher on its own (a tiny server on 127.0.0.1, nothing else reached): schemes, addresses, redirects,
size caps (gzip included), no cookies sent back; and the small parsers around website and loader ingestion."""

from __future__ import annotations

import gzip
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chatbot.ui.formatting import source_link
from ingestion.langchain_loaders import parse_loader_args
from ingestion.web_crawl import CrawlOptions
from ingestion.web_fetch import Fetcher, FetchError, check_url, normalize_url, resolve_public

MB = 1024 * 1024
SEEN: list[tuple[str, str | None]] = []  # (path, Cookie header) per request


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        SEEN.append((self.path, self.headers.get("Cookie")))
        routes = {
            "/page": (200, {"Content-Type": "text/html", "Set-Cookie": "session=abc"}, b"<p>hello</p>"),
            "/hop": (301, {"Location": "/page"}, b""),
            "/away": (302, {"Location": "http://203.0.113.9/elsewhere"}, b""),
            "/bomb": (200, {"Content-Type": "text/html", "Content-Encoding": "gzip"},
                      gzip.compress(b"\0" * (3 * MB))),
            "/loop": (302, {"Location": "/loop"}, b""),
            "/error": (503, {}, b"down"),
        }
        status, headers, body = routes.get(self.path, (404, {}, b""))
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("url, word", [("file:///etc/passwd", "http"), ("ftp://example.com/", "http"),
                                       ("javascript:alert(1)", "http"), ("http:///nohost", "host"),
                                       ("https://user:pw@example.com/", "credentials")])
def test_only_plain_http_urls(url: str, word: str) -> None:
    with pytest.raises(FetchError, match=word):
        check_url(url)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
                                     "100.64.0.1", "0.0.0.0", "::1", "fe80::1", "::ffff:127.0.0.1", "224.0.0.1"])
def test_private_loopback_and_link_local_addresses_are_refused(address: str) -> None:
    with pytest.raises(FetchError, match="RAGBOT_INGEST_ALLOW_PRIVATE"):
        resolve_public(address, 80, allow_private=False)
    assert resolve_public(address, 80, allow_private=True) == address


def test_a_public_address_passes() -> None:
    assert resolve_public("93.184.215.14", 443, allow_private=False) == "93.184.215.14"


def test_loopback_is_refused_before_connecting(base: str) -> None:
    SEEN.clear()
    with Fetcher(allow_private=False, max_bytes=MB, delay=0) as fetcher, pytest.raises(FetchError, match="private"):
        fetcher.get(f"{base}/page")
    assert SEEN == []


def test_same_site_redirects_are_followed_off_site_ones_are_not(base: str) -> None:
    with Fetcher(allow_private=True, max_bytes=MB, delay=0) as fetcher:
        assert fetcher.get(f"{base}/hop").url == f"{base}/page"
        with pytest.raises(FetchError, match=re.escape("off-site to http://203.0.113.9/elsewhere")):
            fetcher.get(f"{base}/away")
        with pytest.raises(FetchError, match="redirects"):
            fetcher.get(f"{base}/loop")
        with pytest.raises(FetchError, match="HTTP 503") as failed:
            fetcher.get(f"{base}/error")
        assert failed.value.status == 503


def test_decompressed_size_is_capped(base: str) -> None:
    with Fetcher(allow_private=True, max_bytes=MB, delay=0) as fetcher, pytest.raises(FetchError, match="limit"):
        fetcher.get(f"{base}/bomb")


def test_cookies_are_never_sent_back(base: str) -> None:
    SEEN.clear()
    with Fetcher(allow_private=True, max_bytes=MB, delay=0) as fetcher:
        fetcher.get(f"{base}/page")
        fetcher.get(f"{base}/page")
    assert [cookie for _, cookie in SEEN] == [None, None]


def test_normalize_url() -> None:
    assert normalize_url("HTTPS://Help.Example.COM/a/b#part") == "https://help.example.com/a/b"
    assert normalize_url("http://example.com") == "http://example.com/"
    with pytest.raises(FetchError, match="not a valid URL"):
        normalize_url("http://[oops/")


def test_crawl_options_round_trip_through_json() -> None:
    options = CrawlOptions(max_pages=7, include=("/help/*",), delay=0.0)
    assert CrawlOptions.from_json(options.to_json()) == options


def test_loader_args() -> None:
    assert parse_loader_args(["file_path=faq.csv", "autodetect_encoding=true", "n=3", "names=[\"a\"]"]) == {
        "file_path": "faq.csv", "autodetect_encoding": True, "n": 3, "names": ["a"]}
    with pytest.raises(ValueError, match="key=value"):
        parse_loader_args(["oops"])


def test_web_sources_link_and_files_do_not() -> None:
    assert source_link("https://help.example.com/a?x=1&y=2") == (
        '<a href="https://help.example.com/a?x=1&amp;y=2" target="_blank" rel="noopener noreferrer nofollow">'
        "https://help.example.com/a?x=1&amp;y=2</a>")
    assert source_link("javascript:alert(1)") == "javascript:alert(1)"
    assert source_link('https://x/"onmouseover=alert(1)') == "https://x/&quot;onmouseover=alert(1)"
    assert source_link("faq.csv") == "faq.csv"
