"""Sitemaps (sitemaps.org): url sets and index sitemaps, read incrementally by lxml's `iterparse` (no DTD, no
entities, no network) within a budget: at most `MAX_CHILD_SITEMAPS` child sitemaps, `MAX_SITEMAP_ENTRIES` entries
in one sitemap and `MAX_LISTED` in all, nested at most `SITEMAP_DEPTH` deep, same-site only; every child sitemap is
fetched by the safe fetcher. A listing cut short by the budget is not complete (nothing is pruned for its absence)."""

from __future__ import annotations

import io
import logging
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from lxml import etree

from ingestion.web_fetch import Fetched, Fetcher, FetchError, normalize_url, same_site

log = logging.getLogger(__name__)

SITEMAP_DEPTH = 3
MAX_CHILD_SITEMAPS = 50
MAX_SITEMAP_ENTRIES = 50_000  # the protocol's own limit for one file
MAX_LISTED = 100_000


def is_sitemap(fetched: Fetched) -> bool:
    """An XML response whose root is a <urlset> or a <sitemapindex>."""
    body = fetched.body or b""
    if "xml" not in fetched.content_type and not body.lstrip().startswith(b"<?xml"):
        return False
    head = body[:4096]
    return b"<urlset" in head or b"<sitemapindex" in head


@dataclass
class Listing:
    """What the sitemaps list: page URLs in order, the child sitemaps that failed, and whether all was read."""

    pages: list[str] = field(default_factory=list)
    failures: list[tuple[str, int | None, str]] = field(default_factory=list)
    truncated: bool = False


def read_sitemaps(first: Fetched, fetcher: Fetcher) -> Listing:
    """The pages that `first` (a sitemap) and its same-site child sitemaps list, within the budget."""
    listing = Listing()
    queue: deque[tuple[str, bytes, int]] = deque([(first.url, first.body or b"", 0)])
    children = 0
    while queue:
        url, body, depth = queue.popleft()
        for kind, loc in _locations(url, body, listing):
            if kind == "url":
                listing.pages.append(loc)
                if len(listing.pages) >= MAX_LISTED:
                    return _cut(listing, f"{MAX_LISTED} pages listed")
            elif depth < SITEMAP_DEPTH:
                if children >= MAX_CHILD_SITEMAPS:
                    return _cut(listing, f"{MAX_CHILD_SITEMAPS} child sitemaps read")
                children += 1
                child = _child(loc, first.url, fetcher, listing)
                if child is not None:
                    queue.append((child.url, child.body or b"", depth + 1))
    return listing


def _cut(listing: Listing, why: str) -> Listing:
    log.warning("the sitemap was read only in part (%s): pages not listed are not pruned", why)
    listing.truncated = True
    return listing


def _child(loc: str, site: str, fetcher: Fetcher, listing: Listing) -> Fetched | None:
    """A child sitemap fetched, or None with its failure recorded."""
    try:
        target = normalize_url(loc)
        if not same_site(target, site):
            raise FetchError(f"a sitemap on another site ({target})")
        fetched = fetcher.get(target)
        if not is_sitemap(fetched):
            raise FetchError("not a sitemap (no <urlset> or <sitemapindex>)")
        return fetched
    except FetchError as exc:
        listing.failures.append((loc, exc.status, str(exc)))
        return None


def _locations(url: str, body: bytes, listing: Listing) -> Iterator[tuple[str, str]]:
    """("url" | "sitemap", location) for each entry of one sitemap, at most `MAX_SITEMAP_ENTRIES`; each entry is
    dropped from the tree once read. Markup errors are recovered from, as a browser would."""
    parser = etree.iterparse(io.BytesIO(body), events=("end",), tag=("{*}url", "{*}sitemap"), recover=True,
                             resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    count = 0
    try:
        for _event, element in parser:
            loc = (element.findtext("{*}loc") or "").strip()
            kind = etree.QName(element).localname
            element.clear()
            while element.getprevious() is not None:
                del element.getparent()[0]
            if not loc:
                continue
            count += 1
            if count > MAX_SITEMAP_ENTRIES:
                _cut(listing, f"over {MAX_SITEMAP_ENTRIES} entries in {url}")
                return
            yield kind, loc
    except etree.LxmlError as exc:
        listing.failures.append((url, None, f"sitemap could not be read: {exc}"))
