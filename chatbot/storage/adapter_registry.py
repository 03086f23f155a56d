"""The adapter registry in Postgres (`sql/003_adapters.sql`, `sql/014_adapter_versions.sql`): the one truth for every
replica and worker. A registered adapter's files are stored in its row (with their sha256 and a version), so any
machine that reaches the database can serve it; `RAGBOT_HOME/adapters/` is where training writes them first."""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from chatbot import adapter_archive
from chatbot.adapter_staleness import adapter_staleness
from chatbot.adapters import AdapterInfo, list_adapters, valid_adapter_name


class RegistryError(RuntimeError):
    """An adapter that cannot be registered, activated or deleted; the message says why."""


@dataclass(frozen=True)
class RegisteredAdapter:
    name: str
    path: str
    base_model: str
    quant: str
    manifest: dict[str, Any]
    active: bool
    created_at: datetime
    version: int
    sha256: str | None  # None: registered before artifacts were stored (the files are only at `path`)


class AdapterRegistry:
    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def register(self, name: str, path: Path, manifest: dict[str, Any]) -> None:
        """Insert or replace an adapter's row with its files (its active flag is kept on replace; a replace
        takes a new version)."""
        created = manifest.get("created_at")
        archive = adapter_archive.pack(path)
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(
                "INSERT INTO adapters (name, path, base_model, quant, manifest, created_at, sha256, archive)"
                " VALUES (%s, %s, %s, %s, %s, coalesce(%s::timestamptz, now()), %s, %s)"
                " ON CONFLICT (name) DO UPDATE SET path = EXCLUDED.path, base_model = EXCLUDED.base_model,"
                " quant = EXCLUDED.quant, manifest = EXCLUDED.manifest, created_at = EXCLUDED.created_at,"
                " sha256 = EXCLUDED.sha256, archive = EXCLUDED.archive, version = nextval('adapter_versions')",
                (name, str(path), str(manifest.get("base_model", {}).get("location", "")),
                 manifest.get("quant", "none"), Jsonb(manifest), created, adapter_archive.digest(archive), archive),
            )

    def rows(self) -> list[RegisteredAdapter]:
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT name, path, base_model, quant, manifest, active, created_at, version, sha256 FROM adapters"
                " ORDER BY created_at DESC, name").fetchall()
        return [RegisteredAdapter(*row) for row in rows]

    def version(self, timeout: float = 2.0) -> int:
        """A counter that grows with every change to the registry (one row read: cheap to poll). Waits at most
        `timeout` s for a connection: a poll must not hold a request (a health check) while the database is away."""
        with self.pool.connection(timeout=timeout) as conn:
            return conn.execute("SELECT version FROM adapter_registry_state").fetchone()[0]

    def archive(self, name: str, sha256: str) -> bytes | None:
        """The stored files of adapter `name` as they were at `sha256`; None once replaced or deleted."""
        with self.pool.connection() as conn:
            row = conn.execute("SELECT archive FROM adapters WHERE name = %s AND sha256 = %s",
                               (name, sha256)).fetchone()
        return bytes(row[0]) if row and row[0] is not None else None

    def active(self) -> str | None:
        with self.pool.connection() as conn:
            row = conn.execute("SELECT name FROM adapters WHERE active").fetchone()
        return row[0] if row else None

    def activate(self, name: str) -> None:
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("UPDATE adapters SET active = false WHERE active AND name <> %s", (name,))
            if conn.execute("UPDATE adapters SET active = true WHERE name = %s", (name,)).rowcount == 0:
                raise RegistryError(f"adapter '{name}' is not registered")

    def unregister(self, name: str) -> bool:
        with self.pool.connection() as conn, conn.transaction():
            return conn.execute("DELETE FROM adapters WHERE name = %s", (name,)).rowcount > 0


def adapter_entries(registry: AdapterRegistry, adapters_dir: Path) -> list[dict[str, Any]]:
    """Adapters on disk and in the registry, newest first, with their state, headline metrics and staleness
    (`stale`, `documents_recorded`, `changed_documents`: see `chatbot.adapter_staleness`)."""
    on_disk = {a.name: a for a in list_adapters(adapters_dir)}
    rows = {r.name: r for r in registry.rows()}

    def created(name: str) -> str:
        disk, row = on_disk.get(name), rows.get(name)
        stamp = disk.created_at if disk is not None else (row.created_at if row is not None else None)
        return stamp.isoformat() if stamp else ""

    def manifest_of(name: str) -> dict[str, Any]:
        disk, row = on_disk.get(name), rows.get(name)
        return (disk.manifest if disk else None) or (row.manifest if row else {}) or {}

    names = sorted(set(on_disk) | set(rows), key=created, reverse=True)
    states = adapter_staleness(registry.pool, {name: manifest_of(name) for name in names})
    entries = []
    for name in names:
        disk, row = on_disk.get(name), rows.get(name)
        manifest = manifest_of(name)
        metrics = manifest.get("metrics", {})
        entries.append({
            "name": name,
            "active": bool(row and row.active),
            "on_disk": disk is not None,
            "registered": row is not None,
            "quant": manifest.get("quant"),
            "created_at": created(name),
            "steps": metrics.get("steps"),
            "train_loss": metrics.get("train_loss"),
            "eval_loss": metrics.get("eval_loss"),
            "collection": manifest.get("data", {}).get("collection"),
            "path": str(disk.path) if disk else (row.path if row else None),
            **states[name],
        })
    return entries


def adapter_on_disk(adapters_dir: Path, name: str) -> AdapterInfo | None:
    return next((a for a in list_adapters(adapters_dir) if a.name == name), None)


def use_adapter(registry: AdapterRegistry, adapters_dir: Path, name: str) -> None:
    """Mark an adapter active: one registered with its files from any machine; one only on this disk (or whose row
    predates stored files) is registered with its files first."""
    if not any(r.name == name and r.sha256 for r in registry.rows()):
        on_disk = adapter_on_disk(adapters_dir, name)
        if on_disk is None:
            raise RegistryError(f"adapter '{name}' not found in the registry nor in {adapters_dir}")
        registry.register(name, on_disk.path, on_disk.manifest)
    registry.activate(name)


def delete_adapter(registry: AdapterRegistry, adapters_dir: Path, runs_dir: Path, name: str) -> bool:
    """Remove the adapter's folder (renamed away first, so a reader never sees half of it), its
    checkpoints and its row. False when there was nothing to delete."""
    if not valid_adapter_name(name):
        raise RegistryError(f"invalid adapter name '{name}'")
    found = False
    for folder in (adapters_dir / name, runs_dir / name):
        if folder.exists():
            doomed = folder.with_name(f".deleting-{name}-{uuid.uuid4().hex[:8]}")
            folder.rename(doomed)
            shutil.rmtree(doomed, ignore_errors=True)
            found = True
    return registry.unregister(name) or found


def install_adapter(staged: Path, target: Path) -> None:
    """Move a complete staged adapter folder to `target`; an existing one is swapped out, not merged."""
    target.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if target.exists():
        old = target.with_name(f".replaced-{target.name}-{uuid.uuid4().hex[:8]}")
        target.rename(old)
    staged.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
