"""Sitemaps (sitemaps.org), parsed by langchain's `SitemapLoader`: url sets and index sitemaps, same-site locations
only, nested at most `SITEMAP_DEPTH` deep; every child sitemap is fetched by the safe fetcher."""

from __future__ import annotations

import os
from typing import Any

from bs4 import BeautifulSoup

from ingestion.web_fetch import USER_AGENT, Fetched, Fetcher, FetchError, normalize_url, same_site

# langchain_community reads its default User-Agent at import (and warns when unset): it names ragbot too.
os.environ.setdefault("USER_AGENT", USER_AGENT)

from langchain_community.document_loaders.sitemap import SitemapLoader

SITEMAP_DEPTH = 3


def is_sitemap(fetched: Fetched) -> bool:
    """An XML response whose root is a <urlset> or a <sitemapindex>."""
    body = fetched.body or b""
    if "xml" not in fetched.content_type and not body.lstrip().startswith(b"<?xml"):
        return False
    head = body[:4096]
    return b"<urlset" in head or b"<sitemapindex" in head


class SitemapParser(SitemapLoader):
    """`SitemapLoader`'s parsing (url sets, index sitemaps, same-site locations only, a depth cap) with its child
    sitemaps fetched by the safe fetcher; a child that fails is recorded and read as empty."""

    def __init__(self, url: str, fetcher: Fetcher) -> None:
        super().__init__(url, max_depth=SITEMAP_DEPTH, restrict_to_same_domain=True,
                         header_template={"User-Agent": USER_AGENT}, show_progress=False)
        self._fetcher = fetcher
        self.failures: list[tuple[str, int | None, str]] = []

    def scrape_all(self, urls: list[str], parser: str | None = None) -> list[Any]:
        soups = []
        for url in urls:
            target = normalize_url(url)
            try:
                if not same_site(target, self.web_path):
                    raise FetchError(f"a sitemap on another site ({target})")
                fetched = self._fetcher.get(target)
                if not is_sitemap(fetched):
                    raise FetchError("not a sitemap (no <urlset> or <sitemapindex>)")
                soups.append(BeautifulSoup(fetched.body, "xml"))
            except FetchError as exc:
                self.failures.append((target, exc.status, str(exc)))
                soups.append(BeautifulSoup("", "xml"))
        return soups
