"""Embedders tuned on a store: `RAGBOT_HOME/embedders/<name>/` (a sentence-transformers folder plus
`manifest.json`). A collection whose vectors one of them made records it as the model `tuned:<name>` (torch)."""

from __future__ import annotations

import logging
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatbot.embeddings import EmbedderIdentity, SentenceTransformerEmbeddings
from chatbot.manifests import TUNED_EMBEDDER_FIELDS, ManifestError, read_manifest
from chatbot.settings import Settings, StorageSettings

TUNED_PREFIX = "tuned:"
BASE = "base"  # in `ragbot embedder use`: the configured embedder (RAGBOT_EMBEDDER, RAGBOT_EMBEDDER_BACKEND)
MANIFEST = "manifest.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
log = logging.getLogger(__name__)


class EmbedderRegistryError(RuntimeError):
    """A tuned embedder that cannot be found, named, loaded or dropped; the message says why."""


@dataclass(frozen=True)
class TunedEmbedder:
    name: str
    path: Path
    manifest: dict[str, Any]

    @property
    def identity(self) -> EmbedderIdentity:
        return tuned_identity(self.name, int(self.manifest["dimension"]))


def embedders_dir(settings: StorageSettings) -> Path:
    return settings.home / "embedders"


def check_name(name: str) -> str:
    """`name` when usable for a new tuned embedder, else EmbedderRegistryError."""
    if name == BASE or not _NAME.match(name):
        raise EmbedderRegistryError(f"invalid embedder name '{name}': letters, digits, '_', '.', '-' (not '{BASE}')")
    return name


def tuned_identity(name: str, dimension: int) -> EmbedderIdentity:
    return EmbedderIdentity(f"{TUNED_PREFIX}{name}", "torch", dimension)


def tuned_name(identity: EmbedderIdentity | None) -> str | None:
    """The tuned embedder's name when `identity` is one, else None."""
    if identity is None or not identity.model.startswith(TUNED_PREFIX):
        return None
    return identity.model.removeprefix(TUNED_PREFIX)


def list_tuned(settings: Settings) -> list[TunedEmbedder]:
    """Complete tuned embedders (manifest and model present), newest first. One whose manifest is refused is
    left out, with a warning naming its file."""
    folder = embedders_dir(settings)
    found = []
    for path in folder.iterdir() if folder.is_dir() else []:
        if _NAME.match(path.name) and (path / MANIFEST).is_file() and (path / "config.json").is_file():
            try:
                found.append(TunedEmbedder(path.name, path, read_manifest(path / MANIFEST, TUNED_EMBEDDER_FIELDS)))
            except ManifestError as error:
                log.warning("tuned embedder %s left out: %s", path.name, error)
    return sorted(found, key=lambda e: (e.manifest.get("created_at", ""), e.name), reverse=True)


def get_tuned(settings: Settings, name: str) -> TunedEmbedder:
    for tuned in list_tuned(settings):
        if tuned.name == name:
            return tuned
    raise EmbedderRegistryError(f"no tuned embedder '{name}' in {embedders_dir(settings)}")


def load_tuned(settings: Settings, name: str) -> SentenceTransformerEmbeddings:
    """A tuned embedder on torch, on the CPU (never downloads)."""
    from sentence_transformers import SentenceTransformer

    tuned = get_tuned(settings, name)
    model = SentenceTransformer(str(tuned.path), device="cpu", local_files_only=True)
    embedder = SentenceTransformerEmbeddings(model, tuned.identity.model, batch_size=settings.embed_batch_size)
    if embedder.identity != tuned.identity:
        raise EmbedderRegistryError(f"{tuned.path} makes {embedder.identity}, its manifest says {tuned.identity}")
    return embedder


def install(staged: Path, target: Path) -> None:
    """Move a complete staged folder into place; refuses to replace an existing embedder."""
    if target.exists():
        raise EmbedderRegistryError(f"an embedder named '{target.name}' exists already: choose another name")
    target.parent.mkdir(parents=True, exist_ok=True)
    staged.rename(target)


def remove_files(settings: Settings, name: str) -> bool:
    """Delete a tuned embedder's folder (renamed away first: a reader never sees half of it)."""
    folder = embedders_dir(settings) / check_name(name)
    if not folder.exists():
        return False
    doomed = folder.with_name(f".deleting-{name}-{uuid.uuid4().hex[:8]}")
    folder.rename(doomed)
    shutil.rmtree(doomed, ignore_errors=True)
    return True
