"""The per-collection abstention threshold (sql/017_abstention.sql)."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool


class AbstentionRecords:
    """Reads and writes each collection's calibrated abstention threshold and how it was chosen."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def threshold(self, collection: str) -> float | None:
        """The collection's calibrated threshold; None when it has none (or there is no such collection)."""
        with self.pool.connection() as conn:
            row = conn.execute("SELECT abstain_threshold FROM collections WHERE name = %s", (collection,)).fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def details(self, collection: str) -> dict[str, Any] | None:
        """The recorded calibration (what `record` stored), None when never calibrated."""
        with self.pool.connection() as conn:
            row = conn.execute("SELECT abstention FROM collections WHERE name = %s", (collection,)).fetchone()
        return row[0] if row else None

    def other_collections(self, collection: str) -> list[str]:
        """Every collection but `collection` that holds chunks, by name."""
        with self.pool.connection() as conn:
            return [row[0] for row in conn.execute(
                "SELECT name FROM collections WHERE name <> %s AND chunk_count > 0 ORDER BY name", (collection,))]

    def record(self, collection: str, threshold: float | None, details: dict[str, Any]) -> None:
        """Store a calibration (a None threshold: too little evidence, the global setting applies)."""
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("UPDATE collections SET abstain_threshold = %s, abstention = %s WHERE name = %s",
                         (threshold, Jsonb(details), collection))
