"""`examples/docs` rendered as a small help center (a page per document under /articles/, an index, a sitemap index,
robots.txt), served by a static HTTP server on 127.0.0.1 that answers conditional requests (ETag, Last-Modified):
what website ingestion is tested and benchmarked against, with no network beyond loopback.

`python -m benchmarks.help_center [PORT]` serves it until interrupted (for `ragbot bench ingest --url`)."""

from __future__ import annotations

import hashlib
import html
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ingestion.loaders import LoadedDocument, load_file
from ingestion.pipeline import expand_paths

SITE = "Lumio Help Center"


def slug(path: Path) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-")


def article_html(document: LoadedDocument, canonical: str, nav: list[tuple[str, str]]) -> str:
    """A help-center page: a site banner, navigation and a footer around the article (its headings nested as the
    document's heading paths are)."""
    body: list[str] = [f"<h1>{html.escape(document.title)}</h1>"]
    previous: list[str] = []
    for section in document.sections:
        heading = section.metadata.get("heading") or (f"Page {section.metadata['page']}"
                                                      if section.metadata.get("page") else "")
        parts = [p for p in str(heading).split(" > ") if p]
        common = next((i for i, (a, b) in enumerate(zip(parts, previous, strict=False)) if a != b),
                      min(len(parts), len(previous)))
        for level, part in enumerate(parts[common:], start=common + 1):
            tag = f"h{min(level + 1, 6)}"
            body.append(f"<{tag}>{html.escape(part)}</{tag}>")
        previous = parts
        for paragraph in section.text.split("\n\n"):
            lines = [html.escape(line) for line in paragraph.splitlines() if line.strip()]
            if lines:
                body.append("<p>" + "<br>".join(lines) + "</p>")
    links = "".join(f'<li><a href="{href}">{html.escape(title)}</a></li>' for href, title in nav)
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(document.title)}</title>'
        f'<link rel="canonical" href="{canonical}"><link rel="stylesheet" href="/static/site.css">'
        f'<script src="/static/site.js"></script></head><body>'
        f'<header><a href="/">{SITE}</a> <form><input name="q" placeholder="Search"></form></header>'
        f'<nav><ul>{links}</ul></nav><main><article>{"".join(body)}</article></main>'
        f'<footer>© Lumio. <a href="/private/">Staff area</a></footer></body></html>'
    )


def render_help_center(docs: Path, root: Path, base_url: str, extra_urls: tuple[str, ...] = ()) -> list[str]:
    """Write the site under `root` for `base_url`; returns the article URLs. `extra_urls` are listed in the
    sitemap too (pages the server answers specially)."""
    documents = {slug(p): load_file(p, 50 * 1024 * 1024) for p in expand_paths([docs])}
    nav = [(f"/articles/{name}/", doc.title) for name, doc in documents.items()]
    urls = []
    for name, document in documents.items():
        url = f"{base_url}/articles/{name}/"
        write_page(root, f"/articles/{name}/", article_html(document, url, nav))
        urls.append(url)
    items = "".join(f'<li><a href="{href}">{html.escape(title)}</a></li>' for href, title in nav)
    index = (f"<!doctype html><html><head><title>{SITE}</title></head><body><header>{SITE}</header>"
             f"<main><h1>{SITE}</h1><p>Answers about the Lumio hub, its app and your account.</p>"
             f"<ul>{items}</ul></main></body></html>")
    write_page(root, "/articles/", index)
    write_sitemap(root, base_url, [*urls, *extra_urls])
    (root / "robots.txt").write_text("User-agent: *\nDisallow: /private/\n", encoding="utf-8")
    write_page(root, "/private/", "<html><body><main><p>Staff only.</p></main></body></html>")
    return urls


def write_page(root: Path, path: str, text: str) -> Path:
    target = root / path.strip("/") / "index.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target


def write_sitemap(root: Path, base_url: str, urls: list[str]) -> None:
    """/sitemap.xml: an index of one url set, /sitemap-pages.xml."""
    entries = "".join(f"<url><loc>{html.escape(u)}</loc></url>" for u in urls)
    ns = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
    (root / "sitemap-pages.xml").write_text(f'<?xml version="1.0" encoding="UTF-8"?><urlset {ns}>{entries}</urlset>',
                                            encoding="utf-8")
    (root / "sitemap.xml").write_text(f'<?xml version="1.0" encoding="UTF-8"?><sitemapindex {ns}><sitemap><loc>'
                                      f'{base_url}/sitemap-pages.xml</loc></sitemap></sitemapindex>', encoding="utf-8")


@dataclass
class ServerLog:
    """What the server saw: (method, path, status, user agent) per request."""

    requests: list[tuple[str, str, int, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def paths(self, status: int | None = None) -> list[str]:
        with self.lock:
            return [path for _, path, code, _ in self.requests if status is None or code == status]


def _content_type(target: Path) -> str:
    return ("application/xml" if target.suffix == ".xml" else "text/plain" if target.suffix == ".txt"
            else "text/html; charset=utf-8")


class _SiteHandler(BaseHTTPRequestHandler):
    """Serves the files under `root` with ETag and Last-Modified (answering conditional requests with 304), the
    `redirects`, and `unsized` pages of a given size with no Content-Length; every request goes to `server_log`."""

    root: Path
    redirects: dict[str, str]
    unsized: dict[str, int]
    server_log: ServerLog
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path in self.redirects:
            return self._answer(302, b"", {"Location": self.redirects[path]})
        if path in self.unsized:
            return self._unsized(self.unsized[path])
        target = self.root / path.lstrip("/")
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            return self._answer(404, b"<html><body>Not found</body></html>", {"Content-Type": "text/html"})
        data = target.read_bytes()
        etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
        modified = target.stat().st_mtime
        headers = {"ETag": etag, "Last-Modified": formatdate(modified, usegmt=True),
                   "Content-Type": _content_type(target)}
        if self._not_modified(etag, modified):
            return self._answer(304, b"", headers)
        self._answer(200, data, headers)

    def _not_modified(self, etag: str, modified: float) -> bool:
        if match := self.headers.get("If-None-Match"):
            return etag in [m.strip() for m in match.split(",")]
        if since := self.headers.get("If-Modified-Since"):
            try:
                return int(modified) <= parsedate_to_datetime(since).timestamp()
            except (TypeError, ValueError):
                return False
        return False

    def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self._log(status)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _unsized(self, size: int) -> None:
        """A page of `size` bytes with no Content-Length (its end is the connection's close)."""
        self._log(200)
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        block = b"<p>" + b"filler " * 1000 + b"</p>\n"
        try:
            self.wfile.write(b"<html><body><main>")
            for _ in range(size // len(block)):
                self.wfile.write(block)
        except (BrokenPipeError, ConnectionResetError):  # the client stopped reading at its cap
            pass

    def _log(self, status: int) -> None:
        with self.server_log.lock:
            self.server_log.requests.append(("GET", self.path, status, self.headers.get("User-Agent", "")))

    def log_message(self, *args: object) -> None:
        pass


def _handler(root: Path, redirects: dict[str, str], unsized: dict[str, int], log: ServerLog) -> type:
    """A handler class serving `root` (the server makes one handler per request, from the class)."""
    return type("Handler", (_SiteHandler,), {"root": root, "redirects": redirects, "unsized": unsized,
                                             "server_log": log})


@contextmanager
def serve(root: Path, redirects: dict[str, str] | None = None,
          unsized: dict[str, int] | None = None) -> Iterator[tuple[str, ServerLog]]:
    """Serve `root` on 127.0.0.1 (a free port) in a thread; yields (base URL, the request log)."""
    log = ServerLog()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(root, redirects or {}, unsized or {}, log))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", log
    finally:
        server.shutdown()
        server.server_close()


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8765
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        base = f"http://127.0.0.1:{port}"
        render_help_center(Path("examples/docs"), root, base)
        server = ThreadingHTTPServer(("127.0.0.1", port), _handler(root, {}, {}, ServerLog()))
        print(f"help center on {base}/sitemap.xml (start page {base}/articles/)", flush=True)
        with suppress(KeyboardInterrupt):
            server.serve_forever()


if __name__ == "__main__":
    main()
