"""The input limits every entry point shares (`chatbot.limits`), and the chain enforcing them."""

from __future__ import annotations

import pytest

from chatbot.limits import InputLimits, InputTooLong
from chatbot.settings import Settings
from tests.unit.test_chain import doc, make_chain

LIMITS = InputLimits(question_chars=10, history_turns=2, history_chars=12)


def test_inputs_at_the_limits_pass():
    LIMITS.check("q" * 10, [("a" * 3, "b" * 3), ("c" * 3, "d" * 3)])


@pytest.mark.parametrize("question,history,field,says", [
    ("q" * 11, [], "question", "question: 11 characters; at most 10"),
    ("q", [("a", "b")] * 3, "history", "history: 3 earlier turns; at most 2"),
    ("q", [("a" * 7, "b" * 6)], "history", "history: 13 characters in the earlier turns; at most 12"),
])
def test_over_a_limit_names_the_field(question, history, field, says):
    with pytest.raises(InputTooLong, match=says) as refused:
        LIMITS.check(question, history)
    assert refused.value.field == field


def test_a_stored_history_keeps_its_newest_turns_within_the_limits():
    history = [("old", "er"), ("a" * 4, "b"), ("c", "d" * 4)]
    assert LIMITS.trim(history) == [("a" * 4, "b"), ("c", "d" * 4)]
    assert LIMITS.trim([("x" * 13, "")]) == []
    assert InputLimits(10, 0, 100).trim(history) == []


def test_the_defaults_come_from_the_settings():
    limits = InputLimits.from_settings(Settings(_env_file=None))
    assert (limits.question_chars, limits.history_turns, limits.history_chars) == (4000, 20, 16000)


def test_the_chain_refuses_an_oversized_question_before_retrieving_or_generating():
    chain, generators = make_chain("never", [doc("warranty is 24 months", 0.8)])
    with pytest.raises(InputTooLong, match="question: 4,001 characters"):
        chain.invoke("x" * 4001)
    with pytest.raises(InputTooLong, match="history: 21 earlier turns"):
        chain.invoke("ok?", history=[("q", "a")] * 21)
    assert generators.calls == 0


def test_the_chain_refuses_a_question_that_cannot_fit_the_window_beside_the_answer():
    chain, _ = make_chain("never", [doc("warranty is 24 months", 0.8)], window=140)  # cap: 140 - 20 fake tokens
    with pytest.raises(InputTooLong, match="tokens with the instructions; at most 120 fit"):
        chain.invoke("word " * 120, use_retrieval=False)
    messages, fitted = chain.build_messages("short?", [doc("w " * 30, 0.9), doc("v " * 30, 0.8)])
    assert len(fitted) == 1 and chain.generators.prompt_tokens(messages) <= 120
