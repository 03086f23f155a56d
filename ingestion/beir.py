"""BEIR-layout datasets (corpus.jsonl, queries.jsonl, qrels/test.tsv) as ingestable items."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

from ingestion.loaders import LoadedDocument, Section
from ingestion.pipeline import SourceItem, sha256_hex


def dataset_name(directory: Path) -> str:
    return directory.resolve().name


def _read_jsonl(path: Path) -> Iterator[dict]:
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing (expected a BEIR dataset folder)")
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{line_number}: invalid JSON ({exc.msg})") from exc


def corpus_items(directory: Path) -> list[SourceItem]:
    """One item per corpus entry; the source key is the corpus `_id` (the body alone is embedded)."""
    items = []
    for row in _read_jsonl(directory / "corpus.jsonl"):
        corpus_id, title, text = str(row["_id"]), row.get("title") or "", row.get("text") or ""
        document = LoadedDocument(
            title=title or corpus_id,
            sections=[Section(text, {})] if text.strip() else [],
            metadata={"format": "beir", "corpus_id": corpus_id},
        )
        digest = sha256_hex(json.dumps([title, text]).encode("utf-8"))
        items.append(SourceItem(corpus_id, digest, lambda d=document: d, f"corpus.jsonl:{corpus_id}"))
    return items


def queries(directory: Path) -> dict[str, str]:
    return {str(r["_id"]): r["text"] for r in _read_jsonl(directory / "queries.jsonl")}


def qrels(directory: Path, split: str = "test") -> dict[str, dict[str, int]]:
    """query id → {corpus id: relevance} from `qrels/<split>.tsv` (header row optional)."""
    result: dict[str, dict[str, int]] = {}
    with (directory / "qrels" / f"{split}.tsv").open(encoding="utf-8") as handle:
        for row in csv.reader(handle, delimiter="\t"):
            if len(row) < 3 or not row[2].lstrip("-").isdigit():
                continue
            result.setdefault(row[0], {})[row[1]] = int(row[2])
    return result
