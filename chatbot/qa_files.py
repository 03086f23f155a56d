"""Question/answer files kept under `RAGBOT_HOME/qa/` for training and evaluation started from the admin UI."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chatbot.settings import Settings, StorageSettings
from ingestion.uploads import safe_filename


class QAFileError(ValueError):
    """A QA upload that cannot be used; the message names the file and the reason."""


def qa_dir(settings: StorageSettings) -> Path:
    return settings.home / "qa"


def safe_name(filename: str) -> str:
    """An upload's cleaned name (`safe_filename`: no directories, no metacharacters, not hidden) as `.jsonl`."""
    stem = safe_filename(filename).removesuffix(".jsonl").removesuffix(".json")[:80].strip(" .")
    return f"{stem or 'qa'}.jsonl"


def qa_rows(lines: Iterable[str], label: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) for each non-blank line; QAFileError names the first line without a question and
    an answer. The one check of the QA format: `ragbot train` and the admin uploads both use it."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QAFileError(f"{label}:{number}: invalid JSON ({exc.msg})") from exc
        if not isinstance(row, dict) or not str(row.get("question") or "").strip() \
                or not str(row.get("answer") or "").strip():
            raise QAFileError(f"{label}:{number}: each line needs a non-empty 'question' and 'answer'")
        yield number, row


def validate_qa(data: bytes, filename: str) -> int:
    """The number of usable pairs; raises QAFileError naming the file and the first bad line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise QAFileError(f"{filename}: not UTF-8 text (byte {exc.start})") from exc
    count = sum(1 for _ in qa_rows(text.splitlines(), filename))
    if not count:
        raise QAFileError(f"{filename}: no question/answer pairs")
    return count


def save_qa_file(settings: Settings, filename: str, data: bytes) -> Path:
    """Validate and store an uploaded QA file under `RAGBOT_HOME/qa/` (an existing name gets a timestamp)."""
    validate_qa(data, filename)
    folder = qa_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / safe_name(filename)
    if target.exists() and target.read_bytes() != data:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        target = folder / f"{target.stem}-{stamp}.jsonl"
    target.write_bytes(data)
    return target


def list_qa_files(settings: Settings) -> list[Path]:
    """Stored QA files, newest first."""
    folder = qa_dir(settings)
    if not folder.is_dir():
        return []
    return sorted(folder.glob("*.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True)
