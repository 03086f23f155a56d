"""Admin REST (credentials required): upload, list and delete documents. Feedback is open."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from chatbot.chat_service import ChatService
from chatbot.conversations import client_key
from chatbot.settings import IngestSettings
from chatbot.store import Store
from ingestion.ingest_slot import IngestBusy
from ingestion.pipeline import Ingestor
from ingestion.uploads import ingest_uploads


class Feedback(BaseModel):
    message_id: uuid.UUID
    vote: Literal["up", "down", 1, -1]


def router(settings: IngestSettings, store: Store, ingestor: Callable[[], Ingestor], chat: ChatService,
           require_admin: Callable[..., Any]) -> APIRouter:
    """`ingestor` is built at the first upload (a failure is that request's error)."""
    api = APIRouter(prefix="/api", tags=["admin"])
    admin = [Depends(require_admin)]

    @api.post("/documents", dependencies=admin)
    async def upload(files: Annotated[list[UploadFile], File()],
                     collection: Annotated[str | None, Form()] = None) -> dict[str, Any]:
        """The files as the multipart parser spooled them (to disk past 1 MB), each read when its turn comes; 503
        while another ingest (an Admin tab upload or website sync) holds the server's one ingest slot."""
        uploads = [(f.filename, f.file) for f in files]
        name = (collection or settings.collection)[:100]
        try:
            report = await run_in_threadpool(ingest_uploads, ingestor(), uploads, name, wait=False)
        except IngestBusy as exc:
            raise HTTPException(503, str(exc), headers={"Retry-After": "30"}) from None
        return report.to_json()

    @api.get("/documents", dependencies=admin)
    def list_documents(collection: str | None = None) -> list[dict[str, Any]]:
        return [
            {"id": d.id, "collection": d.collection, "source": d.source, "title": d.title, "chunks": d.chunks,
             "sha256": d.sha256, "ingested_at": d.ingested_at.isoformat()}
            for d in store.list_documents(collection)
        ]

    @api.delete("/documents/{document_id}", dependencies=admin)
    def delete_document(document_id: int) -> dict[str, Any]:
        if not store.delete_document(document_id):
            raise HTTPException(404, f"no document with id {document_id}")
        return {"deleted": document_id}

    @api.post("/feedback")
    def feedback(body: Feedback, request: Request) -> dict[str, Any]:
        """One vote per message per client (the peer address, as `rate_limit` sees it): a re-vote replaces it."""
        vote = 1 if body.vote in ("up", 1) else -1
        address = request.client.host if request.client else "unknown"
        if not chat.feedback(body.message_id, vote, client=client_key("address", address)):
            raise HTTPException(404, f"no message with id {body.message_id}")
        return {"message_id": str(body.message_id), "vote": vote}

    return api
