"""Admin REST (credentials required): upload, list and delete documents. Feedback is open."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, fields
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from pydantic import BaseModel

from chatbot.conversations import client_key
from chatbot.services import Services
from ingestion.errors import IngestError
from ingestion.pipeline import FileFailure, IngestReport, bytes_item

_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


def safe_filename(name: str | None) -> str:
    """The last path component with anything but letters, digits, '._ -' replaced; never empty or hidden."""
    base = re.split(r"[\\/]", name or "")[-1]
    cleaned = _UNSAFE.sub("_", base).strip(" .")
    if len(cleaned) > 150:  # shorten the stem, not the extension (which decides the format)
        stem, dot, suffix = cleaned.rpartition(".")
        cleaned = stem[: 149 - len(suffix)] + dot + suffix if dot and len(suffix) <= 10 else cleaned[:150]
    return cleaned or "upload"


class Feedback(BaseModel):
    message_id: uuid.UUID
    vote: Literal["up", "down", 1, -1]


@dataclass
class UploadReport(IngestReport):
    """An ingest report that also names the uploads that replaced a document of the same name (an earlier upload,
    or another file of this request: uploads are keyed by their base name in the collection)."""

    replaced: list[str] = field(default_factory=list)


def replaced_names(services: Services, items: list, collection: str) -> list[str]:
    """The items whose source already holds other content: in the collection, or earlier in `items`."""
    held = {d.source: d.sha256 for d in services.store.list_documents(collection)}
    replaced = []
    for item in items:
        if held.get(item.source, item.content_hash) != item.content_hash:
            replaced.append(item.label)
        held[item.source] = item.content_hash
    return replaced


def ingest_uploads(services: Services, files: list[tuple[str | None, bytes]], collection: str) -> UploadReport:
    """Uploads → one ingest report (sources are `upload:<safe name>`); nothing is written to disk."""
    limit = services.settings.max_upload_bytes
    items, failures = [], []
    for raw_name, data in files:
        name = safe_filename(raw_name)
        try:
            items.append(bytes_item(data, name, f"upload:{name}", limit))
        except IngestError as exc:
            failures.append(FileFailure(name, str(exc)))
    replaced = replaced_names(services, items, collection)
    report = services.ingestor.ingest_items(items, collection, total=len(items))
    report.files_failed[:0] = failures
    failed = {f.path for f in report.files_failed}
    return UploadReport(**{f.name: getattr(report, f.name) for f in fields(report)},
                        replaced=[name for name in replaced if name not in failed])


def router(services: Services, require_admin) -> APIRouter:
    api = APIRouter(prefix="/api", tags=["admin"])
    admin = [Depends(require_admin)]

    @api.post("/documents", dependencies=admin)
    async def upload(files: Annotated[list[UploadFile], File()],
                     collection: Annotated[str | None, Form()] = None) -> dict[str, Any]:
        limit = services.settings.max_upload_bytes
        payloads = [(f.filename, await f.read(limit + 1)) for f in files]
        name = (collection or services.settings.collection)[:100]
        from starlette.concurrency import run_in_threadpool

        report = await run_in_threadpool(ingest_uploads, services, payloads, name)
        return report.to_json()

    @api.get("/documents", dependencies=admin)
    def list_documents(collection: str | None = None) -> list[dict[str, Any]]:
        return [
            {"id": d.id, "collection": d.collection, "source": d.source, "title": d.title, "chunks": d.chunks,
             "sha256": d.sha256, "ingested_at": d.ingested_at.isoformat()}
            for d in services.store.list_documents(collection)
        ]

    @api.delete("/documents/{document_id}", dependencies=admin)
    def delete_document(document_id: int) -> dict[str, Any]:
        if not services.store.delete_document(document_id):
            raise HTTPException(404, f"no document with id {document_id}")
        return {"deleted": document_id}

    @api.post("/feedback")
    def feedback(body: Feedback, request: Request) -> dict[str, Any]:
        """One vote per message per client (the peer address, as `rate_limit` sees it): a re-vote replaces it."""
        vote = 1 if body.vote in ("up", 1) else -1
        address = request.client.host if request.client else "unknown"
        if not services.chat.feedback(body.message_id, vote, client=client_key("address", address)):
            raise HTTPException(404, f"no message with id {body.message_id}")
        return {"message_id": str(body.message_id), "vote": vote}

    return api
