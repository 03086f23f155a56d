"""Headers on every answer: a Content-Security-Policy, and redirects that never name a host.

The policy is defence in depth behind the UI's inert rendering of untrusted text (`chatbot.ui.formatting`): the
pages may load images, fonts, media and connections from this server only, so text that slipped through could not
make a browser fetch another host. Gradio needs its inline scripts and styles, and its plots evaluate code.
FastAPI's `/docs` and `/redoc` load Swagger UI and ReDoc from a CDN and show no user's text: no policy there.
Gradio builds some redirects (its login and logout routes) from the Host or X-Forwarded-Host header; every
absolute `Location` leaves as a path."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatbot.api.upload_guard import route_path

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self' 'unsafe-inline' 'unsafe-eval' blob:",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "media-src 'self' data: blob:",
    "connect-src 'self'",
    "worker-src 'self' blob:",
    "frame-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'self'",
])
UNPOLICED_PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})


def relative_location(location: str) -> str:
    """An absolute or scheme-relative URL as a path on this server (with its query and fragment); others as is."""
    parts = urlsplit(location)
    if not parts.scheme and not parts.netloc:
        return location
    return urlunsplit(("", "", parts.path or "/", parts.query, parts.fragment))


class ResponseHeaders:
    """Pure ASGI middleware: adds the policy (unless the app set one) and makes `Location` relative."""

    def __init__(self, app: ASGIApp, policy: str = CONTENT_SECURITY_POLICY) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policed = route_path(scope) not in UNPOLICED_PATHS

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if policed and "content-security-policy" not in headers:
                    headers["content-security-policy"] = self.policy
                if "location" in headers:
                    headers["location"] = relative_location(headers["location"])
            await send(message)

        await self.app(scope, receive, sending)
