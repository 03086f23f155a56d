"""A collection's retriever arms for calibration, fetched once per query: the abstention and the fusion
calibrations score the same titles and headings, so one embedding and two SQL queries serve both."""

from __future__ import annotations

from typing import Protocol

from chatbot.retriever import Hit, PgRetriever

Arms = tuple[list[tuple[Hit, float]], list[tuple[Hit, float]]]


class ArmsSource(Protocol):
    """What the calibrations need of a retriever."""

    @property
    def collection(self) -> str: ...

    def arms(self, query: str) -> Arms: ...


class CalibrationArms:
    """`retriever.arms`, remembered per query for one calibration run."""

    def __init__(self, retriever: PgRetriever) -> None:
        self.retriever = retriever
        self._fetched: dict[str, Arms] = {}

    @property
    def collection(self) -> str:
        return self.retriever.collection

    def arms(self, query: str) -> Arms:
        if query not in self._fetched:
            self._fetched[query] = self.retriever.arms(query)
        return self._fetched[query]
