"""The ingest job: files → loaded documents → chunks → embeddings → one transaction per document."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from tqdm import tqdm

from chatbot.embeddings import Embedder
from chatbot.storage.store import NewChunk, Store
from ingestion.chunking import Chunk, Chunker
from ingestion.errors import IngestError
from ingestion.loaders import LoadedDocument, load_bytes, read_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceItem:
    """One thing to ingest: its unique source key, a content hash, and how to load it."""

    source: str
    content_hash: str
    load: Callable[[], LoadedDocument]
    label: str  # what error messages name (a path or an upload's file name)


@dataclass(frozen=True)
class FileFailure:
    path: str
    error: str


@dataclass
class IngestReport:
    files_ok: int = 0
    files_failed: list[FileFailure] = field(default_factory=list)
    documents_added: int = 0
    documents_updated: int = 0
    documents_unchanged: int = 0
    documents_removed: int = 0  # by --prune: files gone, pages gone from the site, documents a loader no longer yields
    chunks_added: int = 0
    chunks_removed: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["documents_pruned"] = self.documents_removed  # the name it had before websites: kept for clients
        data["seconds"] = round(self.seconds, 3)
        return data

    @classmethod
    def combined(cls, reports: list[IngestReport]) -> IngestReport:
        """One report for several ingests run together: counts and seconds added, failures in order."""
        total = cls()
        for report in reports:
            for name in [f.name for f in fields(cls)]:
                setattr(total, name, getattr(total, name) + getattr(report, name))
        return total

    @property
    def exit_code(self) -> int:
        """0 all went in; 2 some failed and the rest went in; 1 nothing could be done."""
        if not self.files_failed:
            return 0
        return 2 if self.files_ok else 1


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def document_hash(document: LoadedDocument) -> str:
    """A hash of what a document says (title, sections and their places), for sources without file bytes: a web
    page whose markup changes around the same text stays unchanged."""
    content = [document.title, [[section.text, section.metadata] for section in document.sections]]
    return sha256_hex(json.dumps(content, sort_keys=True, ensure_ascii=False).encode())


def source_for_path(path: Path) -> str:
    """A file's source key: its absolute POSIX path."""
    return path.resolve().as_posix()


def file_item(path: Path, max_bytes: int) -> SourceItem:
    """Read a file once (type and size checked before reading) into a `SourceItem`; raises IngestError."""
    data = read_file(path, max_bytes)
    return SourceItem(source_for_path(path), sha256_hex(data), lambda: load_bytes(data, path.name), str(path))


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files named, plus every file under folders named (recursive, hidden entries skipped), sorted."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                p for p in sorted(path.rglob("*"))
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        else:
            files.append(path)
    return files


@dataclass
class _Pending:
    item: SourceItem
    document: LoadedDocument
    chunks: list[Chunk]


class Ingestor:
    """Runs ingests against one store with one embedder and chunker."""

    def __init__(self, store: Store, embedder: Embedder, chunker: Chunker, max_bytes: int, batch_chunks: int = 64,
                 embedder_for: Callable[[str], Embedder] | None = None,
                 on_change: Callable[[str], object] | None = None) -> None:
        self.store = store
        self.embedder = embedder
        self.embedder_for = embedder_for or (lambda _collection: embedder)  # the one a collection records
        self.on_change = on_change  # called with the collection after an ingest that changed it
        self.chunker = chunker
        self.max_bytes = max_bytes
        self.batch_chunks = batch_chunks

    def ingest_paths(self, paths: list[Path], collection: str, *, prune: bool = False) -> IngestReport:
        """Ingest files and folders; with `prune`, drop stored documents whose files left those folders."""
        started = time.perf_counter()
        report = IngestReport()
        missing = [p for p in paths if not p.exists()]
        report.files_failed.extend(FileFailure(str(p), "no such file or folder") for p in missing)
        files = expand_paths(p for p in paths if p.exists())
        self._run(self._file_items(files, report), len(files), collection, report)
        if prune:
            report.documents_removed = self.prune(paths, collection)
        self._changed(collection, report)
        report.seconds = time.perf_counter() - started
        return report

    def ingest_items(self, items: Iterable[SourceItem], collection: str, total: int | None = None, *,
                     remove: Callable[[], list[str]] | None = None) -> IngestReport:
        """Ingest prepared items (uploads, BEIR corpora, web pages, a loader's documents); then delete the sources
        that `remove` names once the items are exhausted (what left a website or a loader's output)."""
        started = time.perf_counter()
        report = IngestReport()
        self._run(iter(items), total, collection, report)
        if remove is not None:
            report.documents_removed = sum(self.store.delete_source(collection, source) for source in remove())
        self._changed(collection, report)
        report.seconds = time.perf_counter() - started
        return report

    def reembed(self, collection: str) -> int:
        """Re-encode every chunk of `collection` with the configured embedder and record it (one transaction)."""
        return self.store.reembed(collection, self.embedder.identity, self.embedder.encode)

    def prune(self, folders: list[Path], collection: str) -> int:
        """Delete documents stored from under `folders` whose files no longer exist."""
        roots = [source_for_path(f).rstrip("/") + "/" for f in folders if f.is_dir()]
        gone = [
            source for source in self.store.document_hashes(collection)
            if any(source.startswith(root) for root in roots) and not Path(source).exists()
        ]
        return sum(self.store.delete_source(collection, source) for source in gone)

    def _changed(self, collection: str, report: IngestReport) -> None:
        """Tell `on_change` when documents went in or out (the fusion is calibrated again if it moved much)."""
        if self.on_change and (report.documents_added or report.documents_updated or report.documents_removed):
            self.on_change(collection)

    def _file_items(self, files: list[Path], report: IngestReport) -> Iterator[SourceItem]:
        for path in files:
            try:
                yield file_item(path, self.max_bytes)
            except IngestError as exc:
                report.files_failed.append(FileFailure(str(path), str(exc)))

    def _run(self, items: Iterator[SourceItem], total: int | None, collection: str, report: IngestReport) -> None:
        embedder = self.embedder_for(collection)
        self.store.check_embedder(collection, embedder.identity)  # fail before loading or embedding anything
        known = self.store.document_hashes(collection)
        pending: list[_Pending] = []
        with tqdm(total=total, unit="file", desc="ingest", disable=None, leave=False) as bar:
            for item in items:
                bar.update(1)
                if known.get(item.source) == item.content_hash:
                    report.documents_unchanged += 1
                    report.files_ok += 1
                    continue
                prepared = self._prepare(item, report)
                if prepared is None:
                    continue
                pending.append(prepared)
                if sum(len(p.chunks) for p in pending) >= self.batch_chunks:
                    self._flush(embedder, pending, collection, known, report)
            self._flush(embedder, pending, collection, known, report)

    def _prepare(self, item: SourceItem, report: IngestReport) -> _Pending | None:
        try:
            document = item.load()
            chunks = self.chunker.split(document)
            if not chunks:
                raise IngestError("no text could be extracted")
        except IngestError as exc:
            report.files_failed.append(FileFailure(item.label, str(exc)))
            return None
        except Exception as exc:  # a loader bug must cost one file, not the batch
            log.exception("unexpected error while loading %s", item.label)
            report.files_failed.append(FileFailure(item.label, f"could not be read ({type(exc).__name__}: {exc})"))
            return None
        return _Pending(item, document, chunks)

    def _flush(self, embedder: Embedder, pending: list[_Pending], collection: str, known: dict[str, str],
               report: IngestReport) -> None:
        """Embed every pending chunk in one call, then write each document in its own transaction."""
        if not pending:
            return
        texts = [c.text for p in pending for c in p.chunks]
        unique = {text: i for i, text in enumerate(dict.fromkeys(texts))}  # a repeated chunk is embedded once
        vectors = embedder.encode(list(unique))[[unique[text] for text in texts]]
        offset = 0
        for p in pending:
            chunk_vectors = vectors[offset: offset + len(p.chunks)]
            offset += len(p.chunks)
            result = self.store.write_document(
                collection,
                p.item.source,
                p.item.content_hash,
                p.document.title,
                p.document.metadata,
                [NewChunk(c.text, c.token_count, v, c.metadata) for c, v in zip(p.chunks, chunk_vectors, strict=True)],
                embedder.identity,
            )
            known[p.item.source] = p.item.content_hash
            report.files_ok += 1
            report.chunks_added += result.chunks_added
            report.chunks_removed += result.chunks_removed
            if result.created:
                report.documents_added += 1
            else:
                report.documents_updated += 1
        pending.clear()
