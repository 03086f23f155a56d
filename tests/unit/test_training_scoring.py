"""Answer scoring: token F1, ROUGE-L, citations, groundedness, win rate, summaries, chart and report."""

from __future__ import annotations

import time

import pytest

from chatbot.chain import Answer
from training.dataset import QAPair
from training.evaluate import (
    Condition,
    Record,
    groundedness,
    markdown_report,
    normalize_answer,
    plot_summary,
    rouge_l,
    run_conditions,
    score_answer,
    source_choice,
    strip_citations,
    summarize,
    token_f1,
    win_rate,
)


def test_squad_normalisation_and_citations_removed():
    assert normalize_answer("The Warranty, lasts  24 months!") == "warranty lasts 24 months"
    assert strip_citations("Yes [1]. Also [2, 3].").split() == ["Yes", ".", "Also", "."]


def test_token_f1():
    assert token_f1("24 months [1]", "The warranty lasts 24 months.") == pytest.approx(2 * 1 * 0.5 / 1.5)
    assert token_f1("nothing shared", "24 months") == 0.0
    assert token_f1("", "") == 1.0 and token_f1("", "x") == 0.0


def test_rouge_l_ignores_citations_and_stems():
    assert rouge_l("The warranty lasts 24 months [2].", "The warranty lasts 24 months.") == pytest.approx(1.0)
    assert 0 < rouge_l("warranties last", "the warranty lasts two years") < 1


def test_groundedness_is_the_share_of_answer_tokens_in_the_context():
    assert groundedness("24 months [1]", ["The warranty is 24 months long."]) == 1.0
    assert groundedness("24 weeks", ["The warranty is 24 months long."]) == 0.5
    assert groundedness("anything", []) is None


def test_score_answer_checks_citations_against_the_prompt_sources():
    assert score_answer("24 months [2]", "24 months", ["a", "b"]).citation_valid
    assert not score_answer("24 months [3]", "24 months", ["a", "b"]).citation_valid
    assert not score_answer("24 months", "24 months", ["a", "b"]).citation_valid


def test_source_choice_compares_the_sources_each_answer_follows():
    sources = ["The warranty is 24 months from delivery.", "Returns are accepted within 30 days."]
    scores = score_answer("Within 30 days [2].", "The warranty is 24 months.", sources)
    assert (scores.closest_source, scores.gold_source) == (2, 1) and scores.gold_source_rougeL > 0.5
    assert score_answer("anything", "gold", []).gold_source is None

    def rec(text: str) -> Record:
        return Record("q", "How long?", "The warranty is 24 months.", "x", text, 2, False, 1.0, None,
                      score_answer(text, "The warranty is 24 months.", sources))

    base = [rec("Returns are accepted within 30 days."), rec("It depends.")]
    tuned = [rec("The warranty is 24 months [1]."), rec("Returns: 30 days [2].")]
    choice = source_choice(base, tuned)
    assert choice["questions"] == 2 and choice["finetuned_picked"] == 0.5 and choice["base_picked"] == 0.0
    assert choice["gold_source_win_rate"] == 1.0  # the warranty source verbatim beats both base answers


def test_win_rate_counts_ties_half():
    rate, counts = win_rate([0.5, 0.2, 0.3, 0.9], [0.4, 0.2, 0.6, 0.1])
    assert counts == {"wins": 2, "ties": 1, "losses": 1} and rate == pytest.approx(2.5 / 4)
    with pytest.raises(ValueError):
        win_rate([1.0], [])


def record(condition: str, text: str, gold: str = "24 months", seconds: float = 2.0) -> Record:
    return Record("q1", "How long?", gold, condition, text, 2, False, seconds, 0.5,
                  score_answer(text, gold, ["The warranty is 24 months.", "Other."]))


def result_for(base: Record, tuned: Record) -> dict:
    rate, counts = win_rate([tuned.scores.rougeL], [base.scores.rougeL])
    return {"n": 1, "base": summarize([base]), "finetuned": summarize([tuned]), "finetuned_win_rate": rate,
            "comparison": {**counts, "f1_ratio": 2.0}, "split": "test", "collection": "c",
            "generators": {"base": "base", "finetuned": "finetuned:x"}}


def test_summary_chart_and_report(tmp_path):
    base, tuned = record("base", "It is long."), record("finetuned", "24 months [1]")
    summary = summarize([base, tuned])
    assert set(summary) == {"f1", "rougeL", "citation_valid", "grounded", "seconds_per_answer"}
    assert summary["citation_valid"] == 0.5 and summary["seconds_per_answer"] == 2.0
    result = result_for(base, tuned)
    png = plot_summary(result, tmp_path / "chart.png", tmp_path / "mpl")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = markdown_report(result, {"base": [base], "finetuned": [tuned]})
    assert "## 1. How long?" in text and "> 24 months [1]" in text and "> It is long." in text
    assert "fine-tuned wins" in text
    result["source_choice"] = source_choice([base], [tuned])
    assert "the answer follows the source most like the gold answer in 100% (fine-tuned)" in markdown_report(
        result, {"base": [base], "finetuned": [tuned]})


class SlowEchoChain:
    """Answers with the question and generator, sleeping longer for earlier questions so that concurrent
    answers finish out of order."""

    def invoke(self, question: str, *, generator: str, collection: str, use_retrieval: bool) -> Answer:
        time.sleep(0.05 * (5 - int(question.split()[-1])))
        return Answer(text=f"{question} by {generator}", generator=generator, question=question,
                      search_query=question, seconds=0.1)


def test_concurrent_run_keeps_question_order_per_condition() -> None:
    pairs = [QAPair(question=f"question {i}", answer=f"question {i} by base", id=str(i)) for i in range(5)]
    conditions = [Condition("base", "base", False), Condition("tuned", "finetuned", False)]
    seen: list[tuple[str, str]] = []
    records = run_conditions(SlowEchoChain(), pairs, conditions, "c",  # type: ignore[arg-type]
                             on_record=lambda r: seen.append((r.question_id, r.condition)), concurrency=4)
    assert [r.question_id for r in records["base"]] == ["0", "1", "2", "3", "4"]
    assert [r.text for r in records["tuned"]] == [f"question {i} by finetuned" for i in range(5)]
    assert seen == [(str(i), c) for i in range(5) for c in ("base", "tuned")]
    assert all(r.scores.f1 == 1.0 for r in records["base"])
