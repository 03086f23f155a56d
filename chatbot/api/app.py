"""The API's FastAPI app: health, metrics, OpenAI-compatible API, admin REST and search, behind the perimeter.

The Gradio UI is mounted on it by the composition root (`chatbot.server`), never from here."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from chatbot.api import admin, handoffs, openai_compat, openai_embeddings, search
from chatbot.api.auth import admin_dependency
from chatbot.api.perimeter import add_perimeter
from chatbot.api.rate_limit import RateLimitMiddleware
from chatbot.api.replica_header import ReplicaHeader
from chatbot.api.request_log import RequestLogMiddleware
from chatbot.api.upload_guard import Gate, basic_gate
from chatbot.cluster.replicas import replica_name
from chatbot.credentials import AdminLogin
from chatbot.embedder_catalog import EmbedderCatalog
from chatbot.metrics import metrics_response, track_requests
from chatbot.services import Services
from chatbot.storage import db
from chatbot.storage.adapter_registry import adapter_entries
from chatbot.storage.store import EmbedderMismatch

log = logging.getLogger(__name__)


def create_app(services: Services, admin_login: AdminLogin, *,
               more_upload_gates: Callable[[FastAPI], Mapping[str, Gate]] | None = None) -> FastAPI:
    """The API app; `more_upload_gates` gives the gates of upload routes mounted on it later (the server's Gradio
    apps): the perimeter is added here, before they exist. Every response names its replica."""
    app = FastAPI(title="ragbot", version="0.1.0",
                  description="Support answers from your documents, by a base or a fine-tuned generator.")
    require_admin = admin_dependency(admin_login)
    upload_gates = {"/api/documents": basic_gate(require_admin)}
    if more_upload_gates:
        upload_gates |= more_upload_gates(app)
    settings, generators, pool = services.settings, services.generators, services.pool
    add_perimeter(app, settings, upload_gates)  # inside the rate limit: the login throttle knows the client
    app.add_middleware(RateLimitMiddleware, pool=pool, per_minute=settings.rate_limit_per_minute,
                       burst=settings.rate_limit_burst)  # inside the request log: 429s are logged
    app.add_middleware(RequestLogMiddleware)
    app.add_middleware(ReplicaHeader, replica=replica_name(settings))

    @app.get("/healthz", tags=["ops"])
    def healthz() -> JSONResponse:
        try:
            db.ping(pool, timeout=5)
        except Exception as exc:  # any failure to reach the database is a 503 with the reason, and nothing else
            return JSONResponse({"status": "unavailable", "database": f"unavailable: {exc}"}, status_code=503)
        chosen = generators.precision()  # after the ping: listing the generators reads the adapter registry
        return JSONResponse({"status": "ok", "database": "ok", "generators": generators.names(),
                             "precision": chosen.to_json() if chosen else None})

    @app.exception_handler(db.DatabaseError)
    @app.exception_handler(psycopg.OperationalError)  # includes psycopg_pool.PoolTimeout: the server went away
    async def database_down(_request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": f"database unavailable: {exc}"}, status_code=503)

    @app.exception_handler(EmbedderMismatch)  # the configured embedder is not the one that wrote the vectors
    async def other_embedder(_request: Request, exc: EmbedderMismatch) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(psycopg.DataError)  # a value the database cannot store (a NUL in a name…): 422, not 500
    async def unstorable(_request: Request, exc: psycopg.DataError) -> JSONResponse:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        return JSONResponse({"detail": f"invalid data: {reason}"}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        return JSONResponse({"detail": problems, "error": {"message": "invalid request", "type": "invalid_request",
                                                           "code": 422}}, status_code=422)

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    def metrics() -> Response:
        return metrics_response()

    app.middleware("http")(track_requests)
    app.include_router(openai_compat.router(generators, services.chat, lambda: {
        e["name"]: e for e in adapter_entries(services.adapter_registry, settings.adapters_dir)}))
    catalog = EmbedderCatalog(settings, lambda: services.embedder, services.embedder_named)
    app.include_router(openai_embeddings.router(catalog, settings))
    app.include_router(admin.router(settings, services.store, services.jobs, services.chat, require_admin))
    app.include_router(search.router(services.retriever, settings))
    app.include_router(handoffs.router(services.handoffs))
    return app
