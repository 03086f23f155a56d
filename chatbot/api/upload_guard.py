"""Upload routes are authenticated from the request's headers alone, before a byte of its body is read.

Only the upload routes take large bodies (`body_limit`), so only the admin may send one: each upload path has a
*gate* that looks at the request line and headers and either lets the request through (None) or answers it (401,
403, 429) with the body still unread. `refuse` is the gate of a path that takes no uploads at all."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from fastapi.security import HTTPBasic, HTTPBasicCredentials
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

Gate = Callable[[Request], Awaitable[Response | None]]


def route_path(scope: Scope) -> str:
    """The path the app routes on: without the `root_path` a proxy prefix adds."""
    path, root = scope["path"], scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root):][:1] in ("", "/"):
        return path[len(root):] or "/"
    return path


async def refuse(_request: Request) -> Response:
    return JSONResponse({"detail": "uploads are not accepted here"}, status_code=403)


def basic_gate(require: Callable[[HTTPBasicCredentials | None], object]) -> Gate:
    """A gate from the route's own dependency on HTTP Basic credentials (the same check, throttle and answers)."""
    basic = HTTPBasic(auto_error=False)

    async def gate(request: Request) -> Response | None:
        try:
            require(await basic(request))
        except HTTPException as exc:
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        return None

    return gate


def session_gate(user: Callable[[Request], Awaitable[str | None]]) -> Gate:
    """A gate that lets through requests whose login session `user` names a user (401 otherwise, without a Basic
    challenge: a browser must not prompt inside a page that has its own login form)."""

    async def gate(request: Request) -> Response | None:
        if await user(request) is None:
            return JSONResponse({"detail": "sign in first"}, status_code=401)
        return None

    return gate


class UploadGuard:
    """Pure ASGI middleware: runs the gate of the request's path, if it has one, before the app reads the body."""

    def __init__(self, app: ASGIApp, gates: Mapping[str, Gate]) -> None:
        self.app = app
        self.gates = dict(gates)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gate = self.gates.get(route_path(scope)) if scope["type"] == "http" else None
        if gate is not None:
            refusal = await gate(Request(scope))  # given no `receive`: a gate cannot read the body
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)
