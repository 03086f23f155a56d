"""One set of input limits for every entry point (API, Chat and Compare tabs, CLI), enforced by the chain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chatbot.settings import ServerSettings

History = Sequence[tuple[str, str]]  # (user question, assistant answer), oldest first


COLLECTION_CHARS = 100  # the API's cap on a collection name (`ChatRequest.collection`)


class InvalidInput(ValueError):
    """An input the server refuses. `field` names it: `question`, `history` or `collection`."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class InputTooLong(InvalidInput):
    """An input over a limit."""


def storable(text: str) -> str:
    """Refuse what Postgres cannot store (NUL) or UTF-8 cannot encode (lone surrogates, allowed as JSON escapes)."""
    if "\x00" in text:
        raise ValueError("must not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (it contains a lone surrogate)") from None
    return text


def check_collection(name: str | None) -> None:
    """The API's rules for a collection name, for every entry point: at most 100 characters, storable text."""
    if name is None:
        return
    if len(name) > COLLECTION_CHARS:
        raise InputTooLong("collection", f"{len(name):,} characters; at most {COLLECTION_CHARS} are accepted")
    try:
        storable(name)
    except ValueError as exc:
        raise InvalidInput("collection", str(exc)) from None


def history_chars(history: History) -> int:
    return sum(len(question) + len(answer) for question, answer in history)


@dataclass(frozen=True)
class InputLimits:
    question_chars: int = 4000
    history_turns: int = 20
    history_chars: int = 16000

    @classmethod
    def from_settings(cls, settings: ServerSettings) -> InputLimits:
        return cls(settings.max_question_chars, settings.max_history_turns, settings.max_history_chars)

    def check(self, question: str, history: History = ()) -> None:
        """Raise `InputTooLong` naming the first field over its limit."""
        if len(question) > self.question_chars:
            raise InputTooLong("question", f"{len(question):,} characters; at most {self.question_chars:,} "
                               "are accepted")
        if len(history) > self.history_turns:
            raise InputTooLong("history", f"{len(history)} earlier turns; at most {self.history_turns} are accepted")
        if (chars := history_chars(history)) > self.history_chars:
            raise InputTooLong("history", f"{chars:,} characters in the earlier turns; at most "
                               f"{self.history_chars:,} are accepted")

    def trim(self, history: History) -> list[tuple[str, str]]:
        """The newest turns within both limits (the oldest dropped first): a stored conversation goes on."""
        kept: list[tuple[str, str]] = []
        used = 0
        for turn in reversed(history[len(history) - self.history_turns:] if self.history_turns else ()):
            used += len(turn[0]) + len(turn[1])
            if used > self.history_chars:
                break
            kept.append(turn)
        return kept[::-1]
