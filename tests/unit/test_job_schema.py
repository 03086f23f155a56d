"""Migration 013 carries the pinned procrastinate's schema where it says so, and ragbot's own job tables."""

from __future__ import annotations

from chatbot.storage.db import SQL_DIR, migration_sql


def test_the_queue_schema_is_filled_in_once_before_the_jobs_table():
    sql = migration_sql(SQL_DIR / "013_jobs.sql", 384)
    assert "{procrastinate_schema}" not in sql
    assert sql.count("CREATE TABLE procrastinate_jobs") == 1
    assert sql.index("CREATE TABLE procrastinate_jobs") < sql.index("CREATE TABLE jobs (")
    assert "CREATE UNIQUE INDEX jobs_one_active_per_key ON jobs (dedupe_key) WHERE status IN ('queued', 'running')" \
        in sql
    assert migration_sql(SQL_DIR / "001_schema.sql", 384) == (SQL_DIR / "001_schema.sql").read_text().replace(
        "{embedding_dim}", "384")
