"""Ends a streamed answer where a small model runs off or loops.

Run-offs: it cites a source the prompt does not have, or starts a line like a source header (`[4] Title`: it
copied past the end of one source into the next, or invents one). Measured on python-faq (48 questions,
SmolLM2-135M): before this guard, 8 fine-tuned and 7 base answers counted citations up to [40] and more
("Yes. [1] [2] … [44]"), and 16 fine-tuned answers copied the next source's header.

Loops (`stop_loops`): a line said again (one with a letter or digit), or a span of `SPAN_WORDS` words said again.
A greedy decoder that repeats itself that far is back in a state it was in before, and goes round again ("A:\\nA:
\\nH:\\nA:…"); the answer ends before the repeat. `ragbot eval loops` measures it.

Text that could still become a run-off or a repeated line (a newline, an unfinished `[12`, a line that so far
matches an earlier one) is held back until it is decided, so nothing a client was sent is ever taken back (a
repeated span may have been sent in part: the answer then ends where the guard saw it).
"""

from __future__ import annotations

import re

from chatbot.loops import SPAN_WORDS, line_key

# A run of citations ("[1]", "[1][2]", "[1] [2]"), not an index into code: never right after a word, `)` or `]`.
_CITATION_RUN = re.compile(r"(?<![\w)\]])\[\d+\](?:[ \t]*\[\d+\])*")
_NUMBER = re.compile(r"\d+")
_HEADER_LINE = re.compile(r"\n[ \t]*\[\d+\]")
# Tails that may still become a run-off: a line start that may become a header, or an unfinished citation.
_UNDECIDED = re.compile(r"(?:\n[ \t]*)?\[\d*$|\n[ \t]*$")
_WORD = re.compile(r"\S+")
_LINE = re.compile(r"[^\n]*\n")


def runoff_at(text: str, n_sources: int) -> int | None:
    """Where the answer runs off (the index to cut at), or None."""
    cuts = [m.start() for m in _HEADER_LINE.finditer(text)]
    for run in _CITATION_RUN.finditer(text):
        for number in _NUMBER.finditer(run.group()):
            if not 1 <= int(number.group()) <= n_sources:
                cuts.append(run.start() + number.start() - 1)
                break
    return min(cuts) if cuts else None


def repeated_line_at(text: str) -> int | None:
    """The start of the first finished line (one ended by a newline) that repeats an earlier line, or None."""
    seen: set[str] = set()
    for line in _LINE.finditer(text):
        key = line_key(line.group())
        if key is None:
            continue
        if key in seen:
            return line.start()
        seen.add(key)
    return None


def repeated_span_at(text: str, n: int = SPAN_WORDS) -> int | None:
    """The start of the first span of `n` finished words (each followed by a space) said a second time, or None."""
    found = [m for m in _WORD.finditer(text) if m.end() < len(text)]
    tokens = [m.group().lower() for m in found]
    seen: set[tuple[str, ...]] = set()
    for i in range(len(tokens) - n + 1):
        span = tuple(tokens[i: i + n])
        if span in seen:
            return found[i].start()
        seen.add(span)
    return None


def loop_at(text: str) -> int | None:
    """Where the answer starts to loop (the index to cut at), or None."""
    cuts = [cut for cut in (repeated_line_at(text), repeated_span_at(text)) if cut is not None]
    return min(cuts) if cuts else None


def _maybe_repeat(text: str) -> int | None:
    """Where held-back text starts that may still become a repeat: the unfinished last line (with its newline)
    while it reads like an earlier line, or the last words while they read like the start of an earlier span."""
    holds = []
    start = text.rfind("\n") + 1
    partial = " ".join(text[start:].lower().split())
    if partial and start:
        earlier = {key for line in text[:start].splitlines() if (key := line_key(line)) is not None}
        if any(key.startswith(partial) for key in earlier):
            holds.append(start - 1)
    found = list(_WORD.finditer(text))
    tokens = [m.group().lower() for m in found]
    unfinished = not text[-1:].isspace()
    for i in range(max(1, len(tokens) - SPAN_WORDS), len(tokens)):
        tail = tokens[i:]
        if any(_reads_like(tokens[j: j + len(tail)], tail, unfinished) for j in range(i)):
            holds.append(found[i].start())
            break
    return min(holds) if holds else None


def _reads_like(earlier: list[str], tail: list[str], unfinished: bool) -> bool:
    """`tail` repeats `earlier` word for word (its last word, when unfinished, only so far)."""
    if len(earlier) != len(tail):
        return False
    if unfinished:
        return earlier[:-1] == tail[:-1] and earlier[-1].startswith(tail[-1])
    return earlier == tail


class AnswerGuard:
    """Feed the generator's pieces; emit what `feed` returns; stop generating once `stopped` is True."""

    def __init__(self, n_sources: int, stop_loops: bool = True) -> None:
        self.n_sources = n_sources
        self.stop_loops = stop_loops
        self.text = ""
        self.emitted = 0
        self.stopped = False

    def feed(self, piece: str) -> str:
        """The text that is now safe to send (possibly empty)."""
        if self.stopped:
            return ""
        self.text += piece
        line = max(self.text.rfind("\n", 0, self.emitted), 0)  # run-offs never span lines: scan the last one
        cut = runoff_at(self.text[line:], self.n_sources)
        cut = None if cut is None else cut + line
        if self.stop_loops and (loop := loop_at(self.text)) is not None:
            cut = loop if cut is None else min(cut, loop)
        if cut is not None:
            return self._stop(cut)
        holds = [len(self.text)]
        if undecided := _UNDECIDED.search(self.text):
            holds.append(undecided.start())
        if self.stop_loops and (repeat := _maybe_repeat(self.text)) is not None:
            holds.append(repeat)
        return self._release(min(holds))

    def finish(self) -> str:
        """The held-back rest, when the generator ends by itself (less a last line that repeats an earlier one)."""
        if self.stop_loops and not self.stopped and (cut := loop_at(self.text + "\n")) is not None:
            return self._stop(cut)
        return self._release(len(self.text))

    def _stop(self, cut: int) -> str:
        self.text = self.text[:cut].rstrip()
        self.stopped = True
        return self._release(len(self.text))

    def _release(self, end: int) -> str:
        end = max(end, self.emitted)
        out, self.emitted = self.text[self.emitted:end], end
        return out
