"""Admin REST (credentials required): upload, list and delete documents. Feedback is open."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from chatbot.chat_service import ChatService
from chatbot.queue.builtin_tasks import submit_uploads
from chatbot.queue.records import JobRecord
from chatbot.queue.service import JobQueue
from chatbot.settings import IngestSettings
from chatbot.storage.conversations import client_key
from chatbot.storage.store import Store

UPLOAD_WAIT_S = 300.0  # how long an upload request waits for its ingest job by default
API_USER = "api:admin"


class Feedback(BaseModel):
    message_id: uuid.UUID
    vote: Literal["up", "down", 1, -1]


def upload_outcome(job: JobRecord) -> dict[str, Any] | JSONResponse:
    """The ingest report once the job succeeded; 202 naming the job while it waits or runs; else an error."""
    if job.status == "succeeded":
        return {**(job.result or {}), "job": job.id}
    if job.active:
        return JSONResponse({"job": job.id, "status": job.status, "detail": f"job {job.id} is {job.status}: "
                             f"`ragbot jobs show {job.id}` or Admin → Jobs"}, status_code=202)
    if job.status == "cancelled":
        raise HTTPException(409, f"job {job.id} was cancelled")
    raise HTTPException(500, f"job {job.id} failed: {job.error}")


def router(settings: IngestSettings, store: Store, jobs: JobQueue, chat: ChatService,
           require_admin: Callable[..., Any]) -> APIRouter:
    """Uploads are stored with an ingest job, which a worker runs; the request waits for it (`wait` s)."""
    api = APIRouter(prefix="/api", tags=["admin"])
    admin = [Depends(require_admin)]

    @api.post("/documents", dependencies=admin)
    async def upload(files: Annotated[list[UploadFile], File()],
                     collection: Annotated[str | None, Form()] = None,
                     wait: Annotated[float, Query(ge=0, le=3600, description="Seconds to wait for the ingest job; "
                                                  "past them → 202 with the job's id.")] = UPLOAD_WAIT_S) -> Any:
        payloads = [(f.filename, f.file) for f in files]  # spooled by the parser, read one at a time when stored
        name = (collection or settings.collection)[:100]

        job = await run_in_threadpool(submit_uploads, jobs, payloads, name, API_USER)
        return upload_outcome(await run_in_threadpool(jobs.wait, job.id, wait))

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
