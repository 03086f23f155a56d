"""This process's view of the adapters: the registry's (the one truth, shared by every replica and worker) and any
found only on this machine's disk ("files only", served here as before they are registered).

A replica notices an adapter activated, replaced or deleted elsewhere within `poll_seconds` of its next use: each
use reads the registry's change counter at most once per `poll_seconds` (one row), and the rows only when it
moved. Listeners (the generator backends) then drop or reload what changed."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

from chatbot import adapter_archive
from chatbot.adapters import AdapterInfo, list_adapters
from chatbot.storage.adapter_registry import AdapterRegistry, RegisteredAdapter

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0


class AdapterCatalog:
    def __init__(self, adapters_dir: Path, registry: Callable[[], AdapterRegistry] | None = None,
                 poll_seconds: float = POLL_SECONDS) -> None:
        self.adapters_dir = adapters_dir
        self._registry = registry
        self.poll_seconds = poll_seconds
        self._rows: dict[str, RegisteredAdapter] = {}
        self._version: int | None = None
        self._checked = float("-inf")
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call `listener` after each change to the registry this process notices."""
        self._listeners.append(listener)

    def refresh(self) -> None:
        """Re-read the registry if its change counter moved (read at most once per `poll_seconds`)."""
        if self._registry is None:
            return
        with self._lock:
            now = time.monotonic()
            if now - self._checked < self.poll_seconds:
                return
            self._checked = now
            try:
                registry = self._registry()
                version = registry.version()
                if version == self._version:
                    return
                self._rows = {row.name: row for row in registry.rows()}
            except psycopg.Error as error:  # the database is away (a PoolTimeout too): answer from the last view
                log.warning("adapter registry unreadable, keeping the last view: %s", error)
                return
            self._version = version
        for listener in self._listeners:
            listener()

    def adapters(self) -> list[AdapterInfo]:
        """Registered adapters and those only on this disk, newest first."""
        self.refresh()
        rows = dict(self._rows)
        registered = [AdapterInfo(r.name, Path(r.path), r.created_at, r.manifest, r.sha256) for r in rows.values()]
        files_only = [a for a in list_adapters(self.adapters_dir) if a.name not in rows]
        return sorted(registered + files_only, key=lambda a: a.created_at, reverse=True)

    def active(self) -> str | None:
        self.refresh()
        return next((row.name for row in self._rows.values() if row.active), None)

    def select(self, preferred: str | None) -> AdapterInfo | None:
        """`preferred`, else the active adapter, else the newest; None when there is none. Unknown: KeyError."""
        adapters = self.adapters()
        wanted = preferred or self.active()
        if wanted:
            found = next((a for a in adapters if a.name == wanted), None)
            if found is None:
                raise KeyError(f"adapter '{wanted}' not found")
            return found
        return adapters[0] if adapters else None

    def files(self, adapter: AdapterInfo, root: Path) -> Path:
        """A folder with the adapter's files: a registered one unpacked from the registry into
        `root/<name>-<sha12>` (once per content); a files-only one where it is. KeyError once it is gone."""
        if adapter.sha256 is None:
            return adapter.path
        target = root / f"{adapter.name}-{adapter.sha256[:12]}"
        if target.is_dir():
            return target
        archive = self._registry().archive(adapter.name, adapter.sha256) if self._registry else None
        if archive is None:
            raise KeyError(f"adapter '{adapter.name}' was replaced or deleted meanwhile: ask again")
        return adapter_archive.unpack(archive, target)
