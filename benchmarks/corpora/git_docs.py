"""Build a BEIR-layout retrieval corpus and QA set from Git's AsciiDoc documentation (Debian `git-doc`).

    python -m benchmarks.corpora.git_docs --source /usr/share/doc/git/html --out DIR

Every top-level `*.txt` page that has a document title (man pages such as `git-add(1)` and guides such as
`= Git User Manual`) is split on its level-1 and level-2 section headings (`Title\\n-----` / `~~~~~` or
`== Title` / `=== Title`); deeper headings stay inside their parent. Title-less fragments (`diff-options.txt`,
`config.txt`, ...) are only `include::`d by pages and are left out, as are the `include::` lines themselves.
Queries are written by Git's authors, not by us: (a) each page's NAME line (`git-add - Add file contents to
the index`), gold = that page's DESCRIPTION; (b) each `gitfaq` question, gold = its answer, which becomes
its own document with the question line removed. NAME sections are never corpus documents.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.corpora.beir_layout import write_beir

MIN_WORDS = 20
_NAVIGATION = {"SEE ALSO", "GIT"}  # link lists and "Part of the git suite": not content
TRAIN_PERCENT = 70
_BUILTIN_ATTRIBUTES = {
    "caret": "^", "litdd": "--", "asterisk": "*", "tilde": "~", "startsb": "[", "endsb": "]", "plus": "+",
    "empty": "", "nbsp": " ", "sp": " ", "apos": "'", "quot": '"', "amp": "&", "lt": "<", "gt": ">",
    "vbar": "|", "backslash": "\\", "two-colons": "::", "two-semicolons": ";;", "cpp": "C++",
}
_UNDERLINE_LEVELS = {"=": 0, "-": 1, "~": 2, "^": 3, "+": 4}
_CONDITIONAL = re.compile(r"^(ifdef|ifndef|endif)::([^\[]*)\[(.*)\]\s*$")
_EQUALS_HEADING = re.compile(r"^(=+)\s+(\S.*?)(?:\s+=+)?\s*$")
_LISTING_DELIMITER = re.compile(r"^(-{4,}|\.{4,}|\+{4,})\s*$")
_OTHER_DELIMITER = re.compile(r"^(={4,}|\*{4,}|_{4,}|--|\|={3,}|'{3,})\s*$")
_ANCHOR_LINE = re.compile(r"^\[\[([^\]]+)\]\]\s*$")
_BLOCK_ATTRIBUTE = re.compile(r"^\[[^\[\]]*\]\s*$")
_ATTRIBUTE_ENTRY = re.compile(r"^:([\w-]+)(!?):\s*(.*)$")
_TERM = re.compile(r"^(.*\S)\s*(?::{2,4}|;;)(?:\s+(.*))?$")
_LIST_ITEM = re.compile(r"^(?:[*\-]+|\.+|\d+\.|[a-z]\.)\s+\S")
_NAME_LINE = re.compile(r"^(\S.*?)\s+-{1,2}\s+(\S.*)$")
_LINK_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"linkgit:([\w.-]+)\[\d\]"), r"\1"),
    (re.compile(r"link:([^\s\[]+)\[\]"), r"\1"),
    (re.compile(r"link:[^\s\[]+\[([^\]]+)\]"), r"\1"),
    (re.compile(r"((?:https?|ftp)://[^\s\[]+)\[\]"), r"\1"),
    (re.compile(r"((?:https?|ftp)://[^\s\[]+)\[([^\]]+)\]"), r"\2 (\1)"),
    (re.compile(r"footnote:\[([^\]]*)\]"), r" (\1)"),
    (re.compile(r"\[\[[^\]]*\]\]"), ""),
    (re.compile(r"\$\$(.*?)\$\$"), r"\1"),
    (re.compile(r"``([^`'\n]+?)''"), r'"\1"'),
    (re.compile(r"`([^`'\n]*[^`'\s])'(?![\w'])"), r"'\1'"),
]
_CODE_SPAN = re.compile(r"(`[^`\n]+`)")
_QUOTE_RULES: list[tuple[re.Pattern[str], str]] = [  # applied outside `code` spans only
    (re.compile(r"(?<![\w\\'])'([^'\n]+?)'(?![\w'])"), r"\1"),
    (re.compile(r"(?<![\w*])\*([^*\n]+?)\*(?![\w*])"), r"\1"),
    (re.compile(r"(?<![\w_])_([^_\n]+?)_(?![\w_])"), r"\1"),
    (re.compile(r"\\(\.\.\.|--)"), r"\1"),
    (re.compile(r"\\([*{}\[\]`_'#+~^<>\\])"), r"\1"),
]


@dataclass
class Event:
    """One source line after block-level parsing: a heading, an anchor, a text line or a paragraph break."""

    kind: str  # "heading" | "anchor" | "prose" | "verse" | "literal" | "blank"
    text: str = ""
    level: int = 0
    anchor: str | None = None


@dataclass
class Section:
    """A level-1 or level-2 section of one page (level 0 is the text before the first heading)."""

    heading: str
    level: int
    parent: str | None
    events: list[Event] = field(default_factory=list)


@dataclass
class Page:
    """A documentation page: its file stem, display title, kind and sections in source order."""

    stem: str
    title: str
    kind: str  # "man" or "guide"
    sections: list[Section]
    anchors: dict[str, str]


def _condition(names: str, attributes: dict[str, str]) -> bool:
    if "+" in names:
        return all(n in attributes for n in names.split("+"))
    return any(n in attributes for n in names.split(","))


def _underline_level(before: str, title: str, underline: str) -> int | None:
    """The section level if `underline` underlines `title` (same character, length within 3) and `title`
    starts a block (`before` is blank or markup), so `text:` over a `----` listing is not a heading."""
    markup = ("[", "//", ":", "endif::", "ifdef::", "ifndef::", "include::")
    if before.strip() and not before.startswith(markup) and not _LISTING_DELIMITER.match(before) \
            and not _OTHER_DELIMITER.match(before):
        return None
    if title.rstrip().endswith(":"):
        return None
    if len(underline) < 2 or len(set(underline)) != 1 or underline[0] not in _UNDERLINE_LEVELS:
        return None
    if not title.strip() or title[0] in "[/+.:<" or title.lstrip() != title:
        return None
    if _TERM.match(title) or abs(len(title.rstrip()) - len(underline)) > 3:
        return None
    return _UNDERLINE_LEVELS[underline[0]]


def parse_events(source: str) -> tuple[list[Event], dict[str, str]]:
    """Block-level parse: headings, anchors and text lines, with comments, conditionals, attribute entries,
    `include::` lines, block attributes and block delimiters removed. Returns the events and the attributes."""
    return _EventParser(source.expandtabs(8).splitlines()).run()


class _EventParser:
    """`parse_events`, line by line: the state between lines (open blocks, skipped conditionals, verse)."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.attributes = dict(_BUILTIN_ATTRIBUTES)
        self.events: list[Event] = []
        self.skip_stack: list[bool] = []
        self.listing: str | None = None
        self.in_comment = self.verse = False
        self.i = 0  # the next line

    def run(self) -> tuple[list[Event], dict[str, str]]:
        while self.i < len(self.lines):
            line = self.lines[self.i].rstrip()
            self.i += 1
            if not self._inside_block(line) and not self._conditional(line) and not any(self.skip_stack):
                self._line(line)
        return self.events, self.attributes

    def _inside_block(self, line: str) -> bool:
        """Whether `line` belongs to an open comment block or listing (a listing's lines are kept literally)."""
        if self.in_comment:
            self.in_comment = line != "////"
            return True
        if self.listing is None:
            return False
        if line == self.listing:
            self.listing = None
            self.events.append(Event("blank"))
        elif not any(self.skip_stack):
            self.events.append(Event("literal", line))
        return True

    def _conditional(self, line: str) -> bool:
        """Whether `line` is an ifdef/ifndef/endif (a one-line one keeps its text when its condition holds)."""
        match = _CONDITIONAL.match(line)
        if not match:
            return False
        directive, names, inline = match.groups()
        if directive == "endif":
            if self.skip_stack:
                self.skip_stack.pop()
        else:
            wanted = _condition(names, self.attributes) == (directive == "ifdef")
            if inline:
                if wanted and not any(self.skip_stack):
                    self.events.append(Event("prose", inline))
            else:
                self.skip_stack.append(not wanted)
        return True

    def _line(self, line: str) -> None:
        if line == "////":
            self.in_comment = True
        elif line.startswith("//") or line.startswith("include::") or self._heading(line) or self._markup(line):
            return
        elif not line.strip() or line == "+":
            self.events.append(Event("blank"))
            self.verse = False
        else:
            self.events.append(Event("verse" if self.verse else "prose", line))

    def _heading(self, line: str) -> bool:
        """Whether `line` is a heading (underlined: its underline is consumed too); a heading ends a verse."""
        before = self.lines[self.i - 2] if self.i >= 2 else ""
        level = _underline_level(before, line, self.lines[self.i].rstrip()) if self.i < len(self.lines) else None
        if level is not None:
            self.events.append(Event("heading", line.strip(), level))
            self.i += 1
        elif match := _EQUALS_HEADING.match(line):
            self.events.append(Event("heading", match.group(2), len(match.group(1)) - 1))
        else:
            return False
        self.verse = False
        return True

    def _markup(self, line: str) -> bool:
        """Whether `line` is a block delimiter, an anchor, a block attribute or an attribute entry (applied)."""
        if _LISTING_DELIMITER.match(line):
            self.listing = line
        elif _OTHER_DELIMITER.match(line):
            self.events.append(Event("blank"))
        elif match := _ANCHOR_LINE.match(line):
            self.events.append(Event("anchor", anchor=match.group(1).split(",")[0]))
        elif _BLOCK_ATTRIBUTE.match(line):
            self.verse = self.verse or line.strip("[] ").split(",")[0] in ("verse", "literal", "listing", "source")
        elif match := _ATTRIBUTE_ENTRY.match(line):
            name, unset, value = match.groups()
            if unset:
                self.attributes.pop(name, None)
            else:
                self.attributes[name] = value
        else:
            return False
        return True


def clean_inline(text: str, attributes: dict[str, str], anchors: dict[str, str]) -> str:
    """Plain text for a line or paragraph: attribute references, cross references, links and quoting resolved."""

    def xref(match: re.Match[str]) -> str:
        target, label = match.group(1).strip(), (match.group(2) or "").strip()
        return label or anchors.get(target, target)

    text = re.sub(r"(?<!\\)\{([\w-]+)\}", lambda m: attributes.get(m.group(1), m.group(0)), text)
    text = re.sub(r"<<([^,>]+)(?:,([^>]*))?>>", xref, text)
    for pattern, replacement in _LINK_RULES:
        text = pattern.sub(replacement, text)
    parts = _CODE_SPAN.split(text)
    for index, part in enumerate(parts):
        if index % 2:
            parts[index] = part[1:-1]
            continue
        for pattern, replacement in _QUOTE_RULES:
            part = pattern.sub(replacement, part)
        parts[index] = part
    text = "".join(parts)
    return re.sub(r"[ \t]+", " ", text).strip()


def render(
    events: list[Event], attributes: dict[str, str], anchors: dict[str, str], after_term: bool = False
) -> str:
    """Section text: wrapped prose lines joined into paragraphs, list items and terms on their own lines,
    literal/code lines kept one per line. `after_term` says the text is a definition-list item's body."""
    out: list[tuple[str, str]] = []  # (kind, raw text); prose is cleaned once whole, as quotes span lines
    joinable = False
    paragraph_start = True
    for event in events:
        if event.kind == "blank":
            joinable, paragraph_start = False, True
            continue
        if event.kind == "anchor":
            continue
        if event.kind == "heading":
            out.append(("prose", event.text))
            joinable, after_term, paragraph_start = False, False, True
            continue
        raw = event.text
        if event.kind == "verse":
            out.append(("prose", raw))
            joinable, paragraph_start = False, False
            continue
        literal = event.kind == "literal" or (paragraph_start and raw[:1] == " " and not after_term
                                              and not _LIST_ITEM.match(raw.strip()))
        if literal:
            if raw.strip():
                out.append(("literal", raw.rstrip() if event.kind == "literal" else raw.strip()))
            joinable, paragraph_start = False, False
            continue
        stripped = raw.strip()
        term = _TERM.match(stripped)
        if term and not stripped.startswith(("http", "$ ")):
            out.append(("prose", term.group(1)))
            if term.group(2):
                out.append(("prose", term.group(2)))
            joinable, after_term, paragraph_start = bool(term.group(2)), True, False
            continue
        if joinable and not _LIST_ITEM.match(stripped) and out:
            out[-1] = ("prose", f"{out[-1][1]} {stripped}")
        else:
            out.append(("prose", stripped))
        joinable, paragraph_start = True, False
        after_term = after_term and not _LIST_ITEM.match(stripped)
    lines = (text if kind == "literal" else clean_inline(text, attributes, anchors) for kind, text in out)
    return "\n".join(line for line in lines if line.strip()).strip()


def parse_page(path: Path) -> tuple[Page, dict[str, str]] | None:
    """The page's sections, or None for a title-less fragment meant only for `include::`."""
    events, attributes = parse_events(path.read_text(encoding="utf-8", errors="replace"))
    first = next((e for e in events if e.kind not in ("blank", "anchor")), None)
    if first is None or first.kind != "heading" or first.level != 0:
        return None
    raw_title = first.text
    kind = "man" if re.search(r"\(\d\)$", raw_title) else "guide"
    title = re.sub(r"\s*\(\d\)$", "", raw_title).strip()
    anchors: dict[str, str] = {}
    for previous, event in itertools.pairwise(events):
        if previous.kind == "anchor" and event.kind == "heading":
            event.anchor = previous.anchor
            anchors[previous.anchor or ""] = clean_inline(event.text, attributes, {})
    sections = [Section("", 0, None)]
    parent: str | None = None
    for event in events[events.index(first) + 1:]:
        if event.kind == "heading" and 1 <= event.level <= 2:
            heading = clean_inline(event.text, attributes, anchors)
            if event.level == 1:
                parent = heading
            sections.append(Section(heading, event.level, parent if event.level == 2 else None))
        elif event.kind == "heading" and event.level == 0:
            continue
        else:
            sections[-1].events.append(event)
    return Page(path.stem, title, kind, sections, anchors), attributes


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


def _faq_entries(events: list[Event]) -> Iterator[tuple[str | None, str | None, list[Event]]]:
    """Split a gitfaq section into (anchor, question, answer events); the lead text has no anchor."""
    anchor: str | None = None
    question: str | None = None
    current: list[Event] = []
    for index, event in enumerate(events):
        following = events[index + 1] if index + 1 < len(events) else None
        is_question = (event.kind == "anchor" and following is not None and following.kind == "prose"
                       and _TERM.match(following.text.strip()) is not None)
        if is_question:
            yield anchor, question, current
            anchor, question, current = event.anchor, "", []
        elif question == "" and event.kind == "prose":
            term = _TERM.match(event.text.strip())
            question = term.group(1) if term else event.text
            if term and term.group(2):
                current.append(Event("prose", term.group(2)))
        else:
            current.append(event)
    yield anchor, question, current


@dataclass
class _Corpus:
    """Corpus rows under unique ids; a section too short to answer anything is counted, not kept."""

    package: str
    rows: list[dict] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    skipped: int = 0

    def add(self, doc_id: str, title: str, text: str, kind: str, src: str) -> str | None:
        """Add a row (its id made unique with a number); its id, or None when it was too short."""
        if len(text.split()) < MIN_WORDS:
            self.skipped += 1
            return None
        base, n = doc_id, 2
        while doc_id in self.ids:
            doc_id, n = f"{base}-{n}", n + 1
        self.ids.add(doc_id)
        self.rows.append({"_id": doc_id, "title": title, "text": text,
                          "metadata": {"source": src, "kind": kind, "package": self.package}})
        return doc_id


def build(source: Path, package: str = "git-doc") -> dict[str, list[dict]]:
    """Corpus rows, queries, qrels and QA rows (each a list of dicts) plus `stats` for the README."""
    corpus = _Corpus(package)
    names: list[tuple[str, str, str]] = []  # (stem, description, DESCRIPTION doc id)
    faq: list[tuple[str, str, str]] = []  # (anchor, question, answer doc id)
    pages = names_dropped = 0
    for path in sorted(source.glob("*.txt")):
        parsed = parse_page(path)
        if parsed is None:
            continue
        pages += 1
        name_description, description_id = _add_page(corpus, *parsed, path.name, faq)
        if name_description and description_id:
            names.append((parsed[0].stem, name_description, description_id))
        elif name_description:
            names_dropped += 1
    queries, qrels, qa = _questions(names, faq, corpus.rows)
    stats = {"pages": pages, "skipped_sections": corpus.skipped, "name_queries": len(names), "faq_queries": len(faq),
             "names_dropped": names_dropped}
    return {"corpus": corpus.rows, "queries": queries, "qrels": qrels, "qa": qa, "stats": [stats]}


def _add_page(corpus: _Corpus, page: Page, attributes: dict[str, str], src: str,
              faq: list[tuple[str, str, str]]) -> tuple[str | None, str | None]:
    """Add a page's sections (gitfaq's: each answer, its question going to `faq`); returns the description its
    NAME section gives and the id of its DESCRIPTION section."""
    name_description: str | None = None
    description_id: str | None = None
    for section in page.sections:
        heading = section.heading
        if section.level == 1 and heading.upper() == "NAME":
            match = _NAME_LINE.match(render(section.events, attributes, page.anchors).replace("\n", " "))
            if match:
                name_description = match.group(2).strip()
            continue
        if section.level == 1 and heading.upper() in _NAVIGATION:
            continue
        full_heading = f"{section.parent} — {heading}" if section.parent else heading
        title = f"{page.title}: {full_heading}" if heading else page.title
        slug = _slug(full_heading) if heading else "intro"
        kind = f"{page.kind}-section"
        if page.stem != "gitfaq":
            doc_id = corpus.add(f"{page.stem}#{slug}", title, render(section.events, attributes, page.anchors), kind,
                                src)
            if heading.upper() == "DESCRIPTION" and section.level == 1:
                description_id = doc_id
            continue
        for anchor, question, events in _faq_entries(section.events):
            text = render(events, attributes, page.anchors, after_term=anchor is not None)
            if anchor is None or not question:
                doc_id = corpus.add(f"{page.stem}#{slug}", title, text, kind, src)
                if heading.upper() == "DESCRIPTION":
                    description_id = doc_id
                continue
            doc_id = corpus.add(f"{page.stem}#{anchor}", title, text, "faq-answer", src)
            if doc_id:
                faq.append((anchor, clean_inline(question, attributes, page.anchors), doc_id))
    return name_description, description_id


def _questions(names: list[tuple[str, str, str]], faq: list[tuple[str, str, str]],
               corpus: list[dict]) -> tuple[list[dict], list[dict], list[dict]]:
    """Queries (one per distinct question), qrels and QA rows (the answer: the relevant row's text)."""
    texts = {row["_id"]: row["text"] for row in corpus}
    queries: list[dict] = []
    qrels: list[dict] = []
    seen: dict[str, str] = {}
    for prefix, entries in (("name", names), ("faq", faq)):
        for key, question, doc_id in entries:
            query_id = seen.get(question)
            if query_id is None:
                query_id = seen[question] = f"{prefix}:{key}"
                queries.append({"_id": query_id, "text": question})
            qrels.append({"query-id": query_id, "corpus-id": doc_id, "score": 1})
    text_of = {q["_id"]: q["text"] for q in queries}
    qa = [{"_id": r["query-id"], "question": text_of[r["query-id"]], "answer": texts[r["corpus-id"]],
           "split": split_for(r["query-id"]), "corpus_id": r["corpus-id"]} for r in qrels]
    return queries, qrels, qa


def split_for(query_id: str) -> str:
    """`train` for about 70% of query ids, `test` for the rest; a pure function of the id."""
    return "train" if int(hashlib.sha256(query_id.encode("utf-8")).hexdigest()[:8], 16) % 100 < TRAIN_PERCENT \
        else "test"


def package_version() -> str:
    """`git-doc <version>` from dpkg, or plain `git-doc` where dpkg does not know it."""
    try:
        result = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "git-doc"],
                                capture_output=True, text=True, check=True)
        return f"git-doc {result.stdout.strip()}"
    except (OSError, subprocess.CalledProcessError):
        return "git-doc"


def _readme(data: dict[str, list[dict]], package: str, source: Path) -> str:
    stats = data["stats"][0]
    kinds: dict[str, int] = {}
    for row in data["corpus"]:
        kinds[row["metadata"]["kind"]] = kinds.get(row["metadata"]["kind"], 0) + 1
    kind_text = " + ".join(f"{n} `{k}`" for k, n in sorted(kinds.items()))
    splits = {s: sum(1 for r in data["qa"] if r["split"] == s) for s in ("train", "test")}
    return f"""# git-docs: retrieval and QA set from the Git documentation

Built by `python -m benchmarks.corpora.git_docs --source {source} --out DIR` (ragbot) from the Debian 12
binary package **{package}** (AsciiDoc sources `{source}/*.txt`). Text: the Git documentation,
(c) Linus Torvalds and others, **GNU General Public License version 2** (GPL-2; see
`/usr/share/doc/git-doc/copyright` and `/usr/share/common-licenses/GPL-2`). Redistributing this
derived data set means distributing it under the GPL-2 as well.

## Files (BEIR layout)

| file | rows |
| --- | --- |
| `corpus.jsonl` | {len(data["corpus"])} documents: {kind_text} |
| `queries.jsonl` | {len(data["queries"])} queries: {stats["name_queries"]} NAME, {stats["faq_queries"]} gitfaq |
| `qrels/test.tsv` | {len(data["qrels"])} judgements (header `query-id corpus-id score`, tab-separated) |
| `qa.jsonl` | {len(data["qa"])} question/answer pairs: {splits["train"]} train, {splits["test"]} test |

## How each file was made

- **corpus** `{{"_id", "title", "text", "metadata": {{"source", "kind", "package"}}}}`: the {stats["pages"]} top-level
  `*.txt` pages with a document title are split on level-1/level-2 section headings (deeper headings stay in
  their parent). `_id` = `<page>#<heading slug>` (`git-add#description`), `title` = `<page title>: <heading>`.
  AsciiDoc markup is removed: `include::` lines (the included fragments are not in the corpus), comments,
  `ifdef`/`ifndef` blocks (evaluated), attribute entries, block delimiters; `linkgit:git-foo[1]` -> `git-foo`.
  Wrapped prose is joined into one line per paragraph; code blocks are kept line by line.
  `SEE ALSO` and `GIT` (link lists) are left out; other sections under {MIN_WORDS} words are skipped
  ({stats["skipped_sections"]}). **NAME sections are not in the corpus.**
  Each `gitfaq` question is its own `faq-answer` document (`gitfaq#<anchor>`) whose text is the answer only.
- **queries** `{{"_id", "text"}}`, written by Git's authors:
  `name:<page>` = the page's NAME description (`git-add - Add file contents to the index` ->
  "Add file contents to the index"), gold = `<page>#description` ({stats["names_dropped"]} pages whose DESCRIPTION is
  under {MIN_WORDS} words or missing give no query); `faq:<anchor>` = a gitfaq question,
  gold = its answer document. A description shared by two pages is one query with both gold.
- **qrels/test.tsv**: every query, score 1.
- **qa.jsonl** `{{"_id", "question", "answer", "split", "corpus_id"}}`: one row per judgement, answer = the gold
  document's text. `split` is `train` if `int(sha256(query id)[:8], 16) % 100 < {TRAIN_PERCENT}`, else `test`.
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=Path("/usr/share/doc/git/html"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    package = package_version()
    data = build(args.source)
    write_beir(data, args.out, _readme(data, package, args.source))
    splits = {s: sum(1 for r in data["qa"] if r["split"] == s) for s in ("train", "test")}
    print(f"{len(data['corpus'])} docs, {len(data['queries'])} queries ({data['stats'][0]['name_queries']} NAME, "
          f"{data['stats'][0]['faq_queries']} FAQ), {len(data['qrels'])} qrels, "
          f"qa {splits['train']} train / {splits['test']} test -> {args.out}")


if __name__ == "__main__":
    main()
