"""The answer guard: run-offs and loops end the answer; nothing sent is taken back; code, valid citations and
answers that do not loop pass."""

from __future__ import annotations

import pytest

from chatbot.answer_guard import AnswerGuard, loop_at, runoff_at
from chatbot.loops import has_loop, repeated_span


def stream_through(text: str, n_sources: int, piece: int = 1) -> tuple[str, AnswerGuard]:
    """Feed `text` in pieces of `piece` characters, as a generator would; return what was sent."""
    guard, sent = AnswerGuard(n_sources), []
    for i in range(0, len(text), piece):
        sent.append(guard.feed(text[i: i + piece]))
        if guard.stopped:
            break
    sent.append(guard.finish())
    return "".join(sent), guard


@pytest.mark.parametrize("piece", [1, 3, 1000])
@pytest.mark.parametrize(("text", "n_sources", "expected", "stops"), [
    # the counting loop a small model falls into: ends before the first source that does not exist
    ("Yes. [1] [2] [3] [4] [5] [6] [7] [8]", 5, "Yes. [1] [2] [3] [4] [5]", True),
    ("See [1][9] here", 3, "See [1]", True),
    # copying past the end of a source into the next source's header
    ("Use a tuple.\n\n[4] 5. Data Structures\nA special problem", 5, "Use a tuple.", True),
    ("The answer is:\n[6] Python manages memory.", 5, "The answer is:", True),
    # without retrieval any citation is invented
    ("Python is great [1].", 0, "Python is great", True),
    # code that indexes, and valid citations, go through whole
    (">>> word[42]  # too large\nIndexError [1]", 2, ">>> word[42]  # too large\nIndexError [1]", False),
    ("x = d[0][12] works [1][2].\nNext line.\n", 2, "x = d[0][12] works [1][2].\nNext line.\n", False),
])
def test_runoffs_end_the_answer_and_the_rest_passes(text, n_sources, expected, stops, piece):
    sent, guard = stream_through(text, n_sources, piece)
    assert (sent.rstrip() if stops else sent) == expected  # whitespace before a cut may have been sent
    assert guard.stopped is stops


def test_text_that_may_become_a_runoff_is_held_until_decided():
    guard = AnswerGuard(2)
    assert guard.feed("Done.\n") == "Done."
    assert guard.feed("[") == ""
    assert guard.feed("1") == ""
    assert guard.feed("] Title") == "" and guard.stopped  # a header line: the held "\n[1" is never sent
    guard = AnswerGuard(2)
    assert guard.feed("Done.\n") == "Done." and guard.feed("More") == "\nMore" and not guard.stopped


def test_runoff_at_names_the_first_cut():
    assert runoff_at("a [1] b [3] c\n[2] T", 2) == len("a [1] b ")
    assert runoff_at("plain text [1]", 1) is None


@pytest.mark.parametrize("piece", [1, 4, 1000])
@pytest.mark.parametrize(("text", "expected"), [
    # the line loop from the issue: ends before the first line said again
    ("1.\n\nA factory reset is a process.\n\nA:\n\nA:\nA:\nA user can only reset it.\nH:\nA:\nH:\nH:",
     "1.\n\nA factory reset is a process.\n\nA:"),
    # a phrase loop inside one line: ends where the 8-word span starts again
    ("Hold the reset button for fifteen seconds until it blinks. Hold the reset button for fifteen seconds until "
     "it blinks. Hold the", "Hold the reset button for fifteen seconds until it blinks."),
])
def test_loops_end_the_answer_before_the_repeat(text, expected, piece):
    sent, guard = stream_through(text, 2, piece)
    assert sent.rstrip() == expected and guard.stopped
    assert not has_loop(sent)


@pytest.mark.parametrize("text", [
    "Steps:\n1. Open the app.\n2. Tap Hub.\n```\n}\n}\n```\n---\n---\nDone [1].",  # lines without words repeat
    "Use the app.\nUse the app settings.\nUse the app now.",  # lines that only begin alike
])
def test_answers_that_do_not_loop_pass_whole(text):
    sent, guard = stream_through(text, 2)
    assert sent == text and not guard.stopped


def test_a_line_that_reads_like_an_earlier_one_is_held_until_it_differs():
    guard = AnswerGuard(2)
    assert guard.feed("Tap Hub.\n") == "Tap Hub."
    assert guard.feed("Tap") == ""
    assert guard.feed(" Restart.") == "\nTap Restart."
    assert guard.feed("\nTap Hub.") == ""
    assert guard.finish() == "" and guard.stopped  # the last line, said again, is dropped at the end too


def test_loop_stopping_can_be_turned_off():
    text = "A:\nA:\nA:\n"
    assert stream_through(text, 2)[0].rstrip() == "A:"
    guard = AnswerGuard(2, stop_loops=False)
    assert guard.feed(text) + guard.finish() == text


def test_loop_at_and_the_loop_measure():
    assert loop_at("a\nb\na\n") == 4
    assert loop_at("a\nb\na") is None  # an unfinished line is not decided yet
    assert has_loop("x\nx\nx") and not has_loop("x\nx")
    assert repeated_span("one two three four five six seven eight " * 3) is not None
    assert repeated_span("one two three four five six seven eight " * 2) is None
    assert not has_loop("}\n}\n}\n")  # lines without a letter or digit do not count
