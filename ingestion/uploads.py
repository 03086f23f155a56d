"""Uploaded files (the admin REST route and the Admin tab alike) → one ingest report; nothing touches the disk.

Uploads are keyed by their cleaned base name in the collection (`upload:<safe name>`), so the report also names
the uploads that replaced a document of the same name."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields

from ingestion.errors import IngestError
from ingestion.pipeline import FileFailure, Ingestor, IngestReport, SourceItem, bytes_item

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


def ingest_uploads(ingestor: Ingestor, files: list[tuple[str | None, bytes]], collection: str, *,
                   on_item: Callable[[int, int], None] | None = None) -> UploadReport:
    """Uploads (name, bytes) → one ingest report; a file over the ingestor's size cap fails alone. `on_item(done,
    total)` is called as the files are taken."""
    items, failures = [], []
    for raw_name, data in files:
        name = safe_filename(raw_name)
        try:
            items.append(bytes_item(data, name, f"upload:{name}", ingestor.max_bytes))
        except IngestError as exc:
            failures.append(FileFailure(name, str(exc)))
    replaced = replaced_names(ingestor, items, collection)
    report = ingestor.ingest_items(_counted(items, on_item) if on_item else items, collection, total=len(items))
    report.files_failed[:0] = failures
    failed = {f.path for f in report.files_failed}
    return UploadReport(**{f.name: getattr(report, f.name) for f in fields(report)},
                        replaced=[name for name in replaced if name not in failed])
