"""A collection's retriever arms for calibration, fetched once per query: the abstention and the fusion
calibrations score the same titles and headings, so one embedding and two SQL queries serve both."""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from chatbot.retriever import Hit, PgRetriever

Arms = tuple[list[tuple[Hit, float]], list[tuple[Hit, float]]]


class ArmsSource(Protocol):
    """What the calibrations need of a retriever."""

    @property
    def collection(self) -> str: ...

    def arms(self, query: str) -> Arms: ...


def slim(arms: Arms) -> Arms:
    """The arms without their chunks' texts and metadata: the calibrations read each hit's source, chunk id and
    similarity and its score, and a calibration remembers some 600 queries' arms of up to 80 hits each."""
    vector, lexical = ([(replace(hit, text="", metadata={}), score) for hit, score in arm] for arm in arms)
    return vector, lexical


class CalibrationArms:
    """`retriever.arms`, remembered per query (slimmed) for one calibration run."""

    def __init__(self, retriever: PgRetriever) -> None:
        self.retriever = retriever
        self._fetched: dict[str, Arms] = {}

    @property
    def collection(self) -> str:
        return self.retriever.collection

    def arms(self, query: str) -> Arms:
        if query not in self._fetched:
            self._fetched[query] = slim(self.retriever.arms(query))
        return self._fetched[query]
