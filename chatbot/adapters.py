"""Trained LoRA adapters on disk: `RAGBOT_HOME/adapters/<name>/` in PEFT format plus `manifest.json`."""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chatbot.adapter_manifest import AdapterManifest, TrainMetrics
from chatbot.manifests import ManifestError, read_manifest

log = logging.getLogger(__name__)

# What training writes (`chatbot.adapter_manifest`): any other field is from another version, or edited by hand.
_FIELDS = tuple(f.name for f in dataclasses.fields(AdapterManifest))
_METRICS_FIELDS = tuple(f.name for f in dataclasses.fields(TrainMetrics))
ADAPTER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class AdapterInfo:
    name: str
    path: Path
    created_at: datetime
    manifest: dict[str, Any]
    sha256: str | None = None  # registered with its files: their digest in the registry (see adapter_catalog)


def valid_adapter_name(name: str) -> bool:
    return bool(ADAPTER_NAME.match(name))


def list_adapters(adapters_dir: Path) -> list[AdapterInfo]:
    """Complete adapters (config + weights present), newest first. One whose manifest is refused is left out,
    with a warning naming its file: the others still serve."""
    found = []
    if not adapters_dir.is_dir():
        return found
    for path in adapters_dir.iterdir():
        if not (path / "adapter_config.json").is_file() or not valid_adapter_name(path.name):
            continue
        manifest_path = path / "manifest.json"
        try:
            manifest = (read_manifest(manifest_path, _FIELDS, {"metrics": _METRICS_FIELDS})
                        if manifest_path.is_file() else {})
        except ManifestError as error:
            log.warning("adapter %s left out: %s", path.name, error)
            continue
        created = manifest.get("created_at")
        created_at = (
            datetime.fromisoformat(created) if created
            else datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
        )
        found.append(AdapterInfo(path.name, path, created_at, manifest))
    return sorted(found, key=lambda a: a.created_at, reverse=True)
