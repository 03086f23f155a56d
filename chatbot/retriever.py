"""Hybrid retrieval over our own schema: HNSW vector search ⊕ Postgres full-text search, fused."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool
from pydantic import ConfigDict

from chatbot.embeddings import Embedder
from chatbot.storage.store import check_embedder

Mode = Literal["hybrid", "vector", "fts"]
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)

# The inner query is a plain top-k over `chunks`: a scan of the collection's own HNSW index (sql/007, a partial
# index the planner matches only when the collection id is a literal), iterative when a metadata filter applies.
# Documents are joined to the few rows it returns. A metadata filter matches chunk or document metadata.
_VECTOR_SQL = (
    "SELECT h.id, h.document_id, h.text, h.metadata, d.source, d.title, %(collection)s AS collection,"
    " 1 - h.distance AS similarity FROM ("
    "SELECT k.id, k.document_id, k.text, k.metadata, k.embedding <=> %(q)s AS distance FROM chunks k"
    " WHERE k.collection_id = {collection_id}{filter}"
    " ORDER BY k.embedding <=> %(q)s LIMIT %(limit)s) h JOIN documents d ON d.id = h.document_id ORDER BY h.distance"
)
# A metadata filter matches the chunk's or its document's metadata (both arms). Only added with a filter: a
# prepared (generic) plan cannot fold a NULL filter away, and its document subquery then scanned every document.
_FILTER_MATCH = ("(k.metadata @> %(filter)s"
                 " OR k.document_id IN (SELECT id FROM documents WHERE metadata @> %(filter)s))")


def vector_sql(collection_id: int, filtered: bool = False) -> sql.Composed:
    """The vector arm's query for one collection (params: q, collection, limit, and filter when `filtered`)."""
    return sql.SQL(_VECTOR_SQL).format(collection_id=sql.Literal(int(collection_id)),
                                       filter=sql.SQL(" AND " + _FILTER_MATCH if filtered else ""))


# The vector arm scores a chunk by its own similarity blended with its section's lead (the section's first chunk,
# the document's when it has no headings): (1 - w)·chunk + w·lead. A long document otherwise gets one lottery
# ticket per chunk, and a section's opening says what it is about (`ragbot eval retrieval --sweep` measures
# every weight). The lead is one probe of chunks_section_lead (sql/012), whatever the document's length.
_LEAD_SQL = (
    "SELECT v.*, (1 - %(lead)s) * v.similarity + %(lead)s * coalesce(1 - (l.embedding <=> %(q)s), v.similarity)"
    " AS score FROM ({vector}) v LEFT JOIN LATERAL (SELECT k.embedding FROM chunks k"
    " WHERE k.document_id = v.document_id"
    " AND md5(coalesce(k.metadata ->> 'heading', '')) = md5(coalesce(v.metadata ->> 'heading', ''))"
    " AND coalesce(k.metadata ->> 'heading', '') = coalesce(v.metadata ->> 'heading', '')"
    " ORDER BY k.ordinal LIMIT 1) l ON true ORDER BY score DESC, v.id"
)
_UNBLENDED_SQL = "SELECT v.*, v.similarity AS score FROM ({vector}) v ORDER BY score DESC, v.id"


def lead_blended_sql(collection_id: int, filtered: bool = False, blended: bool = True) -> sql.Composed:
    """The vector arm's query with each chunk's lead-blended score last (params: vector_sql's and lead); not
    `blended` (lead weight 0), the chunk's own similarity, without looking its lead up."""
    return sql.SQL(_LEAD_SQL if blended else _UNBLENDED_SQL).format(vector=vector_sql(collection_id, filtered))


# BM25 (Lucene's IDF, k1 and b from settings) over `chunk_terms` (sql/005_bm25.sql): the query's lexemes, their
# document frequencies and the collection's totals are read live, so scores match a BM25 index rebuilt now. Only
# the top chunks are joined to `chunks` (one index lookup each; joining every scored chunk made the planner scan
# the whole table); with a metadata filter each scored chunk is looked up, behind a fence that keeps it a lookup.
_BM25_SCORED = (
    "WITH s AS (SELECT chunk_count::float8 AS n, greatest(term_total::float8 / greatest(chunk_count, 1), 1) AS avgdl"
    " FROM collections WHERE id = {collection_id}),"
    " q AS (SELECT DISTINCT unnest(tsvector_to_array(to_tsvector('english', %(text)s))) AS term),"
    " idf AS (SELECT t.term, ln(1 + (s.n - count(*) + 0.5) / (count(*) + 0.5)) AS w"
    " FROM s, chunk_terms t JOIN q ON q.term = t.term WHERE t.collection_id = {collection_id} GROUP BY t.term, s.n),"
    " scored AS (SELECT t.chunk_id, sum(idf.w * t.tf * (%(k1)s + 1)"
    " / (t.tf + %(k1)s * (1 - %(b)s + %(b)s * t.chunk_length / s.avgdl))) AS rank"
    " FROM s, chunk_terms t JOIN idf ON idf.term = t.term WHERE t.collection_id = {collection_id}"
    " GROUP BY t.chunk_id),"
)
_BM25_TOP = " top AS (SELECT chunk_id, rank FROM scored ORDER BY rank DESC, chunk_id LIMIT %(limit)s)"
_BM25_TOP_FILTERED = (
    " top AS (SELECT sc.chunk_id, sc.rank FROM scored sc, LATERAL (SELECT k.metadata, k.document_id FROM chunks k"
    " WHERE k.id = sc.chunk_id OFFSET 0) k WHERE " + _FILTER_MATCH +
    " ORDER BY sc.rank DESC, sc.chunk_id LIMIT %(limit)s)"
)
_BM25_ROWS = (
    " SELECT k.id, k.document_id, k.text, k.metadata, d.source, d.title, %(collection)s,"
    " 1 - (k.embedding <=> %(q)s), top.rank FROM top JOIN chunks k ON k.id = top.chunk_id"
    " JOIN documents d ON d.id = k.document_id ORDER BY top.rank DESC, top.chunk_id"
)


def bm25_sql(collection_id: int, filtered: bool) -> sql.Composed:
    """The lexical arm's query for one collection (params: text, k1, b, limit, q, collection, filter)."""
    text = _BM25_SCORED + (_BM25_TOP_FILTERED if filtered else _BM25_TOP) + _BM25_ROWS
    return sql.SQL(text).format(collection_id=sql.Literal(int(collection_id)))


def lexical_text(question: str) -> str:
    """The question's words for BM25 (Postgres stems them and drops stop words); only words survive, at most 64."""
    return " ".join(_WORD.findall(question.lower())[:64])


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


def _min_max(scores: list[float]) -> list[float]:
    """Scores scaled to [0, 1] within one arm's list (all 1.0 when they are equal)."""
    low, high = min(scores), max(scores)
    return [1.0 if high == low else (x - low) / (high - low) for x in scores]


def _z_score(scores: list[float]) -> list[float]:
    """Scores as standard deviations above their list's mean (all 0.0 when they are equal)."""
    mean = sum(scores) / len(scores)
    spread = (sum((x - mean) ** 2 for x in scores) / len(scores)) ** 0.5
    return [0.0 if spread == 0 else (x - mean) / spread for x in scores]


def _distribution(scores: list[float]) -> list[float]:
    """Distribution-based score fusion's scaling: [mean - 3σ, mean + 3σ] mapped to [0, 1]."""
    return [0.5 + z / 6 for z in _z_score(scores)]


FusionMethod = Literal["minmax", "zscore", "dbsf"]
NORMALISERS = {"minmax": _min_max, "zscore": _z_score, "dbsf": _distribution}


def fuse(vector_hits: list[tuple[Hit, float]], lexical_hits: list[tuple[Hit, float]],
         lexical_weight: float, method: FusionMethod = "minmax") -> list[tuple[Hit, float]]:
    """Convex combination of the arms' normalised scores, (1 - w)·vector + w·lexical; a chunk one arm did not
    return scores that arm's floor there (0 for min-max and dbsf, the lowest returned z for zscore). w = 0 is the
    vector arm's ranking, w = 1 the lexical arm's."""
    normalise = NORMALISERS[method]
    fused: dict[int, float] = {}
    hits: dict[int, Hit] = {}
    seen: list[set[int]] = []
    floors: list[float] = []
    for arm, weight in ((vector_hits, 1.0 - lexical_weight), (lexical_hits, lexical_weight)):
        scaled = normalise([s for _, s in arm]) if arm else []
        floors.append(weight * min([*scaled, 0.0]) if method == "zscore" else 0.0)
        seen.append({hit.chunk_id for hit, _ in arm})
        for (hit, _), score in zip(arm, scaled, strict=True):
            hits[hit.chunk_id] = hit
            fused[hit.chunk_id] = fused.get(hit.chunk_id, 0.0) + weight * score
    for chunk_id in fused:
        fused[chunk_id] += sum(floor for floor, ids in zip(floors, seen, strict=True) if chunk_id not in ids)
    return [(hits[i], s) for i, s in sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))]


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
    lexical_weight: float | None = None  # None: the collection's calibrated weight, else default_lexical_weight
    default_lexical_weight: float = 0.3
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    lead_weight: float = 0.5
    metadata_filter: dict[str, Any] | None = None
    reranker: Any = None  # a sentence-transformers CrossEncoder, when configured

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        ranked, best = self._ranked(query)
        return [self._to_document(hit, score, best) for hit, score in ranked]

    def search(self, query: str) -> list[tuple[Hit, float]]:
        """Ranked (hit, score) pairs; the score is the fused (or reranked, or single-mode) score."""
        return self._ranked(query)[0]

    def _ranked(self, query: str) -> tuple[list[tuple[Hit, float]], float]:
        """`search`'s pairs and the best cosine similarity among all candidates of both arms: whether the question
        is covered at all must not depend on how the arms were fused (a BM25-led top k can hold only weaker
        vector matches)."""
        vector_hits, lexical_hits, calibrated, method = self._arms(query)
        best = max((h.similarity for h, _ in (*vector_hits, *lexical_hits)), default=0.0)
        if self.mode == "vector":
            ranked = vector_hits
        elif self.mode == "fts":
            ranked = lexical_hits
        else:
            weight = self.lexical_weight if self.lexical_weight is not None else calibrated
            ranked = fuse(vector_hits, lexical_hits, self.default_lexical_weight if weight is None else weight,
                          method if self.lexical_weight is None and calibrated is not None else "minmax")
        if self.reranker is not None and ranked:
            candidates = [h for h, _ in ranked]
            scores = self.reranker.predict([(query, h.text) for h in candidates])
            ranked = sorted(zip(candidates, map(float, scores), strict=True), key=lambda p: p[1], reverse=True)
        return ranked[: self.k], float(best)

    def arms(self, query: str) -> tuple[list[tuple[Hit, float]], list[tuple[Hit, float]]]:
        """The vector arm's (hit, lead-blended cosine similarity) and the lexical arm's (hit, BM25 score), best
        first; an arm the mode does not use is empty."""
        vector_hits, lexical_hits, _, _ = self._arms(query)
        return vector_hits, lexical_hits

    def _arms(self, query: str) -> tuple[list[tuple[Hit, float]], list[tuple[Hit, float]], float | None,
                                         FusionMethod]:
        """`arms`, the collection's calibrated lexical weight and the fusion method its calibration chose (min-max
        when none is recorded), read in one transaction."""
        vector = self.embedder.encode([query])[0]
        fetch = max(self.fetch_k, self.k)
        params = {"q": vector, "collection": self.collection, "limit": fetch, "text": lexical_text(query),
                  "filter": Jsonb(self.metadata_filter) if self.metadata_filter else None,
                  "k1": self.bm25_k1, "b": self.bm25_b, "lead": self.lead_weight}
        with self.pool.connection() as conn, conn.transaction():
            check_embedder(conn, self.collection, self.embedder.identity)
            row = conn.execute("SELECT id, lexical_weight, calibration->>'method' FROM collections WHERE name = %s",
                               (self.collection,)).fetchone()
            if row is None:
                return [], [], None, "minmax"
            collection_id, calibrated, recorded = row
            method: FusionMethod = recorded if recorded in NORMALISERS else "minmax"
            conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(max(self.ef_search, fetch)),))
            conn.execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)")
            filtered = bool(self.metadata_filter)
            vector_hits = [(Hit(*row[:-1]), float(row[-1])) for row in conn.execute(
                lead_blended_sql(collection_id, filtered, self.lead_weight > 0), params)] if self.mode != "fts" else []
            lexical_hits = [(Hit(*row[:-1]), float(row[-1])) for row in conn.execute(
                bm25_sql(collection_id, filtered), params)] if self.mode != "vector" and params["text"] else []
        return vector_hits, lexical_hits, calibrated, method

    @staticmethod
    def _to_document(hit: Hit, score: float, best_similarity: float | None = None) -> Document:
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
            "best_similarity": round(float(hit.similarity if best_similarity is None else best_similarity), 6),
        }
        return Document(page_content=hit.text, metadata=metadata, id=str(hit.chunk_id))
