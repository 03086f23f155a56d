"""Stale adapters: an adapter records the documents its training set drew on (`data.documents` in its manifest:
id, collection, source, title, content sha256); it is stale once any of them changed or was deleted since.
Adapters trained before documents were recorded are not called stale (`documents_recorded: false`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from psycopg_pool import ConnectionPool

from chatbot.storage.document_versions import DocumentVersion, current_sha256

SHOWN_CHANGES = 20  # documents listed per adapter (the count is always complete)


def recorded_documents(manifest: Mapping[str, Any] | None) -> list[DocumentVersion] | None:
    """The documents a manifest records; None when it records none (trained before this was recorded) or the
    record is not readable (a hand-edited manifest: unknown, never a crash)."""
    documents = ((manifest or {}).get("data") or {}).get("documents")
    if not isinstance(documents, list):
        return None
    try:
        return [DocumentVersion(int(d["id"]), str(d.get("collection", "")), str(d.get("source", "")),
                                str(d.get("title", "")), str(d.get("sha256", ""))) for d in documents]
    except (TypeError, KeyError, ValueError, AttributeError):
        return None


def staleness(recorded: Sequence[DocumentVersion] | None, now: Sequence[str | None]) -> dict[str, Any]:
    """`stale`, `documents_recorded`, `documents` (how many were recorded) and `changed_documents` (count and the
    first `SHOWN_CHANGES`, each with `change`: changed or deleted), given each recorded document's sha256 now."""
    if recorded is None:
        return {"stale": False, "documents_recorded": False, "documents": None,
                "changed_documents": {"count": 0, "documents": []}}
    changed = [{"id": d.id, "title": d.title, "source": d.source, "collection": d.collection,
                "change": "deleted" if sha is None else "changed"}
               for d, sha in zip(recorded, now, strict=True) if sha != d.sha256]
    return {"stale": bool(changed), "documents_recorded": True, "documents": len(recorded),
            "changed_documents": {"count": len(changed), "documents": changed[:SHOWN_CHANGES]}}


def adapter_staleness(pool: ConnectionPool, manifests: Mapping[str, Mapping[str, Any] | None]) -> dict[str, dict]:
    """`staleness` per adapter name, with one database read for all of them."""
    recorded = {name: recorded_documents(manifest) for name, manifest in manifests.items()}
    unique = list(dict.fromkeys(d for documents in recorded.values() for d in documents or []))
    now = dict(zip(unique, current_sha256(pool, unique), strict=True))
    return {name: staleness(documents, [now[d] for d in documents] if documents is not None else [])
            for name, documents in recorded.items()}


def stale_summary(state: Mapping[str, Any]) -> str:
    """One line for a table: 'no', 'unknown (…)', or 'yes: N changed — titles'."""
    if not state.get("documents_recorded"):
        return "unknown (trained before documents were recorded)"
    changed = state["changed_documents"]
    if not changed["count"]:
        return "no"
    titles = ", ".join(d["title"] or d["source"] for d in changed["documents"][:3])
    more = " …" if changed["count"] > 3 else ""
    return f"yes: {changed['count']} document{'s' if changed['count'] != 1 else ''} changed — {titles}{more}"
