"""The request perimeter in front of every route, the Gradio apps' included: a CORS allow-list, the refusal of
cross-site state changes, the upload routes' gates, the body caps, and the response headers (a
Content-Security-Policy, host-free redirects)."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from chatbot.api.body_limit import BodyLimitMiddleware, ui_event_cap
from chatbot.api.origin_guard import OriginGuard
from chatbot.api.response_headers import ResponseHeaders
from chatbot.api.upload_guard import Gate, UploadGuard, refuse
from chatbot.settings import Settings


def add_perimeter(app: FastAPI, settings: Settings, upload_gates: Mapping[str, Gate]) -> None:
    """Add the perimeter's middleware, innermost first (Starlette makes the last one added the outermost).

    The large body cap applies only behind an upload gate that lets requests through. Starlette's CORSMiddleware
    on the parent app also switches off Gradio's own CORS, which answers any Origin, credentials allowed, when the
    Host is not localhost; with no origin listed, no other site may read an answer."""
    app.add_middleware(BodyLimitMiddleware, max_upload_bytes=settings.max_upload_bytes,
                       upload_paths={path for path, gate in upload_gates.items() if gate is not refuse},
                       ui_event_bytes=ui_event_cap(settings.max_question_chars))
    app.add_middleware(UploadGuard, gates=upload_gates)
    app.add_middleware(OriginGuard, allowed_origins=settings.cors_origins)
    app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_credentials=True,
                       allow_methods=["*"], allow_headers=["*"])
    app.add_middleware(ResponseHeaders)  # outermost here: its policy and relative redirects cover refusals too
