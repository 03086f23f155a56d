"""Which pages of a website a sync visits, each fetched and parsed: robots.txt (the standard library's parser),
a sitemap (parsed by langchain's `SitemapLoader`, index sitemaps included) or a crawl from a start page within its
host and path prefix (links found by langchain's `extract_sub_links`, as its `RecursiveUrlLoader` finds them).
Pages go through the same HTML loader as files."""

from __future__ import annotations

import fnmatch
import logging
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

from langchain_core.utils.html import find_all_links

from ingestion.errors import IngestError
from ingestion.loaders import LoadedDocument, load_bytes
from ingestion.web_fetch import ROBOTS_AGENT, Fetched, Fetcher, FetchError, normalize_url, same_site
from ingestion.web_sitemap import is_sitemap, read_sitemaps

log = logging.getLogger(__name__)

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
MAX_PARSED_HTML_BYTES = 2 * 1024 * 1024  # parsing costs about 1 s of CPU and 55 MB per MB (docs/security-web-ingest.md)


@dataclass(frozen=True)
class CrawlOptions:
    """What a sync visits and how fast; stored with the source, so that a re-sync repeats it."""

    max_pages: int = 500
    depth: int = 3
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    delay: float = 0.5
    concurrency: int = 4

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CrawlOptions:
        known = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass(frozen=True)
class Known:
    """What the last sync kept of a page: its validators, its in-scope links and the document it made."""

    etag: str | None
    last_modified: str | None
    links: tuple[str, ...]
    document_source: str | None


@dataclass(frozen=True)
class PageResult:
    """One page visited. `status`: 200 (parsed: `document` when included), 304 (as `known`), or failed (`error`,
    with the HTTP status when the server answered)."""

    url: str
    status: int | None
    links: tuple[str, ...] = ()
    document: LoadedDocument | None = None
    source: str | None = None  # the canonical URL of `document`
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None


@dataclass
class Visit:
    """The outcome of walking a site, known once `SiteCrawl.pages()` is exhausted."""

    kind: Literal["sitemap", "crawl"] | None = None
    listed: set[str] = field(default_factory=set)  # sitemap: every page it lists; crawl: every page reached
    complete: bool = False  # the listing was read whole / the crawl ran out of links before the page cap
    unvisited: int = 0  # pages left unvisited when the sync's deadline passed


class SiteCrawl:
    """Walks one site with `fetcher`; `known` holds the validators and links of the pages the last sync kept."""

    def __init__(self, start: str, options: CrawlOptions, fetcher: Fetcher, known: dict[str, Known]) -> None:
        self.start = start
        self.options = options
        self.fetcher = fetcher
        self.known = known
        self.prefix = start[: start.rindex("/") + 1]  # host and path prefix: the start URL's folder
        self.visit = Visit()
        self._robots: RobotFileParser | None = None

    def pages(self) -> Iterator[PageResult]:
        """Every page visited, as each is fetched and parsed (concurrently, at the polite pace)."""
        robots_error = self._read_robots()
        if robots_error:
            yield PageResult(self.start, None, error=robots_error)
            return
        if not self._allowed(self.start):
            yield PageResult(self.start, None, error="disallowed by the site's robots.txt")
            return
        try:
            first = self._get(self.start)
        except FetchError as exc:
            yield PageResult(self.start, exc.status, error=str(exc))
            return
        if first.body is not None and is_sitemap(first):
            yield from self._sitemap(first)
        else:
            self.visit.kind = "crawl"
            yield from self._crawl(self._page(self.start, first))

    # --- robots.txt -------------------------------------------------------------------------------

    def _read_robots(self) -> str | None:
        """Read robots.txt (RFC 9309): missing or 4xx → everything allowed; unreachable → an error, nothing read."""
        parts = urlsplit(self.start)
        robots = RobotFileParser(f"{parts.scheme}://{parts.netloc}/robots.txt")
        try:
            fetched = self.fetcher.get(robots.url)
        except FetchError as exc:
            if (exc.status is not None and exc.status < 500) or "off-site" in str(exc):
                robots.allow_all = True
                self._robots = robots
                return None
            return f"robots.txt could not be read ({exc}): the site is not crawled until it can"
        robots.parse((fetched.body or b"").decode("utf-8", "replace").splitlines())
        self._robots = robots
        delay = robots.crawl_delay(ROBOTS_AGENT)
        if delay and float(delay) > self.fetcher.pacer.delay:
            log.info("robots.txt asks for %s s between requests", delay)
            self.fetcher.pacer.delay = float(delay)
        return None

    def _allowed(self, url: str) -> bool:
        return self._robots is None or self._robots.can_fetch(ROBOTS_AGENT, url)

    # --- sitemap ----------------------------------------------------------------------------------

    def _sitemap(self, first: Fetched) -> Iterator[PageResult]:
        self.visit.kind = "sitemap"
        listing = read_sitemaps(first, self.fetcher)
        yield from (PageResult(url, status, error=error) for url, status, error in listing.failures)
        urls = [url for url in dict.fromkeys(filter(None, map(_normalized, listing.pages)))
                if self._in_scope(url) and self._selected(url) and self._included(url)]
        self.visit.listed = set(urls)
        self.visit.complete = not listing.failures and not listing.truncated
        if len(urls) > self.options.max_pages:
            log.warning("the sitemap lists %d pages: only the first %d are fetched (--max-pages)", len(urls),
                        self.options.max_pages)
        with ThreadPoolExecutor(self.options.concurrency, thread_name_prefix="fetch") as pool:
            yield from self._visit_all(pool, urls[: self.options.max_pages])

    # --- crawl ------------------------------------------------------------------------------------

    def _crawl(self, first: PageResult) -> Iterator[PageResult]:
        self.visit.listed = {self.start}
        yield first
        level, depth = self._next_level([first]), 1
        capped = False
        with ThreadPoolExecutor(self.options.concurrency, thread_name_prefix="fetch") as pool:
            while level and depth <= self.options.depth:
                if self._past_deadline():
                    self.visit.unvisited += len(level)
                    break
                room = self.options.max_pages - len(self.visit.listed)
                capped = len(level) > room
                level = level[:room]
                self.visit.listed.update(level)
                results = []
                for result in self._visit_all(pool, level):
                    results.append(result)
                    yield result
                level, depth = self._next_level(results), depth + 1
        self.visit.complete = not capped and not level and not self.visit.unvisited
        if capped:
            log.warning("the crawl stopped at %d pages (--max-pages)", self.options.max_pages)

    def _next_level(self, results: list[PageResult]) -> list[str]:
        links = dict.fromkeys(link for result in results for link in result.links)
        return [url for url in links if url not in self.visit.listed and self._selected(url)]

    # --- one page ---------------------------------------------------------------------------------

    def _visit_all(self, pool: ThreadPoolExecutor, urls: list[str]) -> Iterator[PageResult]:
        """Visit `urls` on `pool`, yielding each page as it is done (those left at the deadline are counted); pages
        not started are cancelled if the consumer stops early (an ingest that failed)."""
        pending = {pool.submit(self._visit, url) for url in urls}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for result in (future.result() for future in done):
                    if result is None:
                        self.visit.unvisited += 1
                    else:
                        yield result
        finally:
            for future in pending:
                future.cancel()

    def _past_deadline(self) -> bool:
        return self.fetcher.deadline is not None and time.monotonic() >= self.fetcher.deadline

    def _visit(self, url: str) -> PageResult | None:
        """The page, or None when the sync's deadline passed before it was started (left for the next sync)."""
        if self._past_deadline():
            return None
        try:
            return self._page(url, self._get(url))
        except FetchError as exc:
            return PageResult(url, exc.status, error=str(exc))

    def _get(self, url: str) -> Fetched:
        known = self.known.get(url)
        if known is None:
            return self.fetcher.get(url)
        return self.fetcher.get(url, etag=known.etag, last_modified=known.last_modified)

    def _page(self, url: str, fetched: Fetched) -> PageResult:
        """Parse a fetched page: its in-scope links, and its document when the include patterns take it."""
        validators = {"etag": fetched.etag, "last_modified": fetched.last_modified}
        if fetched.body is None:  # 304: as the last sync kept it
            known = self.known[url]
            return PageResult(url, 304, known.links, source=known.document_source, **validators)
        if not _is_html(fetched):
            return PageResult(url, 200, error=f"not an HTML page (content type {fetched.content_type or 'unknown'})")
        if len(fetched.body) > MAX_PARSED_HTML_BYTES:
            return PageResult(url, 200, error=f"the page has {len(fetched.body) / 1024 / 1024:.1f} MB of HTML, over "
                              f"the {MAX_PARSED_HTML_BYTES // 1024 // 1024} MB that a page may have to be parsed")
        links = self._links(fetched) if self.visit.kind == "crawl" else ()
        if not self._included(url):
            return PageResult(url, 200, links, **validators)
        try:
            document = load_bytes(fetched.body, "page.html")
        except IngestError as exc:
            return PageResult(url, 200, links, error=str(exc))
        canonical = document.metadata.get("canonical")
        source = normalize_url(urljoin(fetched.url, canonical)) if canonical else fetched.url
        if not same_site(source, self.start):
            source = fetched.url
        return PageResult(url, 200, links, document, source, **validators)

    def _links(self, fetched: Fetched) -> tuple[str, ...]:
        """The page's in-scope links (found as langchain's `RecursiveUrlLoader` finds them); a link with a scheme
        other than http(s) (ftp:, mailto:, javascript:) is skipped, never resolved as a path of this site."""
        text = (fetched.body or b"").decode("utf-8", "replace")
        links = (_absolute(fetched.url, link) for link in find_all_links(text))
        return tuple(sorted(url for url in set(filter(None, links)) if self._in_scope(url)))

    # --- which pages ------------------------------------------------------------------------------

    def _in_scope(self, url: str) -> bool:
        return url.startswith(self.prefix) and same_site(url, self.start)

    def _selected(self, url: str) -> bool:
        """Not excluded, and allowed by robots.txt: a page that may be fetched."""
        return not _matches(url, self.options.exclude) and self._allowed(url)

    def _included(self, url: str) -> bool:
        return not self.options.include or _matches(url, self.options.include)


def _normalized(url: str) -> str | None:
    """A link or sitemap location normalized; None when it is not a valid URL (it is skipped)."""
    try:
        return normalize_url(url) if url else None
    except FetchError:
        return None


def _absolute(page: str, link: str) -> str | None:
    """`link` resolved against `page` and normalized; None for another scheme or what does not parse."""
    try:
        scheme = urlsplit(link.strip()).scheme.lower()
    except ValueError:
        return None
    if scheme not in ("", "http", "https"):
        return None
    return _normalized(urljoin(page, link.strip()))


def _matches(url: str, patterns: tuple[str, ...]) -> bool:
    """Glob patterns, each matched against the whole URL and against its path (e.g. '/help/*', '*.html')."""
    path = urlsplit(url).path
    return any(fnmatch.fnmatchcase(url, p) or fnmatch.fnmatchcase(path, p) for p in patterns)


def _is_html(fetched: Fetched) -> bool:
    if fetched.content_type:
        return fetched.content_type in HTML_TYPES
    return (fetched.body or b"").lstrip()[:1] == b"<"
