"""Format loaders: turn the bytes of one file into a title and its sections, in document order.

Bad input of any kind ends in an ``IngestError`` with a one-line reason, never in a library's traceback.
"""

from __future__ import annotations

import codecs
import io
import logging
import re
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import docx
from bs4 import BeautifulSoup, NavigableString, PageElement, Tag
from bs4.element import PreformattedString
from docx.table import Table, _Row
from docx.text.paragraph import Paragraph
from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError

from ingestion.errors import IngestError


@dataclass(frozen=True)
class Section:
    """A run of text in one place of a document: one PDF page, or the body under one heading path."""

    text: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class LoadedDocument:
    """A file's title, its non-empty sections in document order, and its format."""

    title: str
    sections: list[Section]
    metadata: dict[str, Any]


_FORMATS = {
    ".pdf": "pdf",
    ".html": "html",
    ".htm": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
    ".rst": "text",
    ".docx": "docx",
}
_LABELS = {"pdf": "PDF", "html": "HTML", "markdown": "Markdown", "text": "text", "docx": "DOCX"}
SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(_FORMATS)

_MB = 1024 * 1024
MAX_DOCX_EXPANDED_BYTES = 200 * _MB
MAX_DOCX_EXPANSION_RATIO = 100
MAX_TEXT_TITLE_CHARS = 80
MAX_PDF_PAGES = 5_000
MAX_PDF_PAGE_CHARS = 100_000  # a dense page holds about 5,000
MAX_PDF_CHARS = 5_000_000
MAX_PDF_SECONDS = 60.0

# (title or None for "use the file stem", sections, extra document metadata)
_Parsed = tuple[str | None, list[Section], dict[str, Any]]


def load_file(path: Path, max_bytes: int) -> LoadedDocument:
    """Load one file; its type and size are checked before a byte of it is read."""
    return load_bytes(read_file(path, max_bytes), path.name)


def read_file(path: Path, max_bytes: int) -> bytes:
    """The bytes of a file of a supported type, at most `max_bytes` (type and size checked before reading)."""
    _format_of(path.name)
    try:
        check_size(path.stat().st_size, max_bytes)
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as err:
        raise IngestError(f"cannot read the file: {err.strerror or err}") from None
    check_size(len(data), max_bytes)  # it grew after the stat
    return data


def check_size(size: int, max_bytes: int) -> None:
    """The one size check of files and uploads: IngestError when `size` is over `max_bytes`."""
    if size > max_bytes:
        raise IngestError(f"file is {_megabytes(size)} ({size:,} bytes), over the {_megabytes(max_bytes)} limit")


def load_bytes(data: bytes, filename: str) -> LoadedDocument:
    """Parse ``data`` as the format that ``filename``'s extension names."""
    fmt = _format_of(filename)
    if not data:
        raise IngestError("empty file (0 bytes)")
    try:
        title, sections, extra = _LOADERS[fmt](data)
    except IngestError:
        raise
    except RecursionError:
        raise IngestError(f"the {_LABELS[fmt]} is nested too deeply to read") from None
    except Exception as err:  # a parser's own complaint about bad input: report it, never a traceback
        raise IngestError(f"corrupt or unreadable {_LABELS[fmt]}: {_reason(err)}") from None
    return _document(title, sections, {"format": fmt, **extra}, Path(filename).stem)


def _format_of(filename: str) -> str:
    suffix = Path(filename).suffix.lower()
    if suffix not in _FORMATS:
        what = f"'{suffix}'" if suffix else "without an extension"
        supported = ", ".join(sorted(SUPPORTED_EXTENSIONS))
        raise IngestError(f"unsupported file type {what} (supported: {supported})")
    return _FORMATS[suffix]


def make_document(title: str | None, sections: list[Section], metadata: dict[str, Any], fallback_title: str
                  ) -> LoadedDocument:
    """A document from sections another reader made (a LangChain loader), cleaned as a loaded file's are;
    raises IngestError when no text is left."""
    return _document(title, sections, metadata, fallback_title)


def _document(title: str | None, sections: list[Section], metadata: dict[str, Any], stem: str) -> LoadedDocument:
    cleaned = [Section(_clean(section.text).strip(), section.metadata) for section in sections]
    kept = [section for section in cleaned if section.text]
    if not kept:
        raise IngestError("no text could be extracted")
    return LoadedDocument(title=_squash(_clean(title or "")) or stem, sections=kept, metadata=metadata)


# --- shared helpers ---------------------------------------------------------------------------------

_CONTROL_CHARS = {code: None for code in range(32) if chr(code) not in "\t\n"} | {0x0B: " ", 0x0C: " ", 0x7F: None}


def _clean(text: str) -> str:
    """Unify newlines and drop control characters (Postgres text cannot hold NUL)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").translate(_CONTROL_CHARS)


def _squash(text: str) -> str:
    return " ".join(text.split())


def _reason(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0][:200] if lines else type(err).__name__


def _megabytes(size: int) -> str:
    return f"{size / _MB:.1f} MB"


def _decode_text(data: bytes, codec: str = "utf-8") -> str:
    """Strict decoding: a BOM wins (UTF-8/UTF-16), else ``codec``; NUL bytes mean binary data."""
    for bom, bom_codec in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if data.startswith(bom):
            return _strict_decode(data, len(bom), bom_codec)
    if b"\x00" in data:
        raise IngestError("binary data, not text (it contains NUL bytes)")
    return _strict_decode(data, 0, codec)


log = logging.getLogger(__name__)


# A long, otherwise valid text may carry a stray broken byte (a changelog with one mis-encoded name): up to one
# bad sequence per 10,000 bytes is replaced with U+FFFD and logged. More than that means another encoding.
_TOLERATED_BAD_BYTES_PER = 10_000


def _strict_decode(data: bytes, start: int, codec: str) -> str:
    body = data[start:]
    try:
        text = body.decode(codec)
    except UnicodeDecodeError as err:
        name = "UTF-8" if codec == "utf-8" else codec
        text = body.decode(codec, errors="replace")
        already = body.count("\ufffd".encode()) if codec == "utf-8" else 0  # U+FFFD present in the file itself
        bad = text.count("\ufffd") - already
        if bad > len(body) // _TOLERATED_BAD_BYTES_PER:
            raise IngestError(f"invalid {name} at byte {start + err.start}") from None
        log.warning("%d invalid %s sequence(s) replaced (first at byte %d)", bad, name, start + err.start)
    return text.replace("\r\n", "\n").replace("\r", "\n")


class _Outline:
    """Collects the sections of a document walked in order, each under the heading path open at that point."""

    def __init__(self) -> None:
        self.headings: list[tuple[int, str]] = []  # every heading met, as (level, text)
        self._sections: list[Section] = []
        self._path: list[tuple[int, str]] = []
        self._lines: list[str] = []

    def heading(self, level: int, text: str) -> None:
        """Close the current section; a non-empty ``text`` opens ``level`` in the heading path."""
        self._flush()
        if not text:
            return
        self.headings.append((level, text))
        while self._path and self._path[-1][0] >= level:
            self._path.pop()
        self._path.append((level, text))

    def add(self, line: str) -> None:
        """Append a line (an empty one is a paragraph break) to the current section."""
        self._lines.append(line)

    def sections(self) -> list[Section]:
        self._flush()
        return self._sections

    def _flush(self) -> None:
        text = re.sub(r"\n{3,}", "\n\n", "\n".join(self._lines)).strip()
        if text:
            heading = " > ".join(name for _, name in self._path)
            self._sections.append(Section(text, {"heading": heading} if heading else {}))
        self._lines.clear()


# --- PDF --------------------------------------------------------------------------------------------


def _load_pdf(data: bytes) -> _Parsed:
    reader = PdfReader(io.BytesIO(data))
    _unlock(reader)
    if len(reader.pages) > MAX_PDF_PAGES:
        raise IngestError(f"PDF has {len(reader.pages):,} pages, over the {MAX_PDF_PAGES:,} that are read")
    budget = _PdfBudget()
    sections = []
    for number, page in enumerate(reader.pages, start=1):
        text = _tidy_pdf_text(_page_text(page, number, budget))
        if text:
            sections.append(Section(text, {"page": number}))
    return _pdf_title(reader), sections, {"pages": len(reader.pages)}


class _PdfBudget:
    """Characters per page and in all, and seconds in all, checked while pypdf extracts (its visitor hooks), so
    that one page cannot exceed them either: a small PDF can repeat one large content stream on every page."""

    def __init__(self) -> None:
        self.total = 0
        self.page_chars = 0
        self.page = 0
        self.ends = time.monotonic() + MAX_PDF_SECONDS

    def start(self, number: int) -> None:
        self.page, self.page_chars = number, 0

    def text(self, text: str, *_state: Any) -> None:
        self.page_chars += len(text)
        self.total += len(text)
        if self.page_chars > MAX_PDF_PAGE_CHARS:
            raise IngestError(f"PDF page {self.page} has over {MAX_PDF_PAGE_CHARS:,} characters of text, more than "
                              "a page holds (a repeated or oversized content stream): not ingested")
        if self.total > MAX_PDF_CHARS:
            raise IngestError(f"PDF has over {MAX_PDF_CHARS:,} characters of text (at page {self.page}): not ingested")

    def operator(self, *_operands: Any) -> None:
        if time.monotonic() > self.ends:
            raise IngestError(f"PDF took over {MAX_PDF_SECONDS:.0f} s to read (at page {self.page}): not ingested")


def _unlock(reader: PdfReader) -> None:
    """Open an encrypted PDF with the empty password (many are only 'protected' that way), else refuse it."""
    if not reader.is_encrypted:
        return
    try:
        opened = reader.decrypt("") != PasswordType.NOT_DECRYPTED
    except DependencyError as err:
        raise IngestError(f"encrypted PDF that this install cannot open: {_reason(err)}") from None
    if not opened:
        raise IngestError("PDF is password-protected (it does not open without a password)")


def _page_text(page: Any, number: int, budget: _PdfBudget) -> str:
    budget.start(number)
    try:
        return page.extract_text(visitor_text=budget.text, visitor_operand_before=budget.operator)
    except IngestError:
        raise
    except Exception as err:  # pypdf raises many types on a damaged page
        raise IngestError(f"corrupt PDF: cannot read page {number}: {_reason(err)}") from None


def _pdf_title(reader: PdfReader) -> str | None:
    try:
        info = reader.metadata
        return str(info.title) if info is not None and info.title else None
    except Exception:  # a broken info dictionary must not cost the pages: fall back to the stem
        return None


def _tidy_pdf_text(text: str) -> str:
    """Join words hyphenated across lines, collapse runs of spaces, keep paragraph breaks."""
    text = re.sub(r"([^\W\d_])-\n[ \t]*([^\W\d_])", r"\1\2", text.replace("\r\n", "\n"))
    text = re.sub(r"[^\S\n]+", " ", text)
    text = re.sub(r" ?\n ?", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# --- HTML -------------------------------------------------------------------------------------------

_DROPPED_TAGS = frozenset(
    {"script", "style", "noscript", "nav", "header", "footer", "aside", "form", "svg", "template", "iframe"}
    | {"head", "title"}  # for fragments without <body>
)
_DROPPED_ROLES = frozenset({"navigation", "search", "banner", "contentinfo", "complementary"})
# Class or id names that mark navigation on pages without semantic tags, and Sphinx's "¶" permalinks.
_DROPPED_NAMES = frozenset(
    {"nav", "navbar", "menu", "mainmenu", "submenu", "sidebar", "breadcrumb", "breadcrumbs", "headerlink"}
)
_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_PARAGRAPH_TAGS = frozenset(
    {"p", "div", "section", "article", "main", "header", "blockquote", "ul", "ol", "dl", "table"}
    | {"figure", "details", "address", "hr", "body"}
)
_LINE_TAGS = frozenset({"li", "dt", "dd", "tr", "td", "th", "caption", "figcaption", "summary", "br"})
# A table row whose cells hold any of these is page layout: walk it as blocks, not as one "a | b" line.
_STRUCTURE_IN_CELL = ["table", "pre", *_HEADINGS]
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-z0-9_.:-]+)""", re.IGNORECASE)


class _Break(Enum):
    LINE = "line"
    PARAGRAPH = "paragraph"


def _load_html(data: bytes) -> _Parsed:
    soup = BeautifulSoup(_decode_text(data, _declared_charset(data)), "html.parser")
    root = _content_root(soup)
    # Inside <main>/<article> a <header> holds the article's own title, not the site's banner.
    dropped = _DROPPED_TAGS if root is soup.body or root is soup else _DROPPED_TAGS - {"header"}
    outline = _Outline()
    _HtmlWalker(outline, dropped).walk(root)
    title_tag = soup.find("title")
    title = _squash(title_tag.get_text()) if title_tag else ""
    first_h1 = next((text for level, text in outline.headings if level == 1), None)
    canonical = soup.find("link", rel="canonical", href=True)  # a web page's own URL, its source when crawled
    extra = {"canonical": canonical["href"].strip()} if isinstance(canonical, Tag) else {}
    return title or first_h1, outline.sections(), extra


def _declared_charset(data: bytes) -> str:
    """The codec a ``<meta charset>`` declares, when Python knows it; UTF-8 otherwise."""
    match = _META_CHARSET.search(data[:4096])
    if match is None:
        return "utf-8"
    try:
        codec = codecs.lookup(match[1].decode("ascii")).name
    except LookupError:
        return "utf-8"
    # As browsers do: a page readable as ASCII bytes is not UTF-16, whatever it says.
    return "utf-8" if codec in ("ascii", "utf-8") or codec.startswith("utf-16") else codec


def _content_root(soup: BeautifulSoup) -> Tag | BeautifulSoup:
    main = soup.find("main") or soup.find(attrs={"role": "main"})
    if isinstance(main, Tag):
        return main
    articles = soup.find_all("article", limit=2)
    if len(articles) == 1:
        return articles[0]
    return soup.body or soup


def _tags_holding(root: Tag, names: frozenset[str]) -> set[int]:
    """ids of the tags with one of `names` among their descendants, in one pass (a `find()` per row would cost
    O(depth) each, hours on a hostile page of nested tables)."""
    tags: list[Tag] = []
    stack: list[PageElement] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, Tag):
            tags.append(node)
            stack.extend(node.contents)
    holding: set[int] = set()
    for tag in reversed(tags):  # every tag after all of its descendants
        if (tag.name in names or id(tag) in holding) and tag.parent is not None:
            holding.add(id(tag.parent))
    return holding


class _HtmlWalker:
    """Walks the content in document order with an explicit stack (deep nesting cannot overflow)."""

    def __init__(self, outline: _Outline, dropped_tags: frozenset[str]) -> None:
        self._outline = outline
        self._dropped_tags = dropped_tags
        self._words: list[str] = []

    def walk(self, root: Tag) -> None:
        self._holding_structure = _tags_holding(root, frozenset(_STRUCTURE_IN_CELL))
        stack: list[PageElement | _Break] = [root]
        while stack:
            node = stack.pop()
            if isinstance(node, _Break):
                self._break(node)
            elif isinstance(node, NavigableString):
                if not isinstance(node, PreformattedString):  # comments, doctype, CDATA
                    self._words.append(node)
            elif isinstance(node, Tag) and not self._is_dropped(node):
                stack.extend(self._open(node))
        self._break(_Break.PARAGRAPH)

    def _open(self, tag: Tag) -> list[PageElement | _Break]:
        """Handle a tag's start; return what to push: its end marker, then its children reversed."""
        if tag.name in _HEADINGS:
            self._break(_Break.PARAGRAPH)
            self._outline.heading(_HEADINGS[tag.name], _squash(self._text(tag)))
            return []
        if tag.name == "pre":
            self._break(_Break.PARAGRAPH)
            for line in self._text(tag).strip("\n").splitlines():
                self._outline.add(line.rstrip())
            self._outline.add("")
            return []
        if tag.name == "tr" and id(tag) not in self._holding_structure:  # a data row, not page layout
            self._break(_Break.LINE)
            cells = [_squash(self._text(cell)) for cell in tag.find_all(["td", "th"], recursive=False)]
            if any(cells):
                self._outline.add(" | ".join(cells))
            return []
        kind = _Break.PARAGRAPH if tag.name in _PARAGRAPH_TAGS else _Break.LINE if tag.name in _LINE_TAGS else None
        if kind is None:
            return list(reversed(tag.contents))
        self._break(kind)
        return [kind, *reversed(tag.contents)]

    def _break(self, kind: _Break) -> None:
        line = _squash("".join(self._words))
        self._words.clear()
        if line:
            self._outline.add(line)
        if kind is _Break.PARAGRAPH:
            self._outline.add("")

    def _text(self, tag: Tag) -> str:
        return "".join(self._strings(tag))

    def _strings(self, tag: Tag) -> Iterator[str]:
        stack: list[PageElement] = [tag]
        while stack:
            node = stack.pop()
            if isinstance(node, NavigableString):
                if not isinstance(node, PreformattedString):
                    yield node
            elif isinstance(node, Tag) and not self._is_dropped(node):
                stack.extend(reversed(node.contents))

    def _is_dropped(self, tag: Tag) -> bool:
        if tag.name in self._dropped_tags or tag.get("role") in _DROPPED_ROLES:
            return True
        names = tag.get_attribute_list("class") + tag.get_attribute_list("id")
        return not _DROPPED_NAMES.isdisjoint(names)


# --- Markdown ---------------------------------------------------------------------------------------

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_FRONT_MATTER_TITLE = re.compile(r"^title:(.*)$", re.MULTILINE)
_ATX_OPEN = re.compile(r" {0,3}(#{1,6})(?=[ \t]|$)")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")


def _load_markdown(data: bytes) -> _Parsed:
    text = _decode_text(data)
    front_title = None
    front_matter = _FRONT_MATTER.match(text)
    if front_matter:
        text = text[front_matter.end() :]
        found = _FRONT_MATTER_TITLE.search(front_matter[1])
        front_title = found[1].strip(" \t").strip("\"'") if found else None
    outline = _markdown_outline(text)
    first_heading = outline.headings[0][1] if outline.headings else None
    return front_title or first_heading, outline.sections(), {}


def _markdown_outline(text: str) -> _Outline:
    """Split on ATX headings outside fenced code; whole-line HTML comments are left out."""
    outline = _Outline()
    fence: str | None = None
    in_comment = False
    for line in text.split("\n"):
        marker = _fence_marker(line)
        if fence is not None:
            if marker and marker[0] == fence[0] and len(marker) >= len(fence) and line.strip() == marker:
                fence = None
        elif in_comment or line.lstrip().startswith("<!--"):
            in_comment = "-->" not in line
            continue
        elif marker:
            fence = marker
        elif heading := _atx_heading(line):
            outline.heading(heading[0], heading[1].strip())
            continue
        outline.add(line)
    return outline


def _atx_heading(line: str) -> tuple[int, str] | None:
    """(level, text) when `line` is an ATX heading (`## Text ##`), else None. Done without a regex over the
    text: backtracking over a long run of blanks was quadratic (a 100 KB line took minutes)."""
    opening = _ATX_OPEN.match(line)
    if opening is None:
        return None
    text = line[opening.end() :].strip(" \t")
    unclosed = text.rstrip("#")
    if unclosed != text and (not unclosed or unclosed[-1] in " \t"):  # a closing run of '#' after a blank
        text = unclosed.rstrip(" \t")
    return len(opening[1]), text


def _fence_marker(line: str) -> str | None:
    match = _FENCE.match(line)
    return match[1] if match else None


# --- plain text -------------------------------------------------------------------------------------


def _load_text(data: bytes) -> _Parsed:
    text = _decode_text(data)
    # The first line with a letter or digit (an reStructuredText title's over-line has neither).
    first = next((line.strip() for line in text.split("\n") if any(c.isalnum() for c in line)), "")
    title = first if len(first) <= MAX_TEXT_TITLE_CHARS else None
    return title, [Section(text, {})], {}


# --- DOCX -------------------------------------------------------------------------------------------


def _load_docx(data: bytes) -> _Parsed:
    _check_docx_archive(data)
    document = docx.Document(io.BytesIO(data))
    outline = _Outline()
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            for row in block.rows:
                outline.add(_row_text(row))
            outline.add("")
        elif (level := _heading_level(block)) is not None:
            outline.heading(level, _squash(block.text))
        else:
            outline.add(block.text)
            outline.add("")
    styled_title = next((text for level, text in outline.headings if level == 0), None)
    first_heading = outline.headings[0][1] if outline.headings else None
    return document.core_properties.title or styled_title or first_heading, outline.sections(), {}


def _check_docx_archive(data: bytes) -> None:
    """Refuse what is not a DOCX zip, and zip bombs (judged by the entries' declared sizes, before parsing)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        raise IngestError("corrupt DOCX: not a zip archive") from None
    if "word/document.xml" not in {entry.filename for entry in entries}:
        raise IngestError("corrupt DOCX: the archive has no word/document.xml")
    expanded = sum(entry.file_size for entry in entries)
    if expanded > MAX_DOCX_EXPANDED_BYTES or expanded > MAX_DOCX_EXPANSION_RATIO * len(data):
        raise IngestError(
            f"DOCX would expand from {_megabytes(len(data))} to {_megabytes(expanded)} "
            f"(limits: {MAX_DOCX_EXPANSION_RATIO}× and {_megabytes(MAX_DOCX_EXPANDED_BYTES)}): likely a zip bomb"
        )


def _heading_level(paragraph: Paragraph) -> int | None:
    """0 for the Title style, n for "Heading n" (1 without a number), None for body text."""
    name = paragraph.style.name if paragraph.style is not None else ""
    if name == "Title":
        return 0
    if not name.startswith("Heading"):
        return None
    number = name.removeprefix("Heading").strip()
    return int(number) if number.isdigit() else 1


def _row_text(row: _Row) -> str:
    """A table row as one line, cells joined by " | " (a merged cell counted once)."""
    cells = row.cells
    unique = [cell for i, cell in enumerate(cells) if i == 0 or cell._tc is not cells[i - 1]._tc]
    texts = [_squash(cell.text) for cell in unique]
    return " | ".join(texts) if any(texts) else ""


_LOADERS: dict[str, Callable[[bytes], _Parsed]] = {
    "pdf": _load_pdf,
    "html": _load_html,
    "markdown": _load_markdown,
    "text": _load_text,
    "docx": _load_docx,
}
