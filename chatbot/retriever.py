"""Hybrid retrieval over our own schema: HNSW vector search ⊕ Postgres full-text search, fused."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool
from pydantic import ConfigDict

from chatbot.embeddings import Embedder
from chatbot.store import check_embedder

Mode = Literal["hybrid", "vector", "fts"]
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)

# The inner query is a plain top-k over `chunks` (an HNSW index scan, iterative when filtered); documents and
# collections are joined to the few rows it returns. A metadata filter matches chunk or document metadata.
_CANDIDATES = (
    "SELECT k.id, k.document_id, k.text, k.metadata, k.embedding <=> %(q)s AS distance{extra} FROM chunks k"
    " WHERE k.collection_id = (SELECT id FROM collections WHERE name = %(collection)s)"
    " AND (%(filter)s::jsonb IS NULL OR k.metadata @> %(filter)s"
    " OR k.document_id IN (SELECT id FROM documents WHERE metadata @> %(filter)s)){where}"
    " ORDER BY {order} LIMIT %(limit)s"
)
_OUTER = (
    "SELECT h.id, h.document_id, h.text, h.metadata, d.source, d.title, %(collection)s, 1 - h.distance"
    " FROM ({inner}) h JOIN documents d ON d.id = h.document_id ORDER BY {order}"
)
VECTOR_SQL = _OUTER.format(
    inner=_CANDIDATES.format(extra="", where="", order="k.embedding <=> %(q)s"), order="h.distance")
FTS_SQL = _OUTER.format(
    inner=_CANDIDATES.format(
        extra=", ts_rank_cd(k.tsv, websearch_to_tsquery('english', %(text)s), 32) AS rank",
        where=" AND k.tsv @@ websearch_to_tsquery('english', %(text)s)", order="rank DESC, k.id"),
    order="h.rank DESC, h.id")


def question_words(question: str) -> list[str]:
    """The question's words; operators (quotes, `-`, `or`) are neutralised: only words survive."""
    return [w for w in _WORD.findall(question.lower())[:64] if w != "or"]


def all_words_query(question: str) -> str:
    """For `websearch_to_tsquery`: every word required (Postgres drops the stop words)."""
    return " ".join(question_words(question))


def any_word_query(question: str) -> str:
    """For `websearch_to_tsquery`: any word matches."""
    return " or ".join(question_words(question))


@dataclass(frozen=True)
class Hit:
    chunk_id: int
    document_id: int
    text: str
    metadata: dict[str, Any]
    source: str
    title: str
    collection: str
    similarity: float


def reciprocal_rank_fusion(rankings: list[list[int]], weights: list[float], k: int) -> dict[int, float]:
    """Weighted RRF: Σ w / (k + rank) over the rankings each id appears in (ranks from 1)."""
    scores: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return scores


class PgRetriever(BaseRetriever):
    """Top-k chunks as LangChain `Document`s with chunk id, document id, source, title, page/heading, score."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    pool: ConnectionPool
    embedder: Embedder
    collection: str = "default"
    mode: Mode = "hybrid"
    k: int = 5
    fetch_k: int = 40
    ef_search: int = 100
    rrf_k: int = 10
    vector_weight: float = 1.0
    fts_weight: float = 0.3
    metadata_filter: dict[str, Any] | None = None
    reranker: Any = None  # a sentence-transformers CrossEncoder, when configured

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [self._to_document(hit, score) for hit, score in self.search(query)]

    def search(self, query: str) -> list[tuple[Hit, float]]:
        """Ranked (hit, score) pairs; the score is the fused (or reranked, or single-mode) score."""
        vector = self.embedder.encode([query])[0]
        fetch = max(self.fetch_k, self.k)
        params = {"q": vector, "collection": self.collection, "limit": fetch, "text": all_words_query(query),
                  "filter": Jsonb(self.metadata_filter) if self.metadata_filter else None}
        with self.pool.connection() as conn, conn.transaction():
            check_embedder(conn, self.collection, self.embedder.identity)
            conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(max(self.ef_search, fetch)),))
            conn.execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)")
            vector_hits = [Hit(*row) for row in conn.execute(VECTOR_SQL, params)] if self.mode != "fts" else []
            fts_hits = self._full_text(conn, params, query) if self.mode != "vector" and params["text"] else []
        by_id = {h.chunk_id: h for h in (*vector_hits, *fts_hits)}
        if self.mode == "vector":
            ranked = [(h, h.similarity) for h in vector_hits]
        elif self.mode == "fts":
            ranked = [(h, 1.0 / (self.rrf_k + rank)) for rank, h in enumerate(fts_hits, start=1)]
        else:
            fused = reciprocal_rank_fusion(
                [[h.chunk_id for h in vector_hits], [h.chunk_id for h in fts_hits]],
                [self.vector_weight, self.fts_weight],
                self.rrf_k,
            )
            ranked = [(by_id[i], s) for i, s in sorted(fused.items(), key=lambda kv: kv[1], reverse=True)]
        if self.reranker is not None and ranked:
            candidates = [h for h, _ in ranked]
            scores = self.reranker.predict([(query, h.text) for h in candidates])
            ranked = sorted(zip(candidates, map(float, scores), strict=True), key=lambda p: p[1], reverse=True)
        return ranked[: self.k]

    @staticmethod
    def _full_text(conn: Any, params: dict[str, Any], query: str) -> list[Hit]:
        """Chunks holding all the question's words (precise: measured best for fusion on python-faq); when no
        chunk holds them all, chunks holding any of them (so full text alone always finds something)."""
        hits = [Hit(*row) for row in conn.execute(FTS_SQL, params)]
        if not hits:
            hits = [Hit(*row) for row in conn.execute(FTS_SQL, {**params, "text": any_word_query(query)})]
        return hits

    @staticmethod
    def _to_document(hit: Hit, score: float) -> Document:
        metadata = {
            "chunk_id": hit.chunk_id,
            "document_id": hit.document_id,
            "source": hit.source,
            "title": hit.title,
            "collection": hit.collection,
            "page": hit.metadata.get("page"),
            "heading": hit.metadata.get("heading"),
            "score": round(float(score), 6),
            "similarity": round(float(hit.similarity), 6),
        }
        return Document(page_content=hit.text, metadata=metadata, id=str(hit.chunk_id))
