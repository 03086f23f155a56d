"""Uploaded files (the admin REST route and the Admin tab alike) → one ingest report, in the server's one ingest
slot. An upload is bytes, or a file object (the REST route's spooled temporary files), read only when its turn comes,
so that one upload at a time is in memory.

Uploads are keyed by their cleaned base name in the collection (`upload:<safe name>`), so the report also names
the uploads that replaced a document of the same name."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from typing import BinaryIO

from ingestion.errors import IngestError
from ingestion.ingest_slot import ingest_slot
from ingestion.loaders import LoadedDocument, check_size, load_bytes
from ingestion.pipeline import FileFailure, Ingestor, IngestReport, SourceItem

_READ_CHUNK = 1024 * 1024

_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


def safe_filename(name: str | None) -> str:
    """The last path component with anything but letters, digits, '._ -' replaced; never empty or hidden."""
    base = re.split(r"[\\/]", name or "")[-1]
    cleaned = _UNSAFE.sub("_", base).strip(" .")
    if len(cleaned) > 150:  # shorten the stem, not the extension (which decides the format)
        stem, dot, suffix = cleaned.rpartition(".")
        cleaned = stem[: 149 - len(suffix)] + dot + suffix if dot and len(suffix) <= 10 else cleaned[:150]
    return cleaned or "upload"


@dataclass
class UploadReport(IngestReport):
    """An ingest report that also names the uploads that replaced a document of the same name (an earlier upload,
    or another file of this request)."""

    replaced: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict) -> UploadReport:
        """Back from `to_json` (a job's result): an upload's report, or a website sync's."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["files_failed"] = [FileFailure(**f) for f in values.get("files_failed", [])]
        return cls(**values)


def replaced_names(ingestor: Ingestor, items: list[SourceItem], collection: str) -> list[str]:
    """The items whose source already holds other content: in the collection, or earlier in `items`."""
    held = {d.source: d.sha256 for d in ingestor.store.list_documents(collection)}
    replaced = []
    for item in items:
        if held.get(item.source, item.content_hash) != item.content_hash:
            replaced.append(item.label)
        held[item.source] = item.content_hash
    return replaced


def _counted(items: list[SourceItem], on_item: Callable[[int, int], None]) -> Iterator[SourceItem]:
    for done, item in enumerate(items):
        on_item(done, len(items))
        yield item
    on_item(len(items), len(items))


def ingest_uploads(ingestor: Ingestor, files: list[tuple[str | None, BinaryIO]], collection: str, *,
                   on_item: Callable[[int, int], None] | None = None) -> UploadReport:
    """Uploads (name, file) → one ingest report; a file over the ingestor's size cap fails alone. Runs in this
    process's ingest slot. `on_item(done, total)` is called as the files are taken."""
    with ingest_slot():
        items, failures = [], []
        for raw_name, handle in files:
            name = safe_filename(raw_name)
            try:
                items.append(file_item(handle, name, f"upload:{name}", ingestor.max_bytes))
            except IngestError as exc:
                failures.append(FileFailure(name, str(exc)))
        replaced = replaced_names(ingestor, items, collection)
        report = ingestor.ingest_items(_counted(items, on_item) if on_item else items, collection, total=len(items))
    report.files_failed[:0] = failures
    failed = {f.path for f in report.files_failed}
    return UploadReport(**{f.name: getattr(report, f.name) for f in fields(report)},
                        replaced=[name for name in replaced if name not in failed])


def file_item(handle: BinaryIO, filename: str, source: str, max_bytes: int) -> SourceItem:
    """An upload in a file object as a `SourceItem`: its size checked and its hash read in chunks now, its bytes
    read only when it is loaded; raises IngestError when over the size limit."""
    try:
        size = handle.seek(0, os.SEEK_END)
        check_size(size, max_bytes)
        handle.seek(0)
        digest = hashlib.sha256()
        while chunk := handle.read(_READ_CHUNK):
            digest.update(chunk)
    except OSError as err:
        raise IngestError(f"cannot read the upload: {err.strerror or err}") from None

    def load() -> LoadedDocument:
        handle.seek(0)
        data = handle.read(size + 1)  # not `max_bytes + 1`: a read allocates all it may return
        check_size(len(data), max_bytes)
        return load_bytes(data, filename)

    return SourceItem(source, digest.hexdigest(), load, filename)
