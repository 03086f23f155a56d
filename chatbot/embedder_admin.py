"""What `ragbot embedder use | list | drop` and the admin UI do with embedders and the collections' vectors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from psycopg_pool import ConnectionPool

from chatbot.embedder_registry import BASE, TUNED_PREFIX, EmbedderRegistryError, list_tuned, remove_files, tuned_name
from chatbot.embeddings import Embedder, EmbedderIdentity
from chatbot.models import embedder_name
from chatbot.settings import Settings
from chatbot.storage.store import Store
from chatbot.storage.vector_sets import Progress, SwitchResult, drop, saved_sets, stage, switch


@dataclass
class EmbedderRow:
    """One embedder: the collections that query with it, those that keep its vectors, its training figures."""

    name: str
    model: str
    used_by: list[str] = field(default_factory=list)  # "collection (backend)"
    kept_in: list[str] = field(default_factory=list)  # "collection: N chunks (backend)"
    manifest: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        metrics, data = self.manifest.get("metrics", {}), self.manifest.get("data", {})
        return {"name": self.name, "model": self.model, "used_by": self.used_by, "kept_in": self.kept_in,
                "created_at": self.manifest.get("created_at"), "collection": data.get("collection"),
                "pairs": data.get("train"), "qa_pairs": data.get("train_qa"), "steps": metrics.get("steps"),
                "seconds": metrics.get("seconds"),
                "heldout_mrr": [metrics.get(k, {}).get("mrr@10") for k in ("heldout_before", "heldout_after")]
                if metrics else None, "heldout_change": metrics.get("heldout_change") or None}


def heldout_text(metrics: dict[str, Any]) -> str:
    """A tune's held-out check from its manifest's `metrics`: "0.32 → 0.34 (+0.017, 95 % −0.021 to +0.055: no clear
    change)"; empty when it was not measured."""
    mrr = [metrics.get(k, {}).get("mrr@10") for k in ("heldout_before", "heldout_after")]
    if None in mrr:
        return ""
    text = " → ".join(str(v) for v in mrr)
    if change := metrics.get("heldout_change"):
        text += f" ({change['mean']:+.3f}, 95 % {change['low']:+.3f} to {change['high']:+.3f}: {change['verdict']})"
    return text


class EmbedderAdmin:
    """The embedders (`named`: `base` or a tuned one, loaded once) and the vectors the collections keep."""

    def __init__(self, settings: Settings, pool: ConnectionPool, store: Store,
                 named: Callable[[str], Embedder]) -> None:
        self.settings, self.pool, self.store, self.named = settings, pool, store, named

    def use_embedder(self, name: str, collection: str, progress: Progress | None = None) -> SwitchResult:
        """Encode the collection with embedder `name` (unless its vectors are kept from before), then switch to
        them atomically; the vectors it had are kept until `drop_vectors`."""
        embedder = self.named(name)
        stage(self.pool, collection, embedder.identity, embedder.encode, progress=progress)
        unrecorded = EmbedderIdentity(embedder_name(self.settings), "torch", embedder.dimension)
        return switch(self.pool, collection, embedder.identity, embedder.encode, unrecorded)

    def drop_vectors(self, name: str, collection: str | None = None) -> tuple[int, bool]:
        """Delete the kept vectors of embedder `name` (in `collection`, else everywhere) and, for a tuned embedder
        dropped everywhere, its files. Refused while a collection queries with it. Returns (vectors deleted,
        whether files were)."""
        base = embedder_name(self.settings)
        model = base if name == BASE else f"{TUNED_PREFIX}{name}"
        users = [c for c, identity in self.store.collection_embedders().items()
                 if (identity.model if identity else base) == model and collection in (None, c)]
        if users:
            raise EmbedderRegistryError(f"collection(s) {', '.join(users)} query with '{name}': switch them to"
                                        f" another embedder first (`ragbot embedder use NAME --collection C`)")
        deleted = drop(self.pool, model, collection=collection)
        return deleted, name != BASE and collection is None and remove_files(self.settings, name)

    def embedder_rows(self) -> list[EmbedderRow]:
        """`base`, then the tuned embedders (newest first), then any other model a collection records."""
        base = embedder_name(self.settings)
        rows = {base: EmbedderRow(BASE, base)}
        for tuned in list_tuned(self.settings):
            rows[tuned.identity.model] = EmbedderRow(tuned.name, tuned.identity.model, manifest=tuned.manifest)
        for collection, identity in self.store.collection_embedders().items():
            model = identity.model if identity else base
            row = rows.setdefault(model, EmbedderRow(tuned_name(identity) or model, model))
            row.used_by.append(f"{collection} ({identity.backend if identity else 'torch, unrecorded'})")
        for kept in saved_sets(self.pool):
            row = rows.setdefault(kept.model, EmbedderRow(kept.model.removeprefix(TUNED_PREFIX), kept.model))
            row.kept_in.append(f"{kept.collection}: {kept.chunks} chunks ({kept.backend})")
        return list(rows.values())
