"""The manifests read back from `manifest.json` files: a trained adapter's, a tuned embedder's, an ONNX export's.
A field the reader does not know is refused by name (a typo or a file from another version), never ignored."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

# `training.embedder_tune`'s manifest of a tuned embedder.
TUNED_EMBEDDER_FIELDS = ("name", "identity", "dimension", "created_at", "base_model", "data", "training", "metrics",
                         "runtime")
# `chatbot.onnx_export`'s manifest of the embedder's ONNX export.
ONNX_EXPORT_FIELDS = ("max_seq_length", "dimension", "inputs", "int8_config", "torch", "format", "model")


class ManifestError(ValueError):
    """A manifest with a field its reader does not know; the message names the field and the file."""


def refuse_unknown(data: Mapping[str, Any], known: Collection[str], where: str) -> None:
    """Raise `ManifestError` naming every key of `data` not in `known`."""
    unknown = sorted(set(data) - set(known))
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        raise ManifestError(f"{where}: unknown field{'s' if len(unknown) > 1 else ''} {names} "
                            f"(known: {', '.join(known)})")


def read_manifest(path: Path, known: Collection[str],
                  nested: Mapping[str, Collection[str]] | None = None) -> dict[str, Any]:
    """The JSON object in `path`, its keys (and those of the objects under `nested`'s keys) checked."""
    data = json.loads(path.read_text(encoding="utf-8"))
    refuse_unknown(data, known, str(path))
    for key, keys in (nested or {}).items():
        if isinstance(data.get(key), dict):
            refuse_unknown(data[key], keys, f"{path} ({key})")
    return data
