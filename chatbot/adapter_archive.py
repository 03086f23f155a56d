"""An adapter folder as one byte string (an uncompressed tar: safetensors hardly compress) for the registry's
`archive` column, and back into a folder on any replica, worker or model server."""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
import uuid
from pathlib import Path


def pack(folder: Path) -> bytes:
    """The folder's files (sorted, with fixed metadata, so that the same files give the same bytes)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = tarfile.TarInfo(path.relative_to(folder).as_posix())
            info.size = path.stat().st_size
            info.mode = 0o644
            with path.open("rb") as handle:
                tar.addfile(info, handle)
    return buffer.getvalue()


def digest(archive: bytes) -> str:
    return hashlib.sha256(archive).hexdigest()


def unpack(archive: bytes, target: Path) -> Path:
    """Write the archive's files to `target` (kept when it exists: folders are named by content); a reader never
    sees half of it (unpacked beside it, then renamed). Only plain files under `target` are written."""
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(f".unpacking-{target.name}-{uuid.uuid4().hex[:8]}")
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
            tar.extractall(staged, filter="data")
        try:
            staged.rename(target)
        except OSError:  # another thread or replica unpacked the same content first
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return target
