"""One JSON line per HTTP request, with a request id that is also returned in the `X-Request-ID` header.

Logged: request_id, method, path (no query string), status, duration_ms (until the response's last byte, so a
streamed answer counts whole). Never logged: headers (Authorization, cookies), query strings, bodies.
An incoming `X-Request-ID` is kept when it is sane (1–128 characters of letters, digits and `._:-`), so a
proxy's id follows the request; anything else is replaced by a fresh uuid4."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOGGER_NAME = "ragbot.requests"
HEADER = "x-request-id"
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def access_logger() -> logging.Logger:
    """`ragbot.requests`: INFO to stderr as bare JSON lines, whatever the root logger's level (set once)."""
    logger = logging.getLogger(LOGGER_NAME)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    """The incoming id when present and sane, else a new uuid4."""
    for name, value in headers:
        if name.lower() == HEADER.encode():
            candidate = value.decode("latin-1").strip()
            if _SANE_ID.fullmatch(candidate):
                return candidate
            break
    return str(uuid.uuid4())


class RequestLogMiddleware:
    """Pure ASGI middleware (streaming responses pass through untouched)."""

    def __init__(self, app: ASGIApp, logger: logging.Logger | None = None) -> None:
        self.app = app
        self.logger = logger or access_logger()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope.get("headers") or [])
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500  # when the app fails before sending a response, the server answers 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER.encode()]
                message = {**message, "headers": [*headers, (HEADER.encode(), request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self.logger.info(json.dumps(self._record(request_id, scope, status, started)))

    @staticmethod
    def _record(request_id: str, scope: Scope, status: int, started: float) -> dict[str, Any]:
        return {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "request_id": request_id,
            "method": scope.get("method", ""),
            "path": scope.get("path", ""),
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        }
