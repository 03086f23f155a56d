"""Abstention: the threshold chosen from scores, the shipped questions, the chain's per-collection threshold, the
QA questions `ragbot eval abstain` reads."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

from chatbot.abstention import general_questions, pick_threshold
from chatbot.abstention_eval import read_questions
from chatbot.chain import RagChain
from chatbot.prompts import NOT_COVERED
from chatbot.qa_files import QAFileError
from chatbot.settings import Settings
from tests.conftest import REPO
from tests.unit.test_chain import FakeGenerators, ListRetriever, doc

ANSWERABLE = [0.45, 0.5, 0.55, 0.6, 0.62, 0.65, 0.7, 0.72, 0.75, 0.8, 0.85]  # titles
UNANSWERABLE = [0.1, 0.12, 0.15, 0.18, 0.2, 0.22, 0.25, 0.28, 0.3, 0.32, 0.4]  # 95 % quantile 0.36


def test_the_threshold_sits_over_nearly_all_unanswerable_questions():
    threshold = pick_threshold(ANSWERABLE, UNANSWERABLE)
    assert threshold == pytest.approx(0.36)
    assert np.mean(np.array(UNANSWERABLE) < threshold) >= 0.9 and min(ANSWERABLE) >= threshold


def test_titles_cap_the_threshold_when_unanswerable_questions_score_high():
    high = [s + 0.3 for s in UNANSWERABLE]  # 95 % quantile 0.66, over the weakest titles
    threshold = pick_threshold(ANSWERABLE, high)
    assert threshold == pytest.approx(0.45)  # the weakest title's own score (of 11, 5 % is less than one)
    assert min(ANSWERABLE) >= threshold  # every title stays answered


def test_the_cap_keeps_at_least_95_percent_answered_for_any_count():
    for count in (19, 20, 21, 68, 100, 137):
        scores = list(np.random.default_rng(count).uniform(0.2, 0.9, count))
        threshold = pick_threshold(scores, [0.99] * 10)  # off-topic questions score high: the cap binds
        assert np.mean(np.array(scores) >= threshold) >= 0.95, count


def test_real_questions_keep_95_percent_answered():
    questions = list(np.linspace(0.3, 0.7, 21))  # 5 % quantile 0.32
    threshold = pick_threshold(questions, UNANSWERABLE)
    assert threshold == pytest.approx(0.32)
    assert np.mean(np.array(questions) >= threshold) >= 0.95


def test_general_questions_ship_with_the_package():
    questions = general_questions()
    assert 150 <= len(questions) <= 250 and len(set(questions)) == len(questions)
    assert all(q.endswith("?") for q in questions)
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "data/*.txt" in package_data["chatbot"]


def test_the_chain_applies_each_collections_threshold():
    thresholds = {"strict": 0.5}
    chain = RagChain(Settings(relevance_threshold=0.3, _env_file=None), FakeGenerators("It is so [1]."),
                     lambda _c: ListRetriever(documents=[doc("the hub's LED", 0.4)]),
                     lambda c: thresholds.get(c, 0.3))
    refused = chain.invoke("What does the LED mean?", collection="strict")
    assert refused.not_covered and refused.text == NOT_COVERED and refused.sources == []
    answered = chain.invoke("What does the LED mean?", collection="lenient")
    assert not answered.not_covered and [n for n, _ in answered.sources] == [1]


def test_qa_questions_by_split_and_bad_files_named(tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text('{"question": "A?", "answer": "a", "split": "train"}\n'
                    '{"question": "B?", "answer": "b", "split": "test"}\n')
    assert read_questions(path) == ["A?", "B?"] and read_questions(path, "test") == ["B?"]
    path.write_text('{"question": "A?", "answer": "a"}\n')
    with pytest.raises(QAFileError, match="no questions in split 'test'"):
        read_questions(path, "test")
    path.write_text('{"question": "A?"}\n')
    with pytest.raises(QAFileError, match=r"qa.jsonl:1: each line needs"):
        read_questions(path)
    with pytest.raises(QAFileError, match=r"missing.jsonl: cannot read it"):
        read_questions(tmp_path / "missing.jsonl")
