"""Request body caps, enforced while the body streams in (before a multipart parser spools it to disk).

The upload routes (`POST /api/documents`, the admin UI's `/admin/gradio_api/upload`: exact paths, authenticated
by `upload_guard` before their body is read) may carry up to `UPLOAD_FILES` files at the per-file limit; the public
UI's events (`/gradio_api/…`, anonymous) carry a question, so they take what the longest question needs
(`ui_event_cap`); every other path, under `/admin` too, takes small JSON bodies. Past the cap: 413 with a JSON
reason."""

from __future__ import annotations

import json
from collections.abc import Collection

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatbot.api.upload_guard import route_path
from chatbot.limits import COLLECTION_CHARS

UPLOAD_FILES = 10
SMALL_BODY_BYTES = 2 * 1024 * 1024
MULTIPART_SLACK = 1024 * 1024
PUBLIC_UI_EVENTS = "/gradio_api/"
UI_EVENT_SLACK = 64 * 1024  # the event's other fields (a liked answer's text comes along with a thumbs vote)


def ui_event_cap(question_chars: int) -> int:
    """A public UI event's cap: the longest question and a collection name at 6 bytes a character (JSON's
    `\\uXXXX`), and the slack."""
    return 6 * (question_chars + COLLECTION_CHARS) + UI_EVENT_SLACK


def too_large(cap: int) -> str:
    size = f"{cap // (1024 * 1024)} MB" if cap >= 1024 * 1024 else f"{cap // 1024} KB"
    return f"request body too large: the limit here is {size}"


class BodyTooLarge(HTTPException):
    """Raised from `receive` while the app reads the body: the app's exception handling answers 413."""

    def __init__(self, cap: int) -> None:
        super().__init__(413, too_large(cap))


def body_cap(path: str, max_upload_bytes: int, upload_paths: Collection[str], ui_event_bytes: int) -> int:
    if path in upload_paths:
        return UPLOAD_FILES * max_upload_bytes + MULTIPART_SLACK
    if path.startswith(PUBLIC_UI_EVENTS):
        return min(ui_event_bytes, SMALL_BODY_BYTES)
    return SMALL_BODY_BYTES


class BodyLimitMiddleware:
    """413 when Content-Length, or the bytes actually received, exceed the route's cap."""

    def __init__(self, app: ASGIApp, max_upload_bytes: int, upload_paths: Collection[str],
                 ui_event_bytes: int = SMALL_BODY_BYTES) -> None:
        self.app = app
        self.max_upload_bytes = max_upload_bytes
        self.upload_paths = frozenset(upload_paths)
        self.ui_event_bytes = ui_event_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = body_cap(route_path(scope), self.max_upload_bytes, self.upload_paths, self.ui_event_bytes)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > cap:
            await self._refuse(send, cap)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    raise BodyTooLarge(cap)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send, cap)

    @staticmethod
    async def _refuse(send: Send, cap: int) -> None:
        body = json.dumps({"detail": too_large(cap),
                           "error": {"message": "request body too large", "type": "invalid_request",
                                     "code": 413}}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
