"""Website ingest against hostile sites (issue 29, items 2, 7, 8, 13, 16), served by a real HTTP server on
127.0.0.1: decompression bombs and stacked codings, slow drips, the sync's deadline, sitemap and parse budgets,
invalid URLs, IPv6 forms that embed a private IPv4, and links with other schemes. No database: the crawl alone."""

from __future__ import annotations

import gzip
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import brotli
import pytest

from ingestion import web_sitemap
from ingestion.web_crawl import CrawlOptions, PageResult, SiteCrawl
from ingestion.web_fetch import Fetcher, FetchError, resolve_public

MB = 1024 * 1024
PAGE = b"<html><head><title>Good</title></head><body><main><p>A page that is ingested.</p></main></body></html>"
REQUESTS: list[tuple[str, str | None]] = []  # (path, Accept-Encoding) per request
ROUTES: dict[str, Callable[[BaseHTTPRequestHandler], None]] = {}


def answer(body: bytes, content_type: str = "text/html", **headers: str) -> Callable[[BaseHTTPRequestHandler], None]:
    def send(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            handler.send_header(key.replace("_", "-"), value)
        handler.end_headers()
        handler.wfile.write(body)
    return send


def drip(headers_too: bool) -> Callable[[BaseHTTPRequestHandler], None]:
    """One byte every 0.2 s for up to 20 s: of the body, or (`headers_too`) of the headers already."""
    def send(handler: BaseHTTPRequestHandler) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100\r\n"
        handler.wfile.write(b"HTTP/1.1 200 OK\r\n" if headers_too else head + b"\r\n")
        rest = head[17:] + b"\r\n" + b"x" * 100 if headers_too else b"x" * 100
        try:
            for byte in rest:
                time.sleep(0.2)
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
        except OSError:  # the client hung up: what is expected
            pass
    return send


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        REQUESTS.append((self.path, self.headers.get("Accept-Encoding")))
        route = ROUTES.get(self.path)
        if route is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        route(self)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    ROUTES.update({
        "/good": answer(PAGE),
        "/gzipped": answer(gzip.compress(PAGE), Content_Encoding="gzip"),
        "/gzip-bomb": answer(gzip.compress(b"\0" * (64 * MB), 9), Content_Encoding="gzip"),
        "/brotli-bomb": answer(brotli.compress(b"\0" * (64 * MB), quality=5), Content_Encoding="br"),
        "/stacked": answer(gzip.compress(gzip.compress(PAGE)), Content_Encoding="gzip, gzip"),
        "/drip-body": drip(headers_too=False),
        "/drip-headers": drip(headers_too=True),
    })
    yield url
    server.shutdown()
    server.server_close()


def fetcher(**kwargs: object) -> Fetcher:
    return Fetcher(allow_private=True, max_bytes=MB, delay=0, **kwargs)  # type: ignore[arg-type]


def sitemap(base: str, paths: list[str]) -> bytes:
    entries = "".join(f"<url><loc>{base}{p}</loc></url>" for p in paths)
    return f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>'.encode()


def crawl(start: str, **options: object) -> tuple[SiteCrawl, dict[str, PageResult]]:
    with fetcher() as pages_fetcher:
        site = SiteCrawl(start, CrawlOptions(delay=0, **options), pages_fetcher, {})  # type: ignore[arg-type]
        return site, {page.url: page for page in site.pages()}


# --- item 2: decompression bombs --------------------------------------------------------------------------------


def test_only_gzip_is_asked_for_and_a_gzip_page_still_reads(base: str) -> None:
    REQUESTS.clear()
    with fetcher() as client:
        assert client.get(f"{base}/gzipped").body == PAGE
    assert REQUESTS == [("/gzipped", "gzip")]


@pytest.mark.parametrize("path, reason", [("/gzip-bomb", "limit"), ("/brotli-bomb", "encoding 'br' is refused"),
                                          ("/stacked", "stacked content encodings")])
def test_bombs_and_stacked_codings_fail_in_little_memory(base: str, path: str, reason: str) -> None:
    with fetcher() as client:
        tracemalloc.start()
        try:
            with pytest.raises(FetchError, match=reason):
                client.get(f"{base}{path}")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 8 * MB, f"{path}: {peak / MB:.1f} MB at peak for a 1 MB page cap"


def test_a_sitemap_with_bombs_still_ingests_its_good_pages(base: str) -> None:
    ROUTES["/bombs.xml"] = answer(sitemap(base, ["/gzip-bomb", "/brotli-bomb", "/stacked", "/good"]),
                                  "application/xml")
    _, pages = crawl(f"{base}/bombs.xml")
    assert pages[f"{base}/good"].document is not None
    assert all(pages[f"{base}{p}"].error for p in ("/gzip-bomb", "/brotli-bomb", "/stacked"))


# --- item 7: deadlines and budgets -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/drip-body", "/drip-headers"])
def test_a_slow_drip_is_cut_at_the_page_deadline(base: str, path: str) -> None:
    started = time.monotonic()
    with fetcher(page_deadline=1.0) as client, pytest.raises(FetchError, match="deadline"):
        client.get(f"{base}{path}")
    assert time.monotonic() - started < 4


def test_nothing_is_fetched_after_the_sync_deadline(base: str) -> None:
    REQUESTS.clear()
    with fetcher(deadline=time.monotonic() - 1) as client, pytest.raises(FetchError, match="deadline"):
        client.get(f"{base}/good")
    assert REQUESTS == []


def test_the_sync_deadline_stops_a_sitemap_and_counts_what_was_left(base: str) -> None:
    ROUTES["/slow.xml"] = answer(sitemap(base, ["/drip-body"] + [f"/good?{i}" for i in range(20)]),
                                 "application/xml")
    ROUTES.update({f"/good?{i}": answer(PAGE) for i in range(20)})
    started = time.monotonic()
    with fetcher(deadline=time.monotonic() + 1.5) as client:
        site = SiteCrawl(f"{base}/slow.xml", CrawlOptions(delay=0.2, concurrency=1), client, {})
        pages = list(site.pages())
    assert time.monotonic() - started < 6
    assert [page.url for page in pages] == [f"{base}/drip-body"] and "deadline" in (pages[0].error or "")
    assert site.visit.unvisited == 20  # left for the next sync, and named in its report


def test_an_index_is_read_up_to_the_child_sitemap_budget(base: str) -> None:
    children = [f"/small-{i}.xml" for i in range(web_sitemap.MAX_CHILD_SITEMAPS + 10)]
    index = "".join(f"<sitemap><loc>{base}{c}</loc></sitemap>" for c in children)
    ROUTES["/many.xml"] = answer(f'<?xml version="1.0"?><sitemapindex>{index}</sitemapindex>'.encode(),
                                 "application/xml")
    ROUTES.update({c: answer(sitemap(base, [f"/good?{i}"]), "application/xml") for i, c in enumerate(children)})
    REQUESTS.clear()
    site, _ = crawl(f"{base}/many.xml", max_pages=1)
    assert sum(path.startswith("/small-") for path, _ in REQUESTS) == web_sitemap.MAX_CHILD_SITEMAPS
    assert not site.visit.complete  # a listing cut short: nothing is pruned for being absent from it


def test_a_huge_index_costs_little_memory(base: str) -> None:
    """10 child sitemaps of 50,000 entries each, for 5 pages (the issue's case: 476 MB before)."""
    children = [f"/child-{i}.xml" for i in range(10)]
    index = "".join(f"<sitemap><loc>{base}{c}</loc></sitemap>" for c in children)
    ROUTES["/index.xml"] = answer(f'<?xml version="1.0"?><sitemapindex>{index}</sitemapindex>'.encode(),
                                  "application/xml")
    big = sitemap(base, [f"/good?{n}" for n in range(50_000)])
    ROUTES.update({c: answer(big, "application/xml") for c in children})
    tracemalloc.start()
    try:
        with Fetcher(allow_private=True, max_bytes=10 * MB, delay=0) as client:
            site = SiteCrawl(f"{base}/index.xml", CrawlOptions(delay=0, max_pages=5), client, {})
            pages = list(site.pages())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(pages) == 5 and len(site.visit.listed) <= web_sitemap.MAX_LISTED and not site.visit.complete
    assert peak < 120 * MB, f"{peak / MB:.0f} MB at peak"


def test_a_page_over_the_parse_cap_is_that_pages_error(base: str) -> None:
    ROUTES["/big"] = answer(b"<html><body>" + b"<p>filler text</p>" * (150 * 1024) + b"</body></html>")
    with Fetcher(allow_private=True, max_bytes=10 * MB, delay=0) as client:
        site = SiteCrawl(f"{base}/big", CrawlOptions(delay=0), client, {})
        first = next(iter(site.pages()))
    assert first.error is not None and "parsed" in first.error


# --- item 8: invalid URLs ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://0177.0.0.1/", "http://exa\x7fmple.com/"])
def test_an_invalid_url_is_a_fetch_error(url: str) -> None:
    with fetcher() as client:
        for attempt in (client.check, client.get):
            with pytest.raises(FetchError, match="not a valid URL"):
                attempt(url)


def test_an_invalid_sitemap_location_is_that_pages_error(base: str) -> None:
    ROUTES["/bad-loc.xml"] = answer(sitemap(base, ["/go\x7fod", "/good"]), "application/xml")
    _, pages = crawl(f"{base}/bad-loc.xml")
    assert pages[f"{base}/good"].document is not None
    assert "not a valid URL" in (pages[f"{base}/go\x7fod"].error or "")


# --- item 13: IPv6 forms that embed an IPv4 address ----------------------------------------------------------------


@pytest.mark.parametrize("address", ["64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::a00:1", "64:ff9b:1::c0a8:1",
                                     "2002:7f00:1::1", "2002:a9fe:a9fe::", "2002:c0a8:101::1", "::127.0.0.1",
                                     "::10.1.2.3", "::169.254.169.254"])
def test_ipv6_that_embeds_a_private_ipv4_is_refused(address: str) -> None:
    with pytest.raises(FetchError, match="RAGBOT_INGEST_ALLOW_PRIVATE"):
        resolve_public(address, 80, allow_private=False)


@pytest.mark.parametrize("address", ["64:ff9b::808:808", "2002:808:808::1", "2606:4700::6810:84e5"])
def test_ipv6_that_embeds_a_public_ipv4_passes(address: str) -> None:
    assert resolve_public(address, 80, allow_private=False) == address


# --- item 16: links with other schemes -----------------------------------------------------------------------------


def test_links_with_other_schemes_are_skipped_not_resolved_as_paths(base: str) -> None:
    links = ('<a href="ftp://ftp.gnu.org/gnu/">ftp</a> <a href="mailto:help@example.com">mail</a> '
             '<a href="javascript:go()">js</a> <a href="FTP://mirror/pub/">ftp</a> <a href="/good">good</a>')
    ROUTES["/"] = answer(b"<html><body><main><p>Start</p>" + links.encode() + b"</main></body></html>")
    REQUESTS.clear()
    _, pages = crawl(f"{base}/")
    assert set(pages) == {f"{base}/", f"{base}/good"}
    requested = {path for path, _ in REQUESTS}
    assert requested == {"/robots.txt", "/", "/good"}, requested
