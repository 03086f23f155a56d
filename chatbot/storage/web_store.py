"""Website sources and their pages' sync state in Postgres (sql/009_web_sources.sql): the only module that writes
them. The documents themselves go through `Store`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from chatbot.embeddings import EmbedderIdentity
from chatbot.storage.store import fetch_as


@dataclass(frozen=True)
class PageState:
    """A page as the last sync kept it; `sha256` is its document's stored hash (None: no such document now)."""

    url: str
    document_source: str | None
    etag: str | None
    last_modified: str | None
    links: tuple[str, ...]
    sha256: str | None = None


@dataclass(frozen=True)
class WebSourceInfo:
    collection: str
    url: str
    kind: str | None
    options: dict[str, Any]
    last_sync_at: datetime
    last_report: dict[str, Any]
    documents: int


class WebSources:
    """Named reads and writes over `web_sources` and `web_pages`."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def pages(self, collection: str, url: str) -> dict[str, PageState]:
        """url → the state the last sync of (`collection`, `url`) kept, with its document's current hash."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT p.url, p.document_source, p.etag, p.last_modified, p.links, d.sha256 FROM web_pages p"
                " JOIN web_sources s ON s.id = p.web_source_id JOIN collections c ON c.id = s.collection_id"
                " LEFT JOIN documents d ON d.collection_id = c.id AND d.source = p.document_source"
                " WHERE c.name = %s AND s.url = %s", (collection, url)).fetchall()
        return {row[0]: PageState(row[0], row[1], row[2], row[3], tuple(row[4]), row[5]) for row in rows}

    def record_sync(self, collection: str, url: str, embedder: EmbedderIdentity, *, kind: str | None,
                    options: dict[str, Any], report: dict[str, Any], pages: list[PageState],
                    forget: list[str]) -> None:
        """Record a sync in one transaction: the source (created with its collection if need be), the state of
        each page visited, and `forget` (pages removed) dropped."""
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(
                "INSERT INTO collections (name, embedder_model, embedder_backend, embedder_dim)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (name) DO NOTHING",
                (collection, embedder.model, embedder.backend, embedder.dimension))
            source_id = conn.execute(
                "INSERT INTO web_sources (collection_id, url, kind, options, last_report)"
                " SELECT id, %s, %s, %s, %s FROM collections WHERE name = %s"
                " ON CONFLICT (collection_id, url) DO UPDATE SET kind = coalesce(EXCLUDED.kind, web_sources.kind),"
                " options = EXCLUDED.options, last_report = EXCLUDED.last_report, last_sync_at = now()"
                " RETURNING id", (url, kind, Jsonb(options), Jsonb(report), collection)).fetchone()[0]
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO web_pages (web_source_id, url, document_source, etag, last_modified, links)"
                    " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (web_source_id, url) DO UPDATE SET"
                    " document_source = EXCLUDED.document_source, etag = EXCLUDED.etag,"
                    " last_modified = EXCLUDED.last_modified, links = EXCLUDED.links, fetched_at = now()",
                    [(source_id, p.url, p.document_source, p.etag, p.last_modified, list(p.links)) for p in pages])
                cur.execute("DELETE FROM web_pages WHERE web_source_id = %s AND url = ANY(%s)", (source_id, forget))

    def list_sources(self, collection: str | None = None) -> list[WebSourceInfo]:
        """Every website source (of `collection`, or all), with the number of its documents stored now."""
        return fetch_as(
            self.pool, WebSourceInfo,
            "SELECT c.name, s.url, s.kind, s.options, s.last_sync_at, s.last_report,"
            " (SELECT count(DISTINCT d.id) FROM web_pages p JOIN documents d ON d.collection_id = c.id"
            "  AND d.source = p.document_source WHERE p.web_source_id = s.id)"
            " FROM web_sources s JOIN collections c ON c.id = s.collection_id"
            " WHERE %(c)s::text IS NULL OR c.name = %(c)s ORDER BY c.name, s.url", {"c": collection})
