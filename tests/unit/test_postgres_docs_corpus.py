"""The postgres-docs corpus builder on a tiny synthetic DocBook HTML tree: pages from the parts' tables of
contents, split on sect2, our questions as queries, a gold section missing from the corpus refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.corpora import postgres_docs
from ingestion import beir

FILLER = "Every widget in the cluster is vacuumed in turn, so that dead rows never pile up behind old snapshots."
NAV = ('<div class="navheader"><table><tr><th>Nav</th><td><a href="index.html">Home</a></td></tr></table></div>')
FOOT = '<div class="navfooter"><a href="index.html">Up</a></div>'


def _page(body: str) -> str:
    return f'<html><head><title>t</title></head><body>{NAV}{body}{FOOT}</body></html>'


PART = _page('<div class="part" id="SQL"><div class="titlepage"><h1 class="title">Part II. Widgets</h1></div>'
             '<div class="toc"><dl class="toc"><dt><a href="widget-basics.html">5.1. Widget Basics</a></dt>'
             '<dt><a href="widget-basics.html#WIDGET-FROB">5.1.1. Frobbing</a></dt>'
             '<dt><a href="widget-tuning.html">5.2. Widget Tuning</a></dt></dl></div></div>')
ADMIN = _page('<div class="part" id="ADMIN"><div class="titlepage"><h1 class="title">Part III. Admin</h1></div>'
              '<div class="toc"><dl class="toc"><dt><a href="widget-tuning.html">5.2. Widget Tuning</a></dt>'
              '</dl></div></div>')
BASICS = _page(
    '<div class="sect1" id="WIDGET-BASICS"><div class="titlepage"><h2 class="title">5.1. Widget Basics</h2></div>'
    '<div class="toc"><dl class="toc"><dt>5.1.1. Frobbing</dt></dl></div>'
    f'<p>A widget holds rows. {FILLER}</p>'
    '<div class="table"><table><tr><th>Name</th><th>Meaning</th></tr>'
    '<tr><td>frob</td><td>turn it over</td></tr></table></div>'
    '<div class="sect2" id="WIDGET-FROB"><div class="titlepage"><h3 class="title">5.1.1. Frobbing</h3></div>'
    f'<p>To frob a widget, run frob. {FILLER}</p><pre class="programlisting">SELECT frob(w)\n  FROM widgets;</pre>'
    '<div class="sect3" id="WIDGET-FROB-DEEP"><div class="titlepage"><h4 class="title">5.1.1.1. Deep Frobbing'
    f'</h4></div><p>Deep frobbing goes further. {FILLER}</p></div></div>'
    '<div class="sect2" id="WIDGET-TINY"><div class="titlepage"><h3 class="title">5.1.2. Tiny</h3></div>'
    '<p>Too short.</p></div></div>')
TUNING = _page(
    '<div class="sect1" id="WIDGET-TUNING"><div class="titlepage"><h2 class="title">5.2. Widget Tuning</h2></div>'
    f'<p>Tune widgets with care. {FILLER}</p></div>')
QUESTIONS = [{"_id": "pg:001", "text": "how do I flip a widget over", "gold": ["widget-basics#widget-frob"],
              "split": "train"},
             {"_id": "pg:002", "text": "make widgets faster", "gold": ["widget-tuning#intro", "widget-basics#intro"],
              "split": "test"}]


def _source(tmp_path: Path) -> Path:
    source = tmp_path / "html"
    source.mkdir()
    for name, text in (("sql.html", PART), ("admin.html", ADMIN), ("widget-basics.html", BASICS),
                       ("widget-tuning.html", TUNING), ("unlisted.html", TUNING.replace("Tuning", "Unlisted"))):
        (source / name).write_text(text, encoding="utf-8")
    return source


def _questions(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "questions.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_layout_sections_and_questions(tmp_path: Path) -> None:
    out = tmp_path / "out"
    postgres_docs.main(["--source", str(_source(tmp_path)), "--questions", str(_questions(tmp_path, QUESTIONS)),
                        "--out", str(out)])
    corpus = {row["_id"]: row for row in _jsonl(out / "corpus.jsonl")}
    assert list(corpus) == ["widget-basics#intro", "widget-basics#widget-frob", "widget-tuning#intro"]
    intro = corpus["widget-basics#intro"]
    assert intro["title"] == "Widget Basics"
    assert intro["text"].splitlines()[:2] == [f"A widget holds rows. {FILLER}", "Name | Meaning"]
    assert "frob | turn it over" in intro["text"].splitlines()
    assert not any(noise in intro["text"] for noise in ("Nav", "Home", "Up", "5.1.1", "To frob"))
    frob = corpus["widget-basics#widget-frob"]
    assert frob["title"] == "Widget Basics — Frobbing"
    assert frob["metadata"]["source"] == "widget-basics.html"
    assert frob["metadata"]["package"] == "postgresql-doc-15"
    assert frob["text"].splitlines()[1:3] == ["SELECT frob(w)", "  FROM widgets;"]
    assert "Deep Frobbing\nDeep frobbing goes further." in frob["text"]  # a sect3 stays inside its sect2

    assert beir.queries(out) == {"pg:001": "how do I flip a widget over", "pg:002": "make widgets faster"}
    assert beir.qrels(out) == {"pg:001": {"widget-basics#widget-frob": 1},
                               "pg:002": {"widget-tuning#intro": 1, "widget-basics#intro": 1}}
    qa = {row["_id"]: row for row in _jsonl(out / "qa.jsonl")}
    assert qa["pg:002"]["split"] == "test" and qa["pg:002"]["answer"] == corpus["widget-tuning#intro"]["text"]
    assert len(beir.corpus_items(out)) == 3


def test_a_gold_section_outside_the_corpus_is_refused(tmp_path: Path) -> None:
    source = _source(tmp_path)
    wrong = [{**QUESTIONS[0], "gold": ["widget-basics#widget-tiny"]}]
    with pytest.raises(ValueError, match="widget-basics#widget-tiny"):
        postgres_docs.build(source, postgres_docs.load_questions(_questions(tmp_path, wrong)))


def test_the_shipped_questions_are_well_formed() -> None:
    questions = postgres_docs.load_questions()
    assert len(questions) >= 60 and len({q.id for q in questions}) == len(questions)
    assert all(q.gold and q.split in ("train", "test") for q in questions)
    share = sum(q.split == "test" for q in questions) / len(questions)
    assert 0.2 <= share <= 0.4
