"""What counts as a looping answer: a line, or a span of at least `SPAN_WORDS` words, repeated `LOOP_TIMES` times.

The measure behind the decoding defaults (`ragbot eval loops`) and the rule the answer guard stops on."""

from __future__ import annotations

import re
from collections import Counter

SPAN_WORDS = 8
LOOP_TIMES = 3
_SPACES = re.compile(r"\s+")
_WORD_CHAR = re.compile(r"\w")


def line_key(line: str) -> str | None:
    """A line as compared for repeats (case and spacing ignored); None for lines that may repeat freely: blank
    ones and those without a letter or digit (code fences, `}`, `---`)."""
    key = _SPACES.sub(" ", line).strip().lower()
    return key if _WORD_CHAR.search(key) else None


def words(text: str) -> list[str]:
    return text.lower().split()


def repeated_line(text: str, times: int = LOOP_TIMES) -> str | None:
    """A line that occurs at least `times` times, or None."""
    counts = Counter(key for line in text.splitlines() if (key := line_key(line)) is not None)
    return next((line for line, count in counts.items() if count >= times), None)


def repeated_span(text: str, n: int = SPAN_WORDS, times: int = LOOP_TIMES) -> str | None:
    """A span of `n` words that occurs at least `times` times (overlaps count), or None."""
    tokens = words(text)
    counts = Counter(tuple(tokens[i: i + n]) for i in range(len(tokens) - n + 1))
    return next((" ".join(span) for span, count in counts.items() if count >= times), None)


def has_loop(text: str) -> bool:
    """A line or a span of `SPAN_WORDS` words repeated `LOOP_TIMES` times."""
    return repeated_line(text) is not None or repeated_span(text) is not None
