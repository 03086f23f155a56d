"""Cross-site request refusal: 403 for a state-changing request that a browser sends on another site's behalf.

The rule is Go's `net/http.CrossOriginProtection`: `Sec-Fetch-Site: same-origin` or `none` (typed in the address
bar) passes; any other value passes only with an allow-listed `Origin` (`RAGBOT_CORS_ORIGINS`); without
`Sec-Fetch-Site` (older browsers), the `Origin` must name the request's own host or be allow-listed; a request with
neither header is not from a browser (curl, SDKs) and passes. GET, HEAD and OPTIONS pass: they change nothing here,
and CORS decides what another site may read of their answers."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SAME_SITE_FETCHES = frozenset({"same-origin", "none"})


def same_host(origin: str, host: str) -> bool:
    """Whether `origin` (scheme://host[:port]) names the host the request was sent to."""
    try:
        netloc = urlsplit(origin).netloc
    except ValueError:
        return False
    return bool(netloc) and netloc.lower() == host.lower()


class OriginGuard:
    """Pure ASGI middleware in front of every route, the Gradio apps' included."""

    def __init__(self, app: ASGIApp, allowed_origins: Iterable[str] = ()) -> None:
        self.app = app
        self.allowed = frozenset(allowed_origins)

    def allows(self, headers: Headers) -> bool:
        origin = headers.get("origin")
        if origin is not None and origin in self.allowed:
            return True
        fetch_site = headers.get("sec-fetch-site")
        if fetch_site is not None:
            return fetch_site in SAME_SITE_FETCHES
        return origin is None or same_host(origin, headers.get("host", ""))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS and not self.allows(Headers(scope=scope)):
            response = JSONResponse({"detail": "cross-site request refused"}, status_code=403)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
