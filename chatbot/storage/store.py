"""Documents and chunks in Postgres: the only module that writes them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import numpy as np
import psycopg
import psycopg.sql
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool
from tqdm import tqdm

from chatbot.embeddings import EmbedderIdentity
from chatbot.remote_embeddings import settings_that_make
from chatbot.storage.db import DatabaseError

T = TypeVar("T")
# A 100k-chunk collection of 384-dim vectors needs ~200 MB to build its HNSW graph in memory (pgvector warns and
# builds slower on disk beyond maintenance_work_mem, 64 MB by default).
BULK_BUILD_MEMORY = "1GB"

_EMBEDDER_RECORD = (
    "SELECT c.id, c.embedder_model, c.embedder_backend, c.embedder_dim,"
    " EXISTS (SELECT 1 FROM chunks k WHERE k.collection_id = c.id) FROM collections c WHERE c.name = %s"
)


# Chunks of the document(s) named by a source key (a source, its file name, or a BEIR `corpus_id`), with their
# similarity to a vector. No ORDER BY on the vector column: with a filter, an HNSW scan could miss the document's
# chunks entirely.
_DOCUMENT_CHUNKS = (
    "SELECT k.id, k.document_id, k.text, k.metadata, d.source, d.title, c.name,"
    " 1 - (k.embedding <=> %(q)s) AS similarity, k.ordinal"
    " FROM chunks k JOIN documents d ON d.id = k.document_id JOIN collections c ON c.id = d.collection_id"
    " WHERE c.name = %(collection)s AND (d.source = %(key)s"
    " OR right(d.source, length(%(key)s) + 1) = '/' || %(key)s"
    " OR d.metadata->>'corpus_id' = %(key)s)"
)


def fetch_as(pool: ConnectionPool, row_type: Callable[..., T], query: str, params: Any = None) -> list[T]:
    """`query`'s rows, each made into `row_type` by position: the one row mapping of the store modules."""
    with pool.connection() as conn:
        rows = conn.execute(query, params).fetchall()
    return [row_type(*row) for row in rows]


def record_embedder(conn: psycopg.Connection, collection_id: int, embedder: EmbedderIdentity) -> None:
    """Record `embedder` as the one that wrote the collection's vectors."""
    conn.execute("UPDATE collections SET embedder_model = %s, embedder_backend = %s, embedder_dim = %s WHERE id = %s",
                 (embedder.model, embedder.backend, embedder.dimension, collection_id))


class EmbedderMismatch(DatabaseError):
    """A collection's vectors were written by another embedder than the configured one."""


def check_embedder(conn: psycopg.Connection, collection: str, embedder: EmbedderIdentity, *,
                   claim: bool = False) -> None:
    """The one check before vectors are compared or added: raise `EmbedderMismatch` unless `collection`'s vectors
    were made by `embedder` (an unknown or empty collection passes). A collection with no record predates them:
    its vectors came from the torch backend of the configured model. With `claim` (inside a write's transaction)
    the collection row is locked against a concurrent re-embed and `embedder` is recorded when nothing is, or
    when the collection holds no vectors yet."""
    row = conn.execute(_EMBEDDER_RECORD + (" FOR UPDATE OF c" if claim else ""), (collection,)).fetchone()
    if row is None:
        return
    collection_id, model, backend, dim, has_vectors = row
    recorded = EmbedderIdentity(model, backend, dim) if model is not None else None
    stored = recorded or EmbedderIdentity(embedder.model, "torch", embedder.dimension)
    if has_vectors and stored != embedder:
        made_by = str(stored) if recorded else f"{stored}, from before embedder records"
        raise EmbedderMismatch(
            f"collection '{collection}' holds vectors made by {made_by}, but the configured embedder is {embedder}."
            f" Vectors of different embedders must not be compared: configure the collection's embedder again"
            f" ({settings_that_make(stored)}), or re-embed the collection with the"
            f" configured one: `ragbot reembed --collection {collection}`"
        )
    if claim and recorded != embedder:
        record_embedder(conn, collection_id, embedder)


@dataclass(frozen=True)
class NewChunk:
    text: str
    token_count: int
    embedding: np.ndarray
    metadata: dict[str, Any]


@dataclass(frozen=True)
class WriteResult:
    document_id: int
    created: bool
    chunks_added: int
    chunks_removed: int


@dataclass(frozen=True)
class DocumentInfo:
    id: int
    collection: str
    source: str
    title: str
    sha256: str
    chunks: int
    ingested_at: datetime
    metadata: dict[str, Any]


@dataclass(frozen=True)
class IndexFootprint:
    """A collection's share of the chunks table: its chunks, all chunks, and the bytes of the table with its
    indexes and of the collection's own HNSW index."""

    chunks: int
    total_chunks: int
    table_bytes: int
    hnsw_bytes: int


class Store:
    """Transactional writes and simple reads over collections, documents and chunks."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def document_hash(self, collection: str, source: str) -> str | None:
        """The stored sha256 of a source, or None when it is not stored."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT d.sha256 FROM documents d JOIN collections c ON c.id = d.collection_id"
                " WHERE c.name = %s AND d.source = %s",
                (collection, source),
            ).fetchone()
        return row[0] if row else None

    def document_hashes(self, collection: str) -> dict[str, str]:
        """source → sha256 for a whole collection (one query, for bulk ingests)."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT d.source, d.sha256 FROM documents d JOIN collections c ON c.id = d.collection_id"
                " WHERE c.name = %s",
                (collection,),
            ).fetchall()
        return dict(rows)

    def write_document(
        self,
        collection: str,
        source: str,
        sha256: str,
        title: str,
        metadata: dict[str, Any],
        chunks: list[NewChunk],
        embedder: EmbedderIdentity,
    ) -> WriteResult:
        """Insert or replace one document and all its chunks (made by `embedder`) in a single transaction."""
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(
                "INSERT INTO collections (name, embedder_model, embedder_backend, embedder_dim)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (name) DO NOTHING",
                (collection, embedder.model, embedder.backend, embedder.dimension),
            )
            check_embedder(conn, collection, embedder, claim=True)
            document_id, created = conn.execute(
                "INSERT INTO documents (collection_id, source, sha256, title, metadata)"
                " SELECT id, %s, %s, %s, %s FROM collections WHERE name = %s"
                " ON CONFLICT (collection_id, source) DO UPDATE SET sha256 = EXCLUDED.sha256,"
                " title = EXCLUDED.title, metadata = EXCLUDED.metadata, ingested_at = now()"
                " RETURNING id, (xmax = 0)",
                (source, sha256, title, Jsonb(metadata), collection),
            ).fetchone()
            removed = conn.execute("DELETE FROM chunks WHERE document_id = %s", (document_id,)).rowcount
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO chunks (document_id, collection_id, ordinal, text, token_count, embedding, metadata)"
                    " SELECT %s, collection_id, %s, %s, %s, %s, %s FROM documents WHERE id = %s",
                    [
                        (document_id, ordinal, c.text, c.token_count, c.embedding, Jsonb(c.metadata), document_id)
                        for ordinal, c in enumerate(chunks)
                    ],
                )
        return WriteResult(document_id, bool(created), len(chunks), removed)

    def recorded_embedder(self, collection: str) -> EmbedderIdentity | None:
        """The embedder the collection records (None: unknown collection, or from before embedder records)."""
        with self.pool.connection() as conn:
            row = conn.execute("SELECT embedder_model, embedder_backend, embedder_dim FROM collections"
                               " WHERE name = %s", (collection,)).fetchone()
        return EmbedderIdentity(*row) if row and row[0] is not None else None

    def check_embedder(self, collection: str, embedder: EmbedderIdentity) -> None:
        """`check_embedder` on a connection of its own (to fail before any work)."""
        with self.pool.connection() as conn:
            check_embedder(conn, collection, embedder)

    def reembed(self, collection: str, embedder: EmbedderIdentity, encode: Callable[[list[str]], np.ndarray],
                batch: int = 256) -> int:
        """Re-encode every chunk of `collection` and record `embedder`, all in one transaction (queries see the
        old vectors until it commits; writes to the collection wait). Returns the number of chunks."""
        with self.pool.connection() as conn, conn.transaction():
            row = conn.execute("SELECT id FROM collections WHERE name = %s FOR UPDATE", (collection,)).fetchone()
            if row is None:
                raise ValueError(f"no collection '{collection}'")
            chunks = conn.execute("SELECT id, text FROM chunks WHERE collection_id = %s ORDER BY id", row).fetchall()
            with conn.cursor() as cur, tqdm(total=len(chunks), unit="chunk", desc="re-embed", disable=None) as bar:
                for start in range(0, len(chunks), batch):
                    part = chunks[start: start + batch]
                    vectors = encode([text for _, text in part])
                    cur.executemany("UPDATE chunks SET embedding = %s WHERE id = %s",
                                    [(v, chunk_id) for (chunk_id, _), v in zip(part, vectors, strict=True)])
                    bar.update(len(part))
            record_embedder(conn, row[0], embedder)
        return len(chunks)

    def sources_with(self, collection: str, key: str, value: str) -> list[str]:
        """Sources of the documents whose metadata has `key` = `value` (e.g. the loader that made them)."""
        with self.pool.connection() as conn:
            return [row[0] for row in conn.execute(
                "SELECT d.source FROM documents d JOIN collections c ON c.id = d.collection_id"
                " WHERE c.name = %s AND d.metadata->>%s = %s ORDER BY d.source", (collection, key, value))]

    def delete_source(self, collection: str, source: str) -> int:
        """Delete one document by source; returns how many documents went (0 or 1)."""
        with self.pool.connection() as conn, conn.transaction():
            row = conn.execute(
                "WITH gone AS (DELETE FROM documents d USING collections c WHERE c.id = d.collection_id"
                " AND c.name = %s AND d.source = %s RETURNING d.id)"
                " SELECT count(*) FROM gone",
                (collection, source),
            ).fetchone()
            return int(row[0])

    def delete_document(self, document_id: int) -> bool:
        with self.pool.connection() as conn, conn.transaction():
            return conn.execute("DELETE FROM documents WHERE id = %s", (document_id,)).rowcount > 0

    def delete_collection(self, collection: str) -> int:
        """Delete a collection with its documents; returns how many documents went."""
        with self.pool.connection() as conn, conn.transaction():
            count = conn.execute(
                "SELECT count(*) FROM documents d JOIN collections c ON c.id = d.collection_id WHERE c.name = %s",
                (collection,),
            ).fetchone()[0]
            conn.execute("DELETE FROM collections WHERE name = %s", (collection,))
        return int(count)

    def list_documents(self, collection: str | None = None) -> list[DocumentInfo]:
        return fetch_as(self.pool, DocumentInfo,
                        "SELECT d.id, c.name, d.source, d.title, d.sha256,"
                        " (SELECT count(*) FROM chunks k WHERE k.document_id = d.id), d.ingested_at, d.metadata"
                        " FROM documents d JOIN collections c ON c.id = d.collection_id"
                        " WHERE %(c)s::text IS NULL OR c.name = %(c)s ORDER BY c.name, d.source", {"c": collection})

    def chunk_texts(self, collection: str) -> list[tuple[str, str]]:
        """(source, heading + text) of every chunk of `collection`: what its lexical arm indexes."""
        with self.pool.connection() as conn:
            return [(source, text) for source, text in conn.execute(
                "SELECT d.source, concat_ws(E'\\n', k.metadata->>'heading', k.text) FROM chunks k"
                " JOIN documents d ON d.id = k.document_id JOIN collections c ON c.id = k.collection_id"
                " WHERE c.name = %s ORDER BY k.id", (collection,))]

    def chunk_count(self, collection: str) -> int:
        """How many chunks `collection` holds (0 when there is no such collection)."""
        with self.pool.connection() as conn:
            return int(conn.execute(
                "SELECT count(k.id) FROM chunks k JOIN documents d ON d.id = k.document_id"
                " JOIN collections c ON c.id = d.collection_id WHERE c.name = %s", (collection,)).fetchone()[0])

    def collection_id(self, collection: str) -> int | None:
        with self.pool.connection() as conn:
            row = conn.execute("SELECT id FROM collections WHERE name = %s", (collection,)).fetchone()
        return row[0] if row else None

    def document_chunks(self, collection: str, key: str, vector: Any) -> list[tuple[Any, ...]]:
        """The chunks of the document(s) that source key `key` names: (chunk id, document id, text, metadata,
        source, title, collection, similarity to `vector`, ordinal), in no particular order."""
        with self.pool.connection() as conn:
            return conn.execute(_DOCUMENT_CHUNKS, {"q": vector, "collection": collection, "key": key}).fetchall()

    def titled_chunks(self, collection: str) -> list[tuple[str | None, str | None, str]]:
        """(document title, section heading, text) of every chunk of `collection`, in chunk order."""
        with self.pool.connection() as conn:
            return conn.execute(
                "SELECT d.title, k.metadata->>'heading', k.text FROM chunks k JOIN documents d ON d.id = k.document_id"
                " WHERE k.collection_id = (SELECT id FROM collections WHERE name = %s) ORDER BY k.id",
                (collection,)).fetchall()

    def chunk_documents(self, collection: str) -> list[tuple[int, str]]:
        """(document id, text) of every chunk of `collection`, in chunk order."""
        with self.pool.connection() as conn:
            return conn.execute(
                "SELECT k.document_id, k.text FROM chunks k WHERE k.collection_id ="
                " (SELECT id FROM collections WHERE name = %s) ORDER BY k.id", (collection,)).fetchall()

    def texts_in_document_order(self, collection: str) -> list[str]:
        """The text of every chunk of `collection`, document by document, each in reading order."""
        with self.pool.connection() as conn:
            return [row[0] for row in conn.execute(
                "SELECT k.text FROM chunks k JOIN collections c ON c.id = k.collection_id WHERE c.name = %s"
                " ORDER BY k.document_id, k.ordinal", (collection,))]

    def sample_texts(self, collection: str, limit: int) -> list[str]:
        """The texts of `collection`'s first `limit` chunks (by id)."""
        with self.pool.connection() as conn:
            return [row[0] for row in conn.execute(
                "SELECT text FROM chunks WHERE collection_id = (SELECT id FROM collections WHERE name = %s)"
                " ORDER BY id LIMIT %s", (collection, limit))]

    def embeddings(self, collection: str) -> list[np.ndarray]:
        """Every chunk vector of `collection` (float32), in no particular order."""
        with self.pool.connection() as conn:
            rows = conn.execute("SELECT k.embedding FROM chunks k JOIN collections c ON c.id = k.collection_id"
                                " WHERE c.name = %s", (collection,)).fetchall()
        return [row[0].to_numpy().astype(np.float32) for row in rows]

    def index_footprint(self, collection: str) -> IndexFootprint:
        """`collection`'s chunks beside all chunks, the chunks table with its indexes, and the collection's own
        HNSW index (sql/007)."""
        with self.pool.connection() as conn:
            chunks, total = conn.execute(
                "SELECT count(*) FILTER (WHERE collection_id = (SELECT id FROM collections WHERE name = %s)),"
                " count(*) FROM chunks", (collection,)).fetchone()
            table_bytes, hnsw_bytes = conn.execute(
                "SELECT pg_total_relation_size('chunks'),"
                " coalesce(pg_relation_size(to_regclass(collection_hnsw_name(id))), 0)"
                " FROM collections WHERE name = %s", (collection,)).fetchone() or (0, 0)
        return IndexFootprint(chunks, total, table_bytes, hnsw_bytes)

    def claim_for(self, collection: str, embedder: EmbedderIdentity) -> None:
        """Record `embedder` as the maker of an existing collection's vectors (whatever made them)."""
        with self.pool.connection() as conn, conn.transaction():
            collection_id = conn.execute("SELECT id FROM collections WHERE name = %s", (collection,)).fetchone()[0]
            record_embedder(conn, collection_id, embedder)

    def bulk_load(self, collection: str, embedder: EmbedderIdentity,
                  documents: Iterable[tuple[str, str, str, list[NewChunk]]]) -> None:
        """Create `collection` with (source, sha256, title, chunks) documents by COPY, in one transaction: the fast
        path for large synthetic collections (the collection must not exist). Its HNSW index is dropped for the
        COPY and built once at the end, with enough memory to build the graph in memory."""
        with self.pool.connection() as conn, conn.transaction():
            collection_id = conn.execute(
                "INSERT INTO collections (name, embedder_model, embedder_backend, embedder_dim)"
                " VALUES (%s, %s, %s, %s) RETURNING id",
                (collection, embedder.model, embedder.backend, embedder.dimension)).fetchone()[0]
            index = conn.execute("SELECT collection_hnsw_name(%s)", (collection_id,)).fetchone()[0]
            conn.execute(psycopg.sql.SQL("DROP INDEX {}").format(psycopg.sql.Identifier(index)))
            for source, sha256, title, chunks in documents:
                document_id = conn.execute(
                    "INSERT INTO documents (collection_id, source, sha256, title) VALUES (%s, %s, %s, %s)"
                    " RETURNING id", (collection_id, source, sha256, title)).fetchone()[0]
                with conn.cursor().copy(
                    "COPY chunks (document_id, collection_id, ordinal, text, token_count, embedding, metadata)"
                    " FROM STDIN"
                ) as copy:
                    for ordinal, c in enumerate(chunks):
                        copy.write_row((document_id, collection_id, ordinal, c.text, c.token_count, c.embedding,
                                        Jsonb(c.metadata)))
            conn.execute("SELECT set_config('maintenance_work_mem', %s, true)", (BULK_BUILD_MEMORY,))
            conn.execute("SELECT collection_hnsw_build(%s)", (collection_id,))

    def indexed_ids(self, query: psycopg.sql.Composable, params: dict[str, Any],
                    ef_searches: Sequence[int]) -> tuple[dict[int, list[Any]], dict[int, float]]:
        """The ids `query` (the retriever's vector SQL) finds through the HNSW index at each ef_search, with the
        seconds each search took."""
        found, seconds = {}, {}
        with self.pool.connection() as conn:
            for ef_search in ef_searches:
                with conn.transaction():
                    conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(ef_search),))
                    conn.execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)")
                    started = time.perf_counter()
                    found[ef_search] = [r[0] for r in conn.execute(query, params, prepare=False)]
                    seconds[ef_search] = time.perf_counter() - started
        return found, seconds

    def exact_ids(self, query: psycopg.sql.Composable, params: dict[str, Any]) -> list[Any]:
        """The ids `query` finds by exact search (no index): what `indexed_ids` is scored against."""
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SET LOCAL enable_indexscan = off")
            return [r[0] for r in conn.execute(query, params, prepare=False)]  # never share a plan

    def collection_stats(self) -> list[dict[str, Any]]:
        """Per collection: documents, chunks, tokens."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT c.name, count(DISTINCT d.id), count(k.id), coalesce(sum(k.token_count), 0)"
                " FROM collections c LEFT JOIN documents d ON d.collection_id = c.id"
                " LEFT JOIN chunks k ON k.document_id = d.id GROUP BY c.name ORDER BY c.name"
            ).fetchall()
        return [{"collection": n, "documents": d, "chunks": k, "tokens": int(t)} for n, d, k, t in rows]

    def collection_embedders(self) -> dict[str, EmbedderIdentity | None]:
        """Each collection → the embedder its vectors come from (None: from before embedder records)."""
        with self.pool.connection() as conn:
            rows = conn.execute("SELECT name, embedder_model, embedder_backend, embedder_dim FROM collections"
                                " ORDER BY name").fetchall()
        return {name: EmbedderIdentity(*rest) if rest[0] is not None else None for name, *rest in rows}


# Titles and headings that name exactly one document of the collection, each with that document's source; a
# stable pseudo-random sample (by hash), so calibrations of an unchanged collection agree.
_PSEUDO_QUERIES = (
    "WITH c AS (SELECT id FROM collections WHERE name = %(collection)s),"
    " named AS (SELECT d.title AS text, d.source FROM documents d, c WHERE d.collection_id = c.id"
    " AND length(d.title) BETWEEN 3 AND 200 AND d.title <> d.source"
    " UNION SELECT k.metadata->>'heading', d.source FROM chunks k JOIN documents d ON d.id = k.document_id, c"
    " WHERE k.collection_id = c.id AND length(k.metadata->>'heading') BETWEEN 3 AND 200),"
    " unique_names AS (SELECT text, min(source) AS source FROM named GROUP BY text HAVING count(DISTINCT source) = 1)"
    " SELECT text, source FROM unique_names ORDER BY md5(text) LIMIT %(limit)s"
)


@dataclass(frozen=True)
class FusionState:
    """A collection's calibrated lexical weight (None: never calibrated), its chunk counts then and now, and the
    calibration's record (rule, queries, margin, fallback; None: never calibrated)."""

    lexical_weight: float | None
    calibrated_chunks: int | None
    chunk_count: int
    calibration: dict[str, Any] | None = None


class FusionRecords:
    """The per-collection fusion calibration (sql/005_bm25.sql)."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def pseudo_queries(self, collection: str, limit: int) -> list[tuple[str, str]]:
        """(title or heading, source of the one document it names), at most `limit`."""
        with self.pool.connection() as conn:
            return [(text, source) for text, source in
                    conn.execute(_PSEUDO_QUERIES, {"collection": collection, "limit": limit})]

    def state(self, collection: str) -> FusionState | None:
        with self.pool.connection() as conn:
            row = conn.execute("SELECT lexical_weight, calibrated_chunks, chunk_count, calibration FROM collections"
                               " WHERE name = %s", (collection,)).fetchone()
        return FusionState(*row) if row else None

    def record(self, collection: str, lexical_weight: float, details: dict[str, Any]) -> None:
        """Store a calibration; the collection's current chunk count is recorded with it."""
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("UPDATE collections SET lexical_weight = %s, calibrated_chunks = chunk_count,"
                         " calibration = %s WHERE name = %s", (lexical_weight, Jsonb(details), collection))
