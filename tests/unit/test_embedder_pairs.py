"""Pairs for tuning the embedder: generated questions cleaned and filtered by the retriever's agreement, and a
held-out check that never holds titles or headings (a fake store; QA oracles stubbed)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from training import embedder_pairs
from training.embedder_pairs import SENTENCE_KEPT, Pair, build_pairs, sentence_pairs, sentence_sources, split_by_query
from training.embedder_tune import heldout_change
from training.generated_pairs import (
    HELDOUT_MAX,
    MIN_WORDS,
    held_out_chunks,
    keep_agreeing,
    sample_passages,
    split_written,
)
from training.question_gen import Written, clean_question

LONG = " ".join(["word"] * MIN_WORDS)


def fake_corpus(chunks: int = 40) -> SimpleNamespace:
    rows = [(f"Doc {i // 4}", f"Heading {i}" if i % 2 else None, f"chunk {i} {LONG}") for i in range(chunks)]
    return SimpleNamespace(store=SimpleNamespace(titled_chunks=lambda collection: rows))


def prose(i: int) -> str:
    return (f"Chunk {i} explains how the first thing works here. Then it tells what step {i} does next. "
            f"Finally it says how chunk {i} ends the whole story.")


def prose_corpus(chunks: int = 40) -> SimpleNamespace:
    rows = [(f"Doc {i // 4}", None, prose(i)) for i in range(chunks)]
    return SimpleNamespace(store=SimpleNamespace(titled_chunks=lambda collection: rows))


def generated(count: int) -> list[Pair]:
    return [Pair(f"how does chunk {i} work?", f"chunk {i} {LONG}", "generated") for i in range(count)]


@pytest.mark.parametrize(("output", "question"), [
    (" How do I undo a commit?", "How do I undo a commit?"),
    ("Question: What does git stash do? It saves changes.", "What does git stash do?"),
    ('1. "Why is my push rejected?"\nmore text', "Why is my push rejected?"),
    ("This text explains commits.", None),  # no question mark
    ("Why?", None),  # too short to find anything
])
def test_a_generated_output_becomes_one_clean_question_or_nothing(output, question):
    assert clean_question(output) == question


def test_a_generated_question_is_kept_only_when_the_retriever_ranks_its_chunk_in_the_top_k():
    written = [Written("passage a", "q a?"), Written("passage b", "q b?"), Written("passage c", "q c?")]
    rankings = {"q a?": ["passage a", "x", "y"], "q b?": ["x", "y", "passage b"], "q c?": ["x", "y", "z"]}
    kept = keep_agreeing(written, rankings.__getitem__, agree_k=2)
    assert kept == [Pair("q a?", "passage a", "generated")]
    assert [p.query for p in keep_agreeing(written, rankings.__getitem__, agree_k=3)] == ["q a?", "q b?"]


def test_passages_to_ask_about_are_distinct_long_enough_and_a_seeded_sample():
    texts = [f"t{i} {LONG}" for i in range(30)] + ["short chunk", "t0 " + LONG]
    first = sample_passages(texts, 10, seed=1)
    assert len(first) == len(set(first)) == 10 and "short chunk" not in first
    assert first == sample_passages(texts, 10, seed=1) != sample_passages(texts, 10, seed=2)
    assert len(sample_passages(texts, 100, seed=1)) == 30


def test_a_sentence_pair_asks_one_sentence_of_a_chunk_and_answers_with_the_rest():
    texts = [prose(i) for i in range(200)] + ["Too short. Two sentences only, this one is long enough though."]
    sources = sentence_sources(texts)
    assert len(sources) == 200  # the last has two sentences
    pairs = sentence_pairs(sources, 150, seed=3)
    assert len(pairs) == 150 and {p.kind for p in pairs} == {"sentence"}
    assert len({p.passage for p in pairs}) == 150 and pairs == sentence_pairs(sources, 150, seed=3)  # one a chunk
    for pair in pairs:
        source = next(t for t in texts if pair.query in t)
        without = " ".join(source.replace(pair.query, " ").split())
        assert len(pair.query.split()) >= 6 and pair.passage in (source, without)
    kept = sum(pair.query in pair.passage for pair in pairs)
    assert 0 < kept < 150 * SENTENCE_KEPT * 2  # the sentence stays in about a tenth, as in the inverse cloze task
    assert sentence_sources(texts[-1:]) == {}  # fewer than three sentences: no pair


def test_sentences_are_split_as_the_extractive_answerer_splits_them():
    chunk = ("Install the package with pip first. Then run the setup command e.g. in a shell.\n"
             "- a list item that is long enough to count here\n"
             "- another list item that is long enough to count\n\n"
             "The configuration file lives in your home folder. Edit it with any text editor you like.")
    assert sentence_sources([chunk])[chunk] == [
        "Install the package with pip first.", "Then run the setup command e.g. in a shell.",
        "The configuration file lives in your home folder.", "Edit it with any text editor you like."]
    pair = sentence_pairs(sentence_sources([chunk]), 1, seed=0)[0]
    assert pair.query not in pair.passage or pair.passage == " ".join(chunk.split())


def test_sentence_pairs_take_their_share_of_the_store_pairs_and_are_never_the_check():
    pairs = build_pairs(prose_corpus(), "c", max_pairs=30, generated=generated(10), generated_heldout=generated(2),
                        sentence_share=0.5)
    counts = pairs.counts()
    assert counts["train"] == 30 and counts["train_generated"] == 10
    assert counts["train_sentence"] == 10 and counts["train_title"] == 10  # half of the 20 left
    assert pairs.heldout_kind == "generated"
    only_titles = build_pairs(prose_corpus(), "c", max_pairs=30).counts()  # the default: none
    assert only_titles["train_sentence"] == 0 and only_titles["train_title"] == 30
    assert counts["available_sentence"] == only_titles["available_sentence"] > 10  # candidates, used or not


def test_split_by_query_never_puts_a_query_on_both_sides():
    pairs = [Pair(f"q{i % 10}", f"p{i}", "generated") for i in range(30)]  # 10 queries, 3 passages each
    train, held = split_by_query(pairs, 0.3, seed=0)
    assert len({p.query for p in held}) == 3 and not {p.query for p in held} & {p.query for p in train}
    assert sorted(train + held, key=lambda p: p.passage) == sorted(pairs, key=lambda p: p.passage)
    assert split_by_query(pairs[:1], 0.3, seed=0) == (pairs[:1], [])  # one query: trained on, nothing held


def test_without_qa_the_held_out_check_is_the_held_out_chunks_questions_never_titles():
    questions = generated(20)
    pairs = build_pairs(fake_corpus(), "c", max_pairs=1000, generated=questions[:14], generated_heldout=questions[14:])
    assert pairs.heldout == questions[14:] and pairs.heldout_kind == "generated"
    assert not {p.query for p in pairs.heldout} & {p.query for p in pairs.train}
    counts = pairs.counts()
    assert counts["train_generated"] == 14 and counts["train_title"] + counts["train_heading"] == 40
    none = build_pairs(fake_corpus(), "c", max_pairs=1000)
    assert none.heldout == [] and none.heldout_kind is None  # titles are never the check


def test_the_check_holds_every_question_of_the_held_out_chunks_and_training_only_agreeing_ones():
    passages = [f"passage {i}" for i in range(10)]
    held = held_out_chunks(passages, 0.5)
    assert held == set(passages[:5]) and held_out_chunks(passages, 0.0) == set()
    assert len(held_out_chunks([f"p{i}" for i in range(1000)], 0.5)) == HELDOUT_MAX
    assert held_out_chunks(passages[:2], 0.3) == {passages[0]}  # at least one of two
    written = [Written(p, f"what about {p}?") for p in passages]
    found = {f"what about {p}?": [p] for p in passages[::2]}  # the retriever finds every other chunk
    kept, check = split_written(written, held, lambda q: found.get(q, ["elsewhere"]), agree_k=1)
    assert [p.passage for p in check] == passages[:5]  # unfiltered: found or not by the retriever
    assert [p.passage for p in kept] == ["passage 6", "passage 8"]  # not held, and agreed with


@pytest.mark.parametrize(("before", "after", "verdict"), [
    ([0.2] * 40, [1.0] * 40, "better"),
    ([1.0] * 40, [0.5] * 40, "worse"),
    ([0.0, 1.0] * 20, [1.0, 0.0] * 20, "no clear change"),
])
def test_the_check_reports_its_change_with_an_interval_and_a_verdict_only_outside_it(before, after, verdict):
    change = heldout_change(before, after)
    assert change["verdict"] == verdict and change["n"] == 40
    assert change["low"] <= change["mean"] <= change["high"]
    assert heldout_change([], []) == {}


def qa_file(tmp_path, splits: list[str]):
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps({"question": f"real question {i}?", "answer": f"a{i}", "split": s}) + "\n"
                            for i, s in enumerate(splits)), encoding="utf-8")
    return path


@pytest.fixture
def stub_oracles(monkeypatch):
    monkeypatch.setattr(embedder_pairs, "qa_pairs", lambda corpus, collection, questions: [
        Pair(q.question, f"gold {q.answer}", "qa") for q in questions])


def test_with_qa_the_held_out_check_is_the_other_splits_real_questions(tmp_path, stub_oracles):
    pairs = build_pairs(fake_corpus(), "c", max_pairs=1000, qa=qa_file(tmp_path, ["train"] * 8 + ["test"] * 3),
                        split="train", generated=generated(10))
    assert [p.query for p in pairs.heldout] == [f"real question {i}?" for i in (8, 9, 10)]
    assert pairs.counts()["train_qa"] == 8 and pairs.counts()["train_generated"] == 10  # generated: all trained


def test_with_a_single_split_qa_file_a_fifth_is_held_out_and_not_trained_on(tmp_path, stub_oracles):
    pairs = build_pairs(fake_corpus(), "c", max_pairs=1000, qa=qa_file(tmp_path, ["train"] * 10), split="train")
    held = {p.query for p in pairs.heldout}
    assert len(held) == 2 and {p.kind for p in pairs.heldout} == {"qa"}
    assert not held & {p.query for p in pairs.train} and pairs.counts()["train_qa"] == 8


def test_the_check_reads_before_after_and_its_interval_from_the_manifest_metrics():
    from chatbot.embedder_admin import heldout_text

    metrics = {"heldout_before": {"mrr@10": 0.32}, "heldout_after": {"mrr@10": 0.34},
               "heldout_change": {"mean": 0.017, "low": -0.021, "high": 0.055, "n": 88, "verdict": "no clear change"}}
    assert heldout_text(metrics) == "0.32 → 0.34 (+0.017, 95 % -0.021 to +0.055: no clear change)"
    assert heldout_text({"heldout_before": {}, "heldout_after": {}}) == heldout_text({}) == ""  # not measured
