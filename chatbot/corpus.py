"""Read access to the collections, as training and evaluation need it: their chunks, a retriever per collection
and the embedder each collection records."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from chatbot.embeddings import Embedder
from chatbot.retriever import Mode, PgRetriever
from chatbot.storage.store import Store


class RetrieverFactory(Protocol):
    """A collection's retriever (`Services.retriever`); a None argument takes the configured default."""

    def __call__(self, collection: str | None = None, mode: Mode | None = None, k: int | None = None,
                 metadata_filter: dict | None = None) -> PgRetriever: ...


@dataclass(frozen=True)
class Corpus:
    """The store, a retriever factory, and the embedder to encode a collection's queries with."""

    store: Store
    retriever: RetrieverFactory
    embedder_for: Callable[[str], Embedder]
