"""Any LangChain document loader as an ingest source (`module:Class` and keyword arguments): its `Document`s are
grouped by their `source` metadata into one document each and go through the same chunking, embedding and
incremental bookkeeping as files (unchanged skipped, changed replaced, with `prune` what it no longer yields
removed)."""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from langchain_core.document_loaders import BaseLoader
from langchain_core.documents import Document

from ingestion.errors import IngestError
from ingestion.loaders import LoadedDocument, Section, make_document
from ingestion.pipeline import FileFailure, Ingestor, IngestReport, SourceItem, document_hash, source_for_path


@dataclass(frozen=True)
class LoaderSpec:
    """A loader class (`package.module:Class`) and the keyword arguments it is built with."""

    target: str
    args: dict[str, Any]

    @property
    def label(self) -> str:
        """How reports and its documents' metadata name it."""
        args = ", ".join(f"{key}={value!r}" for key, value in sorted(self.args.items()))
        return f"{self.target}({args})"


def parse_loader_args(pairs: list[str]) -> dict[str, Any]:
    """`key=value` pairs; a value that reads as JSON (a number, true, a list…) is taken as such, else as text."""
    args: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--loader-arg '{pair}': expected key=value")
        try:
            args[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            args[key.strip()] = value
    return args


def read_loader_config(path: Path) -> list[LoaderSpec]:
    """A YAML or JSON list of `{loader: module:Class, args: {...}}`."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read the loader config: {exc}") from None
    if not isinstance(data, list) or not all(isinstance(e, dict) and isinstance(e.get("loader"), str) for e in data):
        raise ValueError(f"{path}: expected a list of {{loader: module:Class, args: {{...}}}}")
    specs = [LoaderSpec(entry["loader"], entry.get("args") or {}) for entry in data]
    if bad := [s.target for s in specs if not isinstance(s.args, dict)]:
        raise ValueError(f"{path}: 'args' of {bad[0]} must be a mapping")
    return specs


def build_loader(spec: LoaderSpec) -> BaseLoader:
    """Import the class and build it; raises IngestError with a one-line reason."""
    module_name, sep, class_name = spec.target.partition(":")
    if not sep or not module_name or not class_name:
        raise IngestError(f"'{spec.target}': expected package.module:Class")
    try:
        loader_class = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise IngestError(f"cannot import {spec.target}: {exc}") from None
    if not (isinstance(loader_class, type) and issubclass(loader_class, BaseLoader)):
        raise IngestError(f"{spec.target} is not a LangChain document loader (a BaseLoader)")
    try:
        return loader_class(**spec.args)
    except Exception as exc:  # the loader's own complaint about its arguments
        raise IngestError(f"cannot build {spec.target}: {type(exc).__name__}: {exc}") from None


def loader_documents(spec: LoaderSpec, max_chars: int) -> tuple[dict[str, LoadedDocument], list[FileFailure]]:
    """source → one document per source the loader yields, and the sources that could not be made into one."""
    try:
        loaded = list(build_loader(spec).lazy_load())
    except IngestError:
        raise
    except Exception as exc:  # a loader's failure costs this loader, never a traceback
        raise IngestError(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
                          ) from None
    groups: dict[str, list[Document]] = {}
    for document in loaded:
        source = document.metadata.get("source")
        if not isinstance(source, str) or not source.strip():
            raise IngestError("its documents carry no 'source' metadata to name them by")
        groups.setdefault(_source_key(source), []).append(document)
    documents: dict[str, LoadedDocument] = {}
    failures: list[FileFailure] = []
    for source, parts in groups.items():
        size = sum(len(part.page_content) for part in parts)
        try:
            if size > max_chars:
                raise IngestError(f"{size:,} characters, over the {max_chars:,} limit")
            sections = [Section(part.page_content, _place(part.metadata)) for part in parts]
            title = parts[0].metadata.get("title")
            documents[source] = make_document(title if isinstance(title, str) else None, sections,
                                              {"format": "langchain", "loader": spec.label}, _fallback_title(source))
        except IngestError as exc:
            failures.append(FileFailure(source, str(exc)))
    return documents, failures


def ingest_loader(ingestor: Ingestor, spec: LoaderSpec, collection: str, *, prune: bool = False) -> IngestReport:
    """Ingest what one loader yields; with `prune`, the documents it made before and no longer yields are removed."""
    try:
        documents, failures = loader_documents(spec, ingestor.max_bytes)
    except IngestError as exc:
        return IngestReport(files_failed=[FileFailure(spec.label, str(exc))])
    items = [SourceItem(source, document_hash(doc), lambda d=doc: d, source) for source, doc in documents.items()]
    failed = {f.path for f in failures}

    def removed() -> list[str]:
        stored = ingestor.store.sources_with(collection, "loader", spec.label) if prune else []
        return [source for source in stored if source not in documents and source not in failed]

    report = ingestor.ingest_items(items, collection, total=len(items), remove=removed)
    report.files_failed[:0] = failures
    return report


def _source_key(source: str) -> str:
    """A local file's source is its absolute path, as for ingested files; anything else stays as the loader says."""
    path = Path(source)
    return source_for_path(path) if "://" not in source and path.exists() else source


def _fallback_title(source: str) -> str:
    return source.rstrip("/").rsplit("/", 1)[-1] or source


def _place(metadata: dict[str, Any]) -> dict[str, Any]:
    """Where in its source a loader's document sits, as citations show it: a printed page number, a heading."""
    place: dict[str, Any] = {}
    label = metadata.get("page_label")
    if isinstance(label, str) and label.isdigit():
        place["page"] = int(label)
    if isinstance(metadata.get("heading"), str):
        place["heading"] = metadata["heading"]
    return place
