"""What hostile input costs the ingest code on the path (docs/security-web-ingest.md): a brotli and a gzip bomb at
the 10 MB page cap, an index of 10 sitemaps × 50,000 entries for 5 pages, a PDF whose 20 pages share one content
stream. Served on 127.0.0.1 in a thread. `python benchmarks/hostile_ingest.py` with PYTHONPATH set to the tree."""

from __future__ import annotations

import gzip
import resource
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import brotli

from ingestion.errors import IngestError
from ingestion.loaders import load_bytes
from ingestion.web_crawl import CrawlOptions, SiteCrawl
from ingestion.web_fetch import Fetcher, FetchError

MB = 1024 * 1024
BODIES: dict[str, tuple[bytes, str, str]] = {}  # path → (body, content type, content encoding)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body, content_type, encoding = BODIES.get(self.path, (b"<p>page</p>", "text/html", ""))
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _measure(what: str, run: Callable[[], str], traced: bool = True) -> None:
    """CPU seconds and the traced peak (or, untraced, the process's peak RSS: tracing slows a long run)."""
    if traced:
        tracemalloc.start()
    cpu = time.process_time()
    outcome = run()
    cpu = time.process_time() - cpu
    if traced:
        memory = f"{tracemalloc.get_traced_memory()[1] / MB:.1f} MB traced peak"
        tracemalloc.stop()
    else:
        memory = f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    print(f"{what}: {cpu:.2f} s CPU, {memory}: {outcome[:110]}")


def _fetch(url: str) -> str:
    with Fetcher(allow_private=True, max_bytes=10 * MB, delay=0) as fetcher:
        try:
            return f"read {len(fetcher.get(url).body or b''):,} bytes"
        except FetchError as exc:
            return str(exc)


def _crawl(url: str) -> str:
    with Fetcher(allow_private=True, max_bytes=10 * MB, delay=0) as fetcher:
        crawl = SiteCrawl(url, CrawlOptions(delay=0, max_pages=5), fetcher, {})
        pages = list(crawl.pages())
    return f"{len(pages)} pages, {len(crawl.visit.listed):,} listed"


def pdf_file(objects: list[bytes], trailer: str = "") -> bytes:
    """A PDF of `objects` (numbered from 1, the first the catalog) and its cross-reference table; `trailer`: more
    trailer entries (e.g. ' /Info 5 0 R')."""
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R{trailer} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def shared_stream_pdf(pages: int, lines: int) -> bytes:
    """`pages` pages whose /Contents is one Flate-compressed stream of `lines` lines of text (a few KB in all)."""
    text = b" ".join(b"(Repeated line of PDF text that expands a lot) '" for _ in range(lines))
    stream = zlib.compress(b"BT /F1 12 Tf 72 720 Td 14 TL " + text + b" ET", 9)
    font, content = 3 + pages, 4 + pages
    kids = " ".join(f"{3 + i} 0 R" for i in range(pages))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode()]
    objects += [f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content} 0 R "
                f"/Resources << /Font << /F1 {font} 0 R >> >> >>".encode()] * pages
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    objects.append(b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(stream), stream))
    return pdf_file(objects)


def _pdf() -> str:
    pdf = shared_stream_pdf(20, 4000)
    try:
        document = load_bytes(pdf, "bomb.pdf")
        return f"{len(pdf):,} bytes gave {sum(len(s.text) for s in document.sections):,} characters"
    except IngestError as exc:
        return f"{len(pdf):,} bytes refused: {exc}"


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    BODIES["/br"] = (brotli.compress(b"\0" * 64 * MB, quality=5), "text/html", "br")
    BODIES["/gz"] = (gzip.compress(b"\0" * 64 * MB, 9), "text/html", "gzip")
    entries = "".join(f"<url><loc>{base}/p{n}</loc></url>" for n in range(50_000))
    xml = "application/xml"
    for i in range(10):
        BODIES[f"/child-{i}.xml"] = (f"<?xml version='1.0'?><urlset>{entries}</urlset>".encode(), xml, "")
    index = "".join(f"<sitemap><loc>{base}/child-{i}.xml</loc></sitemap>" for i in range(10))
    BODIES["/index.xml"] = (f"<?xml version='1.0'?><sitemapindex>{index}</sitemapindex>".encode(), xml, "")
    print(f"peak RSS at the start {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    _measure("sitemap index 10 x 50,000, --max-pages 5", lambda: _crawl(f"{base}/index.xml"), traced=False)
    _measure("PDF, 20 pages sharing one content stream", _pdf, traced=False)
    _measure("brotli bomb (64 MB of zeros)", lambda: _fetch(f"{base}/br"))
    _measure("gzip bomb (64 MB of zeros)", lambda: _fetch(f"{base}/gz"))
    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    main()
