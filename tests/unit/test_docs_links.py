"""Every relative link and image in README.md and docs/ resolves: the file exists, and a `#fragment` names one of
its headings (GitHub's anchors). Links are read by markdown-it-py, so code spans and blocks are never links."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
PARSER = MarkdownIt("commonmark").enable("table")


def flatten(tokens: list[Token]) -> list[Token]:
    return [t for token in tokens for t in (token, *flatten(token.children or []))]


@cache
def parsed(path: Path) -> list[Token]:
    return flatten(PARSER.parse(path.read_text(encoding="utf-8")))


def targets(path: Path) -> list[str]:
    found = []
    for token in parsed(path):
        if token.type == "link_open":
            found.append(str(token.attrGet("href")))
        elif token.type == "image":
            found.append(str(token.attrGet("src")))
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@cache
def anchors(path: Path) -> set[str]:
    tokens = parsed(path)
    headings = [tokens[i + 1].content for i, token in enumerate(tokens) if token.type == "heading_open"]
    found: set[str] = set()
    for heading in headings:
        base, n = slug(heading), 0
        while (anchor := base if n == 0 else f"{base}-{n}") in found:
            n += 1
        found.add(anchor)
    return found


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in targets(page):
        parts = urlsplit(target)
        if parts.scheme or parts.netloc:
            continue  # an external link: not checked offline
        linked = (page.parent / unquote(parts.path)).resolve() if parts.path else page
        name = linked.relative_to(REPO).as_posix() if linked.is_relative_to(REPO) else str(linked)
        if not linked.exists():
            broken.append(f"{target}: no file {name}")
        elif parts.fragment and linked.suffix == ".md" and parts.fragment not in anchors(linked):
            broken.append(f"{target}: no heading '#{parts.fragment}' in {name}")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_relative_link_resolves(page):
    broken = broken_links(page)
    assert not broken, f"{page.relative_to(REPO)}: " + "; ".join(broken)


def test_the_check_sees_links_anchors_and_missing_files(tmp_path, monkeypatch):
    page = tmp_path / "page.md"
    page.write_text("# A Title: here\n[ok](#a-title-here) [bad](#nope) `[code](missing.md)` [gone](missing.md)\n"
                    "![img](pic.png) [web](https://example.com/x.md)\n", encoding="utf-8")
    monkeypatch.setattr("tests.unit.test_docs_links.REPO", tmp_path)
    assert broken_links(page) == ["#nope: no heading '#nope' in page.md", "missing.md: no file missing.md",
                                  "pic.png: no file pic.png"]


def test_every_docs_page_is_linked_from_the_readme_or_the_docs_index():
    linked = {(REPO / urlsplit(t).path).resolve() for t in targets(REPO / "README.md") if urlsplit(t).path}
    linked |= {(REPO / "docs" / urlsplit(t).path).resolve()
               for t in targets(REPO / "docs" / "README.md") if urlsplit(t).path}
    orphans = [p.relative_to(REPO).as_posix() for p in PAGES[1:] if p.resolve() not in linked and p.name != "README.md"]
    assert not orphans, f"docs pages linked from neither README.md nor docs/README.md: {', '.join(orphans)}"
