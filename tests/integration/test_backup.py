"""`ragbot db backup` / `ragbot db restore` on a real embedded database (its own home: restore rewrites it)."""

from __future__ import annotations

import pytest

from tests.conftest import EXAMPLE_DOCS
from tests.integration.private_db import private_services, private_settings, run_cli

pytestmark = pytest.mark.integration


def snapshot(services) -> dict[str, list[tuple]]:
    with services.pool.connection() as conn:
        documents = conn.execute(
            "SELECT c.name, d.source, d.sha256, d.title FROM documents d JOIN collections c ON c.id = d.collection_id"
            " ORDER BY 1, 2").fetchall()
        chunks = conn.execute(
            "SELECT d.source, k.ordinal, k.text, k.embedding::text FROM chunks k"
            " JOIN documents d ON d.id = k.document_id ORDER BY 1, 2").fetchall()
        conversations = conn.execute("SELECT id, title FROM conversations ORDER BY id").fetchall()
    return {"documents": documents, "chunks": chunks, "conversations": conversations}


def test_backup_delete_restore_brings_the_documents_back(ragbot_home, tmp_path):
    settings = private_settings(tmp_path / "a")
    with private_services(settings) as services:
        report = services.ingestor.ingest_paths(sorted(EXAMPLE_DOCS.glob("*.md"))[:3], "kb")
        assert report.documents_added == 3
        services.conversations.create("kept in the backup")
        before = snapshot(services)

        target = tmp_path / "backups" / "ragbot.dump"
        target.parent.mkdir()
        made = run_cli(["db", "backup", str(target)], settings)
        assert made.returncode == 0, made.stderr
        assert target.read_bytes()[:5] == b"PGDMP" and [p.name for p in target.parent.iterdir()] == [target.name]

        deleted = run_cli(["delete", "--collection", "kb"], settings)
        assert deleted.returncode == 0, deleted.stderr
        assert services.store.list_documents("kb") == []

        refused = run_cli(["db", "restore", str(target)], settings)  # no --yes and no terminal: nothing happens
        assert refused.returncode != 0 and services.store.list_documents("kb") == []

        restored = run_cli(["db", "restore", str(target), "--yes"], settings)
        assert restored.returncode == 0, restored.stderr
        assert snapshot(services) == before  # documents, chunks with their vectors, conversations: on the
        # app's open pool, whose connections still know pgvector's type (the extension is not recreated)
        # the same pool keeps working, and search uses the restored HNSW index and full-text columns
        docs = services.retriever("kb", mode="hybrid").invoke("factory reset")
        assert docs and {d.metadata["source"] for d in docs} <= {s for _, s, _, _ in before["documents"]}

        not_a_backup = run_cli(["db", "restore", str(sorted(EXAMPLE_DOCS.glob("*.md"))[0]), "--yes"], settings)
        assert not_a_backup.returncode == 1 and "not a ragbot backup" in " ".join(not_a_backup.stderr.split())
        assert "Traceback" not in not_a_backup.stderr
        missing = run_cli(["db", "backup", str(tmp_path / "no-such-folder" / "x.dump")], settings)
        assert missing.returncode == 1 and "does not exist" in " ".join(missing.stderr.split())
        assert snapshot(services) == before

    # A backup is complete on its own: restored into a brand-new database, everything is there.
    fresh = private_settings(tmp_path / "b")
    assert run_cli(["db", "restore", str(target), "--yes"], fresh).returncode == 0
    with private_services(fresh) as other:
        assert snapshot(other) == before
