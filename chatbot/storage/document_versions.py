"""Which version of each document a trained adapter saw, and which version the store holds now: the two reads
behind stale adapters (`chatbot.adapter_staleness`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from psycopg_pool import ConnectionPool


@dataclass(frozen=True)
class DocumentVersion:
    """A document as recorded in an adapter's manifest: its id, where it lives, its title and content sha256."""

    id: int
    collection: str
    source: str
    title: str
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# A recorded document now: by its id, else (deleted and ingested again under a new id) by collection and source;
# NULL when it is gone.
_CURRENT_SHA256 = """
SELECT r.i, coalesce(
    (SELECT d.sha256 FROM documents d WHERE d.id = r.id),
    (SELECT d.sha256 FROM documents d JOIN collections c ON c.id = d.collection_id
     WHERE c.name = r.collection AND d.source = r.source))
FROM unnest(%s::bigint[], %s::text[], %s::text[]) WITH ORDINALITY AS r(id, collection, source, i)
"""


def document_versions(pool: ConnectionPool, ids: Iterable[int]) -> list[DocumentVersion]:
    """The documents with these ids as they are now, by id."""
    wanted = sorted({int(i) for i in ids})
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT d.id, c.name, d.source, d.title, d.sha256 FROM documents d"
            " JOIN collections c ON c.id = d.collection_id WHERE d.id = ANY(%s) ORDER BY d.id", (wanted,)).fetchall()
    return [DocumentVersion(*row) for row in rows]


def current_sha256(pool: ConnectionPool, recorded: Sequence[DocumentVersion]) -> list[str | None]:
    """Each recorded document's content sha256 now (found by id, else by collection and source), in order;
    None for one that is gone."""
    if not recorded:
        return []
    with pool.connection() as conn:
        rows = conn.execute(_CURRENT_SHA256, ([d.id for d in recorded], [d.collection for d in recorded],
                                              [d.source for d in recorded])).fetchall()
    found = {int(i): sha for i, sha in rows}
    return [found.get(n) for n in range(1, len(recorded) + 1)]
