"""Per-client request rate limits on the open routes: a token bucket per (client IP, route), 429 + Retry-After.

The client is the connection's peer address (`scope["client"]`): `ragbot serve` lets uvicorn replace it with
X-Forwarded-For only when the peer is one of `RAGBOT_TRUSTED_PROXIES` (see `proxy_options`). The middleware
also publishes the client in `current_client`, which the admin login throttle reads (Gradio's login callback
is given no request)."""

from __future__ import annotations

import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chatbot.login_throttle import UNKNOWN_CLIENT, current_client
from chatbot.settings import SecuritySettings

UI_EVENT_FACTOR = 4  # one question in the UI is a few queue events (submit, then its follow-ups)
MAX_CLIENTS = 50_000  # buckets kept; the least recently used are dropped beyond it (a dropped bucket is full)

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


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """Token buckets by key: each holds up to `burst` tokens and refills at `per_minute` a minute."""

    def __init__(self, per_minute: float, burst: float, *, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = MAX_CLIENTS) -> None:
        self.rate = per_minute / 60.0
        self.burst = burst
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[tuple[str, str], _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: tuple[str, str], cost: float = 1.0) -> float:
        """Take `cost` tokens: 0.0 when allowed, else the seconds until they would be there (nothing taken)."""
        now = self._clock()
        with self._lock:
            bucket = self._buckets.pop(key, None) or _Bucket(self.burst, now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            self._buckets[key] = bucket
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
            if bucket.tokens >= cost:
                bucket.tokens -= cost
                return 0.0
            return (cost - bucket.tokens) / self.rate


class RateLimitMiddleware:
    """Pure ASGI: answers 429 with Retry-After when a client's bucket for a limited route is empty."""

    def __init__(self, app: Any, *, per_minute: int, burst: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.enabled = per_minute > 0
        self.buckets = TokenBuckets(per_minute * UI_EVENT_FACTOR, burst * UI_EVENT_FACTOR, clock=clock)
        self.cost = {"chat": UI_EVENT_FACTOR, "embeddings": UI_EVENT_FACTOR, "search": UI_EVENT_FACTOR,
                     "feedback": UI_EVENT_FACTOR, "ui": 1}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = client_of(scope)
        token = current_client.set(client)
        try:
            group = route_group(scope["method"], scope["path"]) if self.enabled else None
            wait = self.buckets.take((group, client), self.cost[group]) if group else 0.0
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
