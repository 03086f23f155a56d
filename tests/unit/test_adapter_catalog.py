"""The adapter archive (files ↔ bytes) and the catalog's polling of the registry, with a stand-in registry."""

from __future__ import annotations

import io
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chatbot import adapter_archive
from chatbot.adapter_catalog import AdapterCatalog
from chatbot.backends.vllm_adapters import PUBLISHED, served_name
from chatbot.storage.adapter_registry import RegisteredAdapter


def adapter_folder(root: Path, weights: bytes) -> Path:
    root.mkdir(parents=True)
    (root / "adapter_config.json").write_text('{"r": 4}')
    (root / "adapter_model.safetensors").write_bytes(weights)
    return root


def test_archive_round_trip_is_deterministic(tmp_path):
    a = adapter_archive.pack(adapter_folder(tmp_path / "a", b"w" * 100))
    b = adapter_archive.pack(adapter_folder(tmp_path / "b", b"w" * 100))
    assert a == b and adapter_archive.digest(a) == adapter_archive.digest(b)
    out = adapter_archive.unpack(a, tmp_path / "out")
    assert (out / "adapter_model.safetensors").read_bytes() == b"w" * 100
    assert adapter_archive.unpack(b"not a tar, but the folder exists", out) == out  # named by content: kept


def test_archive_never_writes_outside_its_folder(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(tarfile.OutsideDestinationError):
        adapter_archive.unpack(buffer.getvalue(), tmp_path / "target")
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "target").exists()


class Registry:
    """The registry's reads, counted."""

    def __init__(self) -> None:
        self.counter, self.rows_read, self.versions_read = 1, 0, 0
        self.adapters: dict[str, RegisteredAdapter] = {}
        self.archives: dict[tuple[str, str], bytes] = {}

    def put(self, name: str, archive: bytes, *, active: bool = False, day: int = 1) -> None:
        sha = adapter_archive.digest(archive)
        self.adapters[name] = RegisteredAdapter(name, f"/trainer/{name}", "base", "none", {}, active,
                                                datetime(2026, 12, day, tzinfo=UTC), self.counter, sha)
        self.archives[(name, sha)] = archive
        self.counter += 1

    def version(self) -> int:
        self.versions_read += 1
        return self.counter

    def rows(self) -> list[RegisteredAdapter]:
        self.rows_read += 1
        return list(self.adapters.values())

    def archive(self, name: str, sha256: str) -> bytes | None:
        row = self.adapters.get(name)
        return self.archives.get((name, sha256)) if row and row.sha256 == sha256 else None


def test_catalog_reads_the_counter_at_most_once_per_poll_and_rows_only_when_it_moved(tmp_path):
    registry, changes = Registry(), []
    catalog = AdapterCatalog(tmp_path / "adapters", lambda: registry, poll_seconds=3600)
    catalog.on_change(lambda: changes.append(1))
    registry.put("a", b"one")
    assert [a.name for a in catalog.adapters()] == ["a"]
    catalog.adapters()
    assert (registry.versions_read, registry.rows_read, len(changes)) == (1, 1, 1)
    catalog.poll_seconds = 0
    catalog.adapters()  # the counter did not move: no rows read
    assert (registry.versions_read, registry.rows_read, len(changes)) == (2, 1, 1)
    registry.put("b", b"two", active=True, day=2)
    assert [a.name for a in catalog.adapters()] == ["b", "a"] and catalog.active() == "b"
    assert (registry.rows_read, len(changes)) == (2, 2)


def test_select_and_files_follow_the_registry(tmp_path):
    registry = Registry()
    registry.put("old", adapter_archive.pack(adapter_folder(tmp_path / "old", b"1")), day=1)
    registry.put("new", adapter_archive.pack(adapter_folder(tmp_path / "new", b"2")), day=2)
    catalog = AdapterCatalog(tmp_path / "adapters", lambda: registry, poll_seconds=0)
    assert catalog.select(None).name == "new"  # no active one: the newest
    with pytest.raises(KeyError, match="adapter 'gone' not found"):
        catalog.select("gone")
    old = catalog.select("old")
    files = catalog.files(old, tmp_path / "cache")
    assert files.name == f"old-{old.sha256[:12]}" and (files / "adapter_model.safetensors").read_bytes() == b"1"
    registry.put("new", adapter_archive.pack(adapter_folder(tmp_path / "new2", b"3")), day=2)
    stale = next(a for a in catalog.adapters() if a.name == "new")
    registry.put("new", adapter_archive.pack(adapter_folder(tmp_path / "new3", b"4")), day=2)  # replaced meanwhile
    with pytest.raises(KeyError, match="replaced or deleted meanwhile"):
        catalog.files(stale, tmp_path / "cache")


def test_published_names_carry_the_content(tmp_path):
    registry = Registry()
    registry.put("demo.v2", b"weights")
    [adapter] = AdapterCatalog(tmp_path, lambda: registry).adapters()
    name = served_name(adapter)
    assert name == f"demo.v2@{adapter.sha256[:12]}" and PUBLISHED.match(name) and not PUBLISHED.match("demo.v2")


def test_an_unreachable_registry_keeps_the_last_view(tmp_path, caplog):
    import psycopg

    registry = Registry()
    registry.put("a", b"one")
    catalog = AdapterCatalog(tmp_path, lambda: registry, poll_seconds=0)
    assert [a.name for a in catalog.adapters()] == ["a"]

    def down() -> int:
        raise psycopg.OperationalError("connection refused")

    registry.version = down
    assert [a.name for a in catalog.adapters()] == ["a"] and "keeping the last view" in caplog.text
