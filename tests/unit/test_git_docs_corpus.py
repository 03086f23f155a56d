"""The git-docs corpus builder on a tiny synthetic AsciiDoc tree: BEIR layout, NAME queries, FAQ answers."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.corpora import git_docs
from ingestion import beir

FILLER = "It walks every widget in the working tree and rewrites the ones that are stale, so run it often."

MAN_PAGE = f"""git-frob(1)
===========

NAME
----
git-frob - Frobnicate the widgets in a repository

SYNOPSIS
--------
[verse]
'git frob' [--all] [--dry-run] [<pathspec>...] and enough extra words here so that this synopsis
    section clearly passes the word limit

DESCRIPTION
-----------
// a comment that must not show up
:git-frob: 1
This command frobnicates `widgets`, see linkgit:git-add[1] for
the index. {FILLER}

include::frob-options.txt[]

ifndef::git-frob[]
This sentence is conditional and must be dropped by the builder entirely.
endif::git-frob[]

OPTIONS
-------
--all::
\tFrobnicate all widgets, not only the ones named on the command line. {FILLER}

Tiny
----
Too short to keep.
"""

FAQ = f"""gitfaq(7)
=========

NAME
----
gitfaq - Frequently asked questions about frobbing

DESCRIPTION
-----------
The examples in this FAQ assume a standard POSIX shell and a user who owns a repository full of widgets.

Frobbing
--------

[[frob-twice]]
How do I frob a widget twice?::
\tRun the command two times in a row. {FILLER}
+
----
$ git frob && git frob
----

[[frob-undo]]
Can I undo a frob?::
\tNo, frobbing cannot be undone; restore the widget from a backup instead. {FILLER}
"""


def _build(tmp_path: Path) -> Path:
    source = tmp_path / "html"
    source.mkdir(parents=True)
    (source / "git-frob.txt").write_text(MAN_PAGE, encoding="utf-8")
    (source / "gitfaq.txt").write_text(FAQ, encoding="utf-8")
    (source / "frob-options.txt").write_text(f"--quiet::\n\tBe quiet. {FILLER}\n", encoding="utf-8")
    out = tmp_path / "out"
    git_docs.main(["--source", str(source), "--out", str(out)])
    return out


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_layout_queries_and_faq_answers(tmp_path: Path) -> None:
    out = _build(tmp_path)
    corpus = {row["_id"]: row for row in _jsonl(out / "corpus.jsonl")}
    assert set(corpus) == {"git-frob#synopsis", "git-frob#description", "git-frob#options", "gitfaq#description",
                           "gitfaq#frob-twice", "gitfaq#frob-undo"}  # no NAME, no tiny section, no fragment
    assert not any("Frobnicate the widgets in a repository" in row["text"] for row in corpus.values())

    description = corpus["git-frob#description"]
    assert description["title"] == "git-frob: DESCRIPTION"
    assert description["text"].startswith("This command frobnicates widgets, see git-add for the index.")
    assert not any(noise in description["text"] for noise in ("comment", "include::", "conditional", "linkgit"))
    assert corpus["git-frob#synopsis"]["text"].startswith("git frob [--all]")

    answer = corpus["gitfaq#frob-twice"]
    assert answer["title"] == "gitfaq: Frobbing"
    assert answer["metadata"] == {"source": "gitfaq.txt", "kind": "faq-answer", "package": "git-doc"}
    assert "How do I frob" not in answer["text"]
    assert answer["text"].startswith("Run the command two times in a row.")
    assert "$ git frob && git frob" in answer["text"].splitlines()

    queries = beir.queries(out)
    assert queries == {
        "name:git-frob": "Frobnicate the widgets in a repository",
        "name:gitfaq": "Frequently asked questions about frobbing",
        "faq:frob-twice": "How do I frob a widget twice?",
        "faq:frob-undo": "Can I undo a frob?",
    }
    assert beir.qrels(out) == {
        "name:git-frob": {"git-frob#description": 1},
        "name:gitfaq": {"gitfaq#description": 1},
        "faq:frob-twice": {"gitfaq#frob-twice": 1},
        "faq:frob-undo": {"gitfaq#frob-undo": 1},
    }
    assert (out / "qrels" / "test.tsv").read_text().splitlines()[0] == "query-id\tcorpus-id\tscore"
    assert len(beir.corpus_items(out)) == len(corpus)

    qa = _jsonl(out / "qa.jsonl")
    assert [list(row) for row in qa] == [["_id", "question", "answer", "split", "corpus_id"]] * 4
    by_id = {row["_id"]: row for row in qa}
    assert by_id["faq:frob-undo"]["answer"] == corpus["gitfaq#frob-undo"]["text"]
    assert all(row["split"] == git_docs.split_for(row["_id"]) in ("train", "test") for row in qa)
    assert "GPL-2" in (out / "README.md").read_text()


def test_build_is_deterministic(tmp_path: Path) -> None:
    first, second = _build(tmp_path / "a"), _build(tmp_path / "b")
    for name in ("corpus.jsonl", "queries.jsonl", "qa.jsonl", "qrels/test.tsv"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
