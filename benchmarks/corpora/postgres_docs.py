"""Build a BEIR-layout retrieval corpus from the PostgreSQL manual (Debian `postgresql-doc-15`) and our own
questions about it.

    python -m benchmarks.corpora.postgres_docs --source /usr/share/doc/postgresql-doc-15/html --out DIR

A reference guide, not an FAQ: the pages of the manual's parts "The SQL Language" (`sql.html`) and "Server
Administration" (`admin.html`), as their tables of contents list them, are split on their second-level sections
(`<div class="sect2">`; deeper sections stay inside their parent, the text before the first one is the page's
`intro`). The queries are `postgres_docs_questions.jsonl` (next to this module): questions written by hand as
users ask them, each with its gold section ids and a `split`, before any retrieval was scored on them.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from lxml import html

from benchmarks.corpora.beir_layout import write_beir

MIN_WORDS = 20
PARTS = ("sql.html", "admin.html")
QUESTIONS = Path(__file__).with_name("postgres_docs_questions.jsonl")
_BLOCKS = {"p", "pre", "tr", "dt", "dd", "li", "h1", "h2", "h3", "h4", "h5", "table", "div", "blockquote"}
_NUMBER = re.compile(r"^(?:[A-Z]?\d+(?:\.\d+)*\.|Chapter \d+\.|Part [IVX]+\.)\s*")


@dataclass(frozen=True)
class Question:
    """One hand-written question: its id, text, gold section ids and split."""

    id: str
    text: str
    gold: tuple[str, ...]
    split: str


def part_pages(source: Path, parts: tuple[str, ...] = PARTS) -> list[str]:
    """File names of the pages the parts' tables of contents link to, in their order (no fragments, no repeats)."""
    pages: list[str] = []
    for part in parts:
        tree = html.parse(str(source / part))
        for href in tree.xpath("//div[@class='toc']//a/@href"):
            name = href.split("#")[0]
            if name and name not in pages and (source / name).is_file():
                pages.append(name)
    return pages


def _title(element: html.HtmlElement) -> str:
    heading = element.xpath("./div[@class='titlepage']//*[@class='title']")
    text = " ".join(heading[0].text_content().split()) if heading else ""
    return _NUMBER.sub("", text).strip()


def element_text(element: html.HtmlElement) -> str:
    """Plain text: one line per block (paragraph, list item, table row: its cells joined by ' | '), code kept line
    by line; title pages, tables of contents and navigation left out."""
    lines: list[str] = []
    current: list[str] = []

    def flush() -> None:
        text = " ".join("".join(current).split())
        if text and text != "|":
            lines.append(text)
        current.clear()

    def walk(node: html.HtmlElement, root: bool = False) -> None:
        if not isinstance(node.tag, str):
            current.append(node.tail or "")
            return
        cls = node.get("class", "")
        if not root and (cls in ("titlepage", "toc", "navheader", "navfooter") or cls.startswith("sect")):
            current.append(node.tail or "")  # a nested section is a document of its own (or its parent's text)
            return
        if node.tag == "pre":
            flush()
            lines.extend(line.rstrip() for line in node.text_content().splitlines() if line.strip())
        else:
            block = node.tag in _BLOCKS
            if block:
                flush()
            current.append(node.text or "")
            for child in node:
                walk(child)
                if child.tag in ("td", "th"):
                    current.append(" | ")
            if block:
                flush()
        current.append(node.tail or "")

    walk(element, root=True)
    flush()
    return "\n".join(line.removesuffix(" |") for line in lines)


def _section_text(section: html.HtmlElement) -> str:
    """A section's own text, its sect3 and deeper children included (they are inside it, not documents)."""
    parts = [element_text(section)]
    for child in section.xpath(".//div[starts-with(@class, 'sect') and @class != 'sect1' and @class != 'sect2']"):
        parts.append(_title(child) + "\n" + element_text(child))
    return "\n".join(p for p in parts if p.strip())


def page_documents(path: Path) -> list[dict]:
    """A page's documents: its intro (the text before its first sect2) and each sect2 (with its deeper ones)."""
    root = html.parse(str(path)).getroot()
    body = root.xpath("//div[@class='navheader']/following-sibling::div[1]")
    if not body:
        return []
    page = body[0]
    page_title = _title(page)
    stem = path.stem
    rows = [{"_id": f"{stem}#intro", "title": page_title, "text": element_text(page)}]
    for section in page.xpath(".//div[@class='sect2']"):
        rows.append({"_id": f"{stem}#{(section.get('id') or '').lower()}",
                     "title": f"{page_title} — {_title(section)}", "text": _section_text(section)})
    return [{**row, "metadata": {"source": path.name}} for row in rows if len(row["text"].split()) >= MIN_WORDS]


def load_questions(path: Path = QUESTIONS) -> list[Question]:
    """The hand-written questions (`{"_id", "text", "gold": [...], "split"}` per line)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [Question(str(r["_id"]), r["text"], tuple(r["gold"]), r["split"]) for r in rows]


def build(source: Path, questions: list[Question], package: str = "postgresql-doc-15") -> dict[str, list[dict]]:
    """Corpus, queries, qrels and QA rows; a question whose gold is not in the corpus is an error."""
    corpus = [{**row, "metadata": {**row["metadata"], "package": package}}
              for name in part_pages(source) for row in page_documents(source / name)]
    texts = {row["_id"]: row["text"] for row in corpus}
    missing = sorted({g for q in questions for g in q.gold if g not in texts})
    if missing:
        raise ValueError(f"gold sections not in the corpus: {', '.join(missing)}")
    queries = [{"_id": q.id, "text": q.text} for q in questions]
    qrels = [{"query-id": q.id, "corpus-id": g, "score": 1} for q in questions for g in q.gold]
    qa = [{"_id": q.id, "question": q.text, "answer": texts[q.gold[0]], "split": q.split, "corpus_id": q.gold[0]}
          for q in questions]
    return {"corpus": corpus, "queries": queries, "qrels": qrels, "qa": qa}


def package_version(package: str = "postgresql-doc-15") -> str:
    """`<package> <version>` from dpkg, or the plain name where dpkg does not know it."""
    try:
        result = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package],
                                capture_output=True, text=True, check=True)
        return f"{package} {result.stdout.strip()}"
    except (OSError, subprocess.CalledProcessError):
        return package


def _readme(data: dict[str, list[dict]], package: str, source: Path) -> str:
    splits = {s: sum(1 for r in data["qa"] if r["split"] == s) for s in ("train", "test")}
    return f"""# postgres-docs: retrieval set from the PostgreSQL manual

Built by `python -m benchmarks.corpora.postgres_docs --source {source} --out DIR` (ragbot) from the Debian 12
package **{package}**. Text: the PostgreSQL documentation, (c) The PostgreSQL Global Development Group, under
the PostgreSQL Licence (see `/usr/share/doc/postgresql-doc-15/copyright`).

| file | rows |
| --- | --- |
| `corpus.jsonl` | {len(data["corpus"])} sections of the parts "The SQL Language" and "Server Administration" |
| `queries.jsonl` | {len(data["queries"])} hand-written user questions (ragbot's `postgres_docs_questions.jsonl`) |
| `qrels/test.tsv` | {len(data["qrels"])} judgements (header `query-id corpus-id score`, tab-separated) |
| `qa.jsonl` | {len(data["qa"])} rows: {splits["train"]} train, {splits["test"]} test (answer: the first gold's text) |

`_id` = `<page>#intro` (the page's text before its first second-level section) or `<page>#<section id>`;
`title` = the page's title, then ` — ` and the section's; sections under {MIN_WORDS} words are left out.
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=Path("/usr/share/doc/postgresql-doc-15/html"))
    parser.add_argument("--questions", type=Path, default=QUESTIONS)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    package = package_version()
    data = build(args.source, load_questions(args.questions), package.split()[0])
    write_beir(data, args.out, _readme(data, package, args.source))
    splits = {s: sum(1 for r in data["qa"] if r["split"] == s) for s in ("train", "test")}
    print(f"{len(data['corpus'])} docs, {len(data['queries'])} queries, {len(data['qrels'])} qrels, "
          f"qa {splits['train']} train / {splits['test']} test -> {args.out}")


if __name__ == "__main__":
    main()
