"""A collection's vectors per embedder (`sql/006_embedder_vectors.sql`): stage another embedder's, switch to them
atomically, keep the previous ones for switching back, drop them.

Queries read only `chunks.embedding`, made by the embedder `collections` records. `stage` encodes the chunks into
`chunk_vectors` in committed batches (invisible to queries; an interrupted stage resumes where it stopped).
`switch` then, in one transaction holding the collection's row (ingestion into it waits), encodes the chunks
added since, saves the current vectors into `chunk_vectors`, copies the staged ones into `chunks.embedding` and
records the new embedder: a query sees all old vectors or all new ones, never a mix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import psycopg
from psycopg_pool import ConnectionPool
from tqdm import tqdm

from chatbot.embeddings import EmbedderIdentity
from chatbot.storage.store import record_embedder

Encode = Callable[[list[str]], np.ndarray]
Progress = Callable[[int, int], None]  # (chunks encoded, chunks to encode)

_MISSING = (
    "SELECT k.id, k.text FROM chunks k WHERE k.collection_id = %(c)s AND NOT EXISTS (SELECT 1 FROM chunk_vectors v"
    " WHERE v.collection_id = %(c)s AND v.embedder_model = %(m)s AND v.embedder_backend = %(b)s"
    " AND v.chunk_id = k.id) ORDER BY k.id"
)
_SAVE = (
    "INSERT INTO chunk_vectors (collection_id, embedder_model, embedder_backend, chunk_id, embedding)"
    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (collection_id, embedder_model, embedder_backend, chunk_id)"
    " DO UPDATE SET embedding = EXCLUDED.embedding"
)


@dataclass(frozen=True)
class VectorSet:
    """Vectors of one embedder kept for a collection (not the ones it queries with)."""

    collection: str
    model: str
    backend: str
    chunks: int


@dataclass(frozen=True)
class SwitchResult:
    previous: EmbedderIdentity
    current: EmbedderIdentity
    encoded_at_switch: int  # chunks added after staging, encoded inside the switch
    chunks: int


def _collection(conn: psycopg.Connection, name: str, *, lock: bool = False) -> tuple[int, EmbedderIdentity | None]:
    row = conn.execute("SELECT id, embedder_model, embedder_backend, embedder_dim FROM collections WHERE name = %s"
                       + (" FOR UPDATE" if lock else ""), (name,)).fetchone()
    if row is None:
        raise ValueError(f"no collection '{name}'")
    return row[0], EmbedderIdentity(*row[1:]) if row[1] is not None else None


def _encode_missing(conn: psycopg.Connection, collection_id: int, target: EmbedderIdentity, encode: Encode,
                    batch: int, progress: Progress | None, *, commit: bool) -> int:
    missing = conn.execute(_MISSING, {"c": collection_id, "m": target.model, "b": target.backend}).fetchall()
    with tqdm(total=len(missing), unit="chunk", desc=f"encode ({target.model})", disable=None) as bar:
        for start in range(0, len(missing), batch):
            part = missing[start: start + batch]
            vectors = encode([text for _, text in part])
            with conn.cursor() as cur:
                cur.executemany(_SAVE, [(collection_id, target.model, target.backend, chunk_id, vector)
                                        for (chunk_id, _), vector in zip(part, vectors, strict=True)])
            if commit:
                conn.commit()
            bar.update(len(part))
            if progress is not None:
                progress(start + len(part), len(missing))
    return len(missing)


def stage(pool: ConnectionPool, collection: str, target: EmbedderIdentity, encode: Encode, *, batch: int = 128,
          progress: Progress | None = None) -> int:
    """Encode the collection's chunks that have no `target` vector yet (committed per batch); returns how many."""
    with pool.connection() as conn:
        collection_id, recorded = _collection(conn, collection)
        conn.commit()
        if recorded == target:
            return 0
        return _encode_missing(conn, collection_id, target, encode, batch, progress, commit=True)


def switch(pool: ConnectionPool, collection: str, target: EmbedderIdentity, encode: Encode,
           unrecorded: EmbedderIdentity, *, batch: int = 128) -> SwitchResult:
    """Make `target`'s vectors the collection's, in one transaction; the current ones are kept in `chunk_vectors`.
    `unrecorded` names the embedder of a collection from before embedder records (see `store.check_embedder`)."""
    with pool.connection() as conn, conn.transaction():
        collection_id, recorded = _collection(conn, collection, lock=True)
        current = recorded or unrecorded
        chunks = conn.execute("SELECT count(*) FROM chunks WHERE collection_id = %s", (collection_id,)).fetchone()[0]
        if current == target:
            return SwitchResult(current, target, 0, chunks)
        late = _encode_missing(conn, collection_id, target, encode, batch, None, commit=False)
        conn.execute(
            "INSERT INTO chunk_vectors (collection_id, embedder_model, embedder_backend, chunk_id, embedding)"
            " SELECT collection_id, %s, %s, id, embedding FROM chunks WHERE collection_id = %s"
            " ON CONFLICT (collection_id, embedder_model, embedder_backend, chunk_id)"
            " DO UPDATE SET embedding = EXCLUDED.embedding",
            (current.model, current.backend, collection_id))
        moved = conn.execute(
            "UPDATE chunks k SET embedding = v.embedding FROM chunk_vectors v WHERE k.collection_id = %(c)s"
            " AND v.collection_id = %(c)s AND v.embedder_model = %(m)s AND v.embedder_backend = %(b)s"
            " AND v.chunk_id = k.id", {"c": collection_id, "m": target.model, "b": target.backend}).rowcount
        if moved != chunks:  # cannot happen while the row lock holds writers off; never commit a mix
            raise RuntimeError(f"switching '{collection}': {moved} of {chunks} chunks have {target} vectors")
        conn.execute("DELETE FROM chunk_vectors WHERE collection_id = %s AND embedder_model = %s"
                     " AND embedder_backend = %s", (collection_id, target.model, target.backend))
        record_embedder(conn, collection_id, target)
    return SwitchResult(current, target, late, chunks)


def saved_sets(pool: ConnectionPool) -> list[VectorSet]:
    """Every kept vector set, by collection and embedder."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT c.name, v.embedder_model, v.embedder_backend, count(*) FROM chunk_vectors v"
            " JOIN collections c ON c.id = v.collection_id GROUP BY 1, 2, 3 ORDER BY 1, 2, 3").fetchall()
    return [VectorSet(*row) for row in rows]


def drop(pool: ConnectionPool, model: str, backend: str | None = None, collection: str | None = None) -> int:
    """Delete the kept vectors of `model` (on `backend`, in `collection`; all when None); returns how many."""
    with pool.connection() as conn, conn.transaction():
        return conn.execute(
            "DELETE FROM chunk_vectors v WHERE v.embedder_model = %(m)s"
            " AND (%(b)s::text IS NULL OR v.embedder_backend = %(b)s)"
            " AND (%(c)s::text IS NULL OR v.collection_id = (SELECT id FROM collections WHERE name = %(c)s))",
            {"m": model, "b": backend, "c": collection}).rowcount
