"""`POST /api/handoffs`: an end user asks for a person (open like chat, rate-limited per client like it). With a
`conversation_id` its `conversation_token` is required: the handoff then carries what the user saw."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from chatbot.chat_service import ConversationDenied
from chatbot.handoffs import CONTACT_CHARS, HandoffService
from chatbot.limits import COLLECTION_CHARS, InvalidInput
from chatbot.storage.db import DatabaseError


class HandoffRequest(BaseModel):
    question: str = Field(min_length=1, max_length=100_000, description="What the user needs a person for.")
    conversation_id: uuid.UUID | None = None
    conversation_token: str | None = Field(default=None, max_length=200)
    contact: str | None = Field(default=None, max_length=CONTACT_CHARS, description="How to reach the user.")
    collection: str | None = Field(default=None, min_length=1, max_length=COLLECTION_CHARS)


def problem(status: int, field: str, message: str) -> JSONResponse:
    """The shape of the app's own 422s: `detail` lists the field and the reason."""
    return JSONResponse({"detail": [{"field": f"body.{field}", "message": message}],
                         "error": {"message": message, "type": "invalid_request", "param": field, "code": status}},
                        status_code=status)


def router(handoffs: HandoffService) -> APIRouter:
    api = APIRouter(prefix="/api", tags=["handoffs"])

    @api.post("/handoffs", status_code=201, response_model=None)
    def create_handoff(body: HandoffRequest) -> dict[str, Any] | JSONResponse:
        """Create an open handoff (queued for the support desk's webhook when one is configured); 201 `{"id"}`."""
        try:
            handoff = handoffs.create(body.question, conversation_id=body.conversation_id,
                                      conversation_token=body.conversation_token, contact=body.contact,
                                      collection=body.collection)
        except InvalidInput as exc:
            return problem(422, exc.field, str(exc))
        except ConversationDenied as exc:
            return problem(404, "conversation_token", str(exc))
        except (DatabaseError, psycopg.OperationalError) as exc:
            return JSONResponse({"detail": f"database unavailable: {exc}"}, status_code=503)
        return {"id": str(handoff.id), "status": handoff.status, "reason": handoff.reason}

    return api
