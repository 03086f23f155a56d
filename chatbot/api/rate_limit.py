"""Per-client request rate limits on the open routes: a token bucket per (client IP, route), kept in Postgres so
that a limit holds across replicas (`chatbot.cluster.rate_buckets`); 429 + Retry-After.

The client is the connection's peer address (`scope["client"]`): `ragbot serve` lets uvicorn replace it with
X-Forwarded-For only when the peer is one of `RAGBOT_TRUSTED_PROXIES` (see `proxy_options`). The middleware
also publishes the client in `current_client`, which the admin login throttle reads (Gradio's login callback
is given no request)."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool
from starlette.concurrency import run_in_threadpool

from chatbot.cluster.rate_buckets import SharedTokenBuckets
from chatbot.login_throttle import UNKNOWN_CLIENT, current_client
from chatbot.settings import SecuritySettings
from chatbot.storage.db import DatabaseError

log = logging.getLogger(__name__)

UI_EVENT_FACTOR = 4  # one question in the UI is a few queue events (submit, then its follow-ups)

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


def route_group(method: str, path: str) -> str | None:
    """The limited route a request belongs to, or None (unlimited: health, metrics, admin, static files)."""
    if method == "POST" and path == "/v1/chat/completions":
        return "chat"
    if method == "POST" and path == "/v1/embeddings":
        return "embeddings"
    if method == "GET" and path == "/api/search":
        return "search"
    if method == "POST" and path == "/api/feedback":
        return "feedback"
    if method == "POST" and path == "/api/handoffs":
        return "handoffs"
    if method == "POST" and path.startswith("/gradio_api/"):  # the public UI's events (the admin app is /admin)
        return "ui"
    return None


def client_of(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client and client[0] else UNKNOWN_CLIENT


def proxy_options(settings: SecuritySettings) -> dict[str, Any]:
    """uvicorn options: X-Forwarded-For/-Proto honoured only from the configured trusted proxies (uvicorn's own
    default trusts 127.0.0.1, so any local process could name itself any client)."""
    trusted = [p.strip() for p in settings.trusted_proxies.split(",") if p.strip()]
    return {"proxy_headers": bool(trusted), "forwarded_allow_ips": ",".join(trusted) or None}


class RateLimitMiddleware:
    """Pure ASGI: answers 429 with Retry-After when a client's bucket for a limited route is empty."""

    def __init__(self, app: Any, *, pool: ConnectionPool, per_minute: int, burst: int) -> None:
        self.app = app
        self.enabled = per_minute > 0
        self.buckets = SharedTokenBuckets(pool, per_minute * UI_EVENT_FACTOR, burst * UI_EVENT_FACTOR)
        self.cost = {"chat": UI_EVENT_FACTOR, "embeddings": UI_EVENT_FACTOR, "search": UI_EVENT_FACTOR,
                     "feedback": UI_EVENT_FACTOR, "handoffs": UI_EVENT_FACTOR, "ui": 1}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = client_of(scope)
        token = current_client.set(client)
        try:
            group = route_group(scope["method"], scope["path"]) if self.enabled else None
            try:
                wait = await run_in_threadpool(self.buckets.take, (group, client), self.cost[group]) if group else 0.0
            except (DatabaseError, psycopg.OperationalError) as exc:  # incl. PoolTimeout: the database is down
                log.warning("rate limit not checked, the database is unavailable: %s", exc)
                wait = 0.0  # the route answers for itself (its own 503 when it needs the database)
            if wait > 0:
                await _too_many(send, wait)
                return
            await self.app(scope, receive, send)
        finally:
            current_client.reset(token)


async def _too_many(send: Send, wait: float) -> None:
    seconds = max(1, math.ceil(wait))
    message = f"too many requests from this client: retry in {seconds} s"
    body = json.dumps({"detail": message, "error": {"message": message, "type": "rate_limited",
                                                    "code": 429}}).encode()
    await send({"type": "http.response.start", "status": 429,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"retry-after", str(seconds).encode())]})
    await send({"type": "http.response.body", "body": body})
