"""The answer guard: run-offs end the answer; nothing sent is taken back; code and valid citations pass."""

from __future__ import annotations

import pytest

from chatbot.answer_guard import AnswerGuard, runoff_at


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
