"""Documents and chunks in Postgres: the only module that writes them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool


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
    ) -> WriteResult:
        """Insert or replace one document and all its chunks in a single transaction."""
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(
                "INSERT INTO collections (name) VALUES (%s) ON CONFLICT (name) DO NOTHING", (collection,)
            )
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
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT d.id, c.name, d.source, d.title, d.sha256,"
                " (SELECT count(*) FROM chunks k WHERE k.document_id = d.id), d.ingested_at, d.metadata"
                " FROM documents d JOIN collections c ON c.id = d.collection_id"
                " WHERE %(c)s::text IS NULL OR c.name = %(c)s ORDER BY c.name, d.source",
                {"c": collection},
            ).fetchall()
        return [DocumentInfo(*row) for row in rows]

    def collection_stats(self) -> list[dict[str, Any]]:
        """Per collection: documents, chunks, tokens."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT c.name, count(DISTINCT d.id), count(k.id), coalesce(sum(k.token_count), 0)"
                " FROM collections c LEFT JOIN documents d ON d.collection_id = c.id"
                " LEFT JOIN chunks k ON k.document_id = d.id GROUP BY c.name ORDER BY c.name"
            ).fetchall()
        return [{"collection": n, "documents": d, "chunks": k, "tokens": int(t)} for n, d, k, t in rows]
