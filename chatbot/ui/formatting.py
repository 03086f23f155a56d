"""Pure formatting for the UI: sources → escaped HTML, win rates, documents and reports → table rows.

Document text, titles and file names, questions and answers are untrusted: everything interpolated into HTML goes
through `html.escape`, and text rendered as Markdown (questions and answers in Chat, Compare and Monitor) through
`inert_markdown`, which leaves it no raw HTML and no image, so that nothing in it can style, overlay or make the
browser fetch anything. No Gradio import here, so this module is testable on its own."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

from langchain_core.documents import Document

from chatbot.chain import Answer, public_source
from chatbot.queue.records import JobRecord as Job
from chatbot.storage.conversations import WinRate
from chatbot.storage.store import DocumentInfo
from ingestion.pipeline import IngestReport
from ingestion.uploads import UploadReport

SNIPPET_CHARS = 320
_SPACES = re.compile(r"\s+")
_WEB_URL = re.compile(r"https?://[^\s\"'<>]+\Z", re.IGNORECASE)
_FENCE_OPENER = re.compile(r" {0,3}(`{3,}|~{3,})")  # a fenced code block (CommonMark: at most 3 spaces in)
# An inline code span on one line: a backtick run (not escaped, not part of a longer run) closed by one as long.
_CODE_SPAN = re.compile(r"(?<![`\\])(`+)(?!`)(.+?)(?<!`)\1(?!`)")

Numbered = list[tuple[int, Document]]

WIN_RATE_HEADERS = ["generator", "opponent", "wins", "losses", "ties", "votes", "win rate", "95% interval",
                    "votes needed", "verdict"]
GROUPED_WIN_RATE_HEADERS = ["group", *WIN_RATE_HEADERS]
WIN_NOTE = ("Ties count half. The interval is the 95 % Wilson score interval of the win rate; a generator is called "
            "better (or worse) only when it leaves out 50 %. *Votes needed*: further votes at the observed rate before "
            "it would (never at exactly 50 %).")
DOCUMENT_HEADERS = ["id", "collection", "title", "chunks", "source", "ingested"]
STATS_HEADERS = ["collection", "documents", "chunks", "tokens"]
FAILURE_HEADERS = ["file", "error"]


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """Whitespace collapsed, cut at a word boundary near `limit` (not escaped)."""
    flat = _SPACES.sub(" ", text).strip()
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0]
    return cut + " …"


def _inert_text(text: str) -> str:
    """`&` and `<` as entities (shown as typed, never markup) and `![` escaped (an image shows as its text)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace("![", "!\\[")


def _inert_line(line: str) -> str:
    """One line outside fenced code: its inline code spans as they are (Markdown shows them as text), the rest
    inert. What only looks like a span is made inert too: that costs looks (an entity shown in code), never
    safety."""
    out, start = [], 0
    for span in _CODE_SPAN.finditer(line):
        out += [_inert_text(line[start:span.start()]), span.group(0)]
        start = span.end()
    return "".join([*out, _inert_text(line[start:])])


def _closes(fence: str, line: str) -> bool:
    stripped = line.strip()
    return len(line) - len(line.lstrip(" ")) <= 3 and len(stripped) >= len(fence) and set(stripped) == {fence[0]}


def inert_markdown(text: str) -> str:
    """Untrusted text as Markdown that carries no raw HTML and loads nothing: outside code, `&` and `<` become
    entities and `![` is escaped, so that a tag, a style attribute or an image shows as the text it is. Code
    (fenced blocks, inline spans on one line) is kept as it is: Markdown renders it as text already."""
    out: list[str] = []
    fence = ""
    for line in text.splitlines(keepends=True):
        if fence:
            out.append(line)
            fence = "" if _closes(fence, line) else fence
        elif (opened := _FENCE_OPENER.match(line)) and not (opened.group(1)[0] == "`" and
                                                             "`" in line[opened.end():]):
            fence = opened.group(1)
            out.append(line)
        else:
            out.append(_inert_line(line))
    return "".join(out)


def location(metadata: dict[str, Any]) -> str:
    """'page 3', the section heading, or ''."""
    if metadata.get("page"):
        return f"page {metadata['page']}"
    return str(metadata.get("heading") or "")


def numbered_retrieved(documents: Sequence[Document]) -> Numbered:
    """Retrieved documents numbered from 1, as the prompt numbers them."""
    return list(enumerate(documents, 1))


def answer_sources(answer: Answer) -> tuple[Numbered, str]:
    """What the sources panel shows once an answer is done, and a heading saying what it is."""
    if answer.not_covered:
        return [], "No document matched the question closely enough, so none was used."
    if answer.sources:
        return list(answer.sources), "Cited sources"
    if answer.retrieved:
        return numbered_retrieved(answer.retrieved), "The answer cited no source; these were retrieved"
    return [], "No sources were used."


def _score(metadata: dict[str, Any]) -> str:
    parts = []
    if isinstance(metadata.get("score"), int | float):
        parts.append(f"score {metadata['score']:.4f}")
    if isinstance(metadata.get("similarity"), int | float):
        parts.append(f"similarity {metadata['similarity']:.2f}")
    return " · ".join(parts)


def source_link(source: str) -> str:
    """A web page's source as a link to it (a new tab, no referrer); a file name as text. Escaped either way."""
    text = html.escape(source)
    if not _WEB_URL.match(source):
        return text
    return f'<a href="{text}" target="_blank" rel="noopener noreferrer nofollow">{text}</a>'


def source_card(n: int, doc: Document) -> str:
    m = doc.metadata
    title = html.escape(str(m.get("title") or m.get("source") or "untitled"))
    where = location(m)
    where_html = f' <span class="rb-where">— {html.escape(where)}</span>' if where else ""
    score = _score(m)
    source = source_link(public_source(str(m.get("source") or "")) or "")
    meta = " · ".join(p for p in (html.escape(score), source) if p)
    return (
        f'<div class="rb-source" data-n="{n}">'
        f'<div class="rb-source-head"><span class="rb-n">[{n}]</span> <b>{title}</b>{where_html}</div>'
        f'<div class="rb-snippet">{html.escape(snippet(doc.page_content))}</div>'
        f'<div class="rb-meta">{meta}</div></div>'
    )


def sources_html(numbered: Sequence[tuple[int, Document]], heading: str = "") -> str:
    """A panel of numbered source cards; `heading` is plain text (escaped here)."""
    head = f'<div class="rb-sources-heading">{html.escape(heading)}</div>' if heading else ""
    if not numbered:
        return f'<div class="rb-sources">{head}</div>'
    cards = "".join(source_card(n, d) for n, d in numbered)
    return f'<div class="rb-sources">{head}{cards}</div>'


def notice_html(text: str) -> str:
    return f'<div class="rb-sources"><div class="rb-sources-heading">{html.escape(text)}</div></div>'


def timing(answer: Answer) -> str:
    first = f", first token after {answer.first_token_seconds:.1f} s" if answer.first_token_seconds else ""
    return f"Answered by **{answer.generator}** in {answer.seconds:.1f} s{first}."


def votes_needed_text(rate: WinRate) -> str:
    """Further votes at the observed rate before its interval leaves out 50 %: 'never' at exactly 50 %."""
    needed = rate.judged.votes_needed
    if not rate.votes:
        return "n/a"
    return "never (exactly 50 %)" if needed is None else str(needed)


def win_rate_rows(rates: Sequence[WinRate], grouped: bool = False) -> list[list[Any]]:
    """`WIN_RATE_HEADERS` rows (`GROUPED_WIN_RATE_HEADERS` when `grouped`); ties count half. The verdict says
    better or worse only when the 95 % Wilson interval leaves out 50 %."""
    rows = []
    for r in rates:
        judged = r.judged
        row = [r.generator, r.opponent, r.wins, r.losses, r.ties, r.votes, f"{r.win_rate:.0%}",
               f"{judged.low:.0%}–{judged.high:.0%}", votes_needed_text(r), judged.verdict]
        rows.append([r.group, *row] if grouped else row)
    return rows


def win_rate_points(rates: Sequence[WinRate]) -> list[dict[str, Any]]:
    """One bar per (generator, opponent) direction: the generator's win rate against that opponent."""
    return [{"matchup": f"{r.generator} vs {r.opponent}", "generator": r.generator,
             "win rate": round(r.win_rate, 4), "votes": r.votes} for r in rates]


def document_rows(documents: Sequence[DocumentInfo]) -> list[list[Any]]:
    return [[d.id, d.collection, d.title, d.chunks, public_source(d.source), d.ingested_at.strftime("%Y-%m-%d %H:%M")]
            for d in documents]


def stats_rows(stats: Sequence[dict[str, Any]]) -> list[list[Any]]:
    return [[s["collection"], s["documents"], s["chunks"], s["tokens"]] for s in stats]


def report_summary(report: IngestReport) -> str:
    """Markdown with numbers only (file names go in the failures table, never into Markdown)."""
    failed = len(report.files_failed)
    lines = [
        f"**{report.files_ok} file{'s' if report.files_ok != 1 else ''} ok**, "
        f"**{failed} failed** ({report.seconds:.1f} s).",
        f"Documents: {report.documents_added} added, {report.documents_updated} updated, "
        f"{report.documents_unchanged} unchanged, {report.documents_removed} removed. "
        f"Chunks: {report.chunks_added} added, "
        f"{report.chunks_removed} removed.",
    ]
    if replaced := len(getattr(report, "replaced", [])):
        lines.append(f"**{replaced} upload{'s' if replaced != 1 else ''} replaced** a document of the same file "
                     "name (listed below): uploads are kept by name, so the earlier content is gone.")
    return "\n\n".join(lines)


REPLACED_NOTE = "replaced the document of the same file name (its earlier content is gone)"


def failure_rows(report: IngestReport) -> list[list[str]]:
    """Failed files with their reasons, then the uploads that replaced a document of the same name."""
    return [[f.path, f.error] for f in report.files_failed] + [[name, REPLACED_NOTE]
                                                               for name in getattr(report, "replaced", [])]


def elapsed_text(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def job_status(job: Job | None, running: Job | None = None) -> str:
    """A job as Markdown: what it is, its state, a progress bar while it runs, its result or error. `running` is
    the job occupying the worker, named when `job` waits for it."""
    if job is None:
        return "No job of this kind yet."
    title, took = html.escape(job.title), elapsed_text(job.elapsed())
    if job.status == "queued":
        before = f" ('{html.escape(running.title)}' is running)" if running is not None and running.id != job.id else ""
        return f"**{title}** is queued: it starts when the job before it finishes{before}."
    if job.status == "failed":
        return f"**{title}** failed after {took}: {html.escape(job.error or '')}"
    if job.status == "cancelled":
        return f"**{title}** was cancelled after {took}."
    if job.status == "succeeded":
        result = ", ".join(f"{k} {html.escape(str(v))}" for k, v in (job.result or {}).items()
                           if k not in ("path", "qa_file"))
        return f"**{title}** finished in {took}. {result}"
    bar = f'<progress value="{job.fraction:.3f}" max="1" style="width:100%"></progress>'
    where = f" on {html.escape(job.host)}" if job.host else ""
    return (f"**{title}** is running{where}: {job.fraction:.0%} · {html.escape(job.message)} · {took} elapsed"
            f"\n\n{bar}")


def ingest_outcome(job: Job) -> tuple[str, list[list[str]]]:
    """An ingest or sync job as (summary Markdown, failure rows): its report once it succeeded, else its state."""
    if job.status == "succeeded":
        report = UploadReport.from_json(job.result or {})
        return report_summary(report), failure_rows(report)
    return job_status(job) + (" See Admin → Jobs." if job.active else ""), []
