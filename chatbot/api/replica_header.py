"""`X-Ragbot-Replica` on every response: which replica answered (load balancing checks, the load benchmark's
per-replica counts)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "x-ragbot-replica"


class ReplicaHeader:
    """Pure ASGI middleware that names the replica in each HTTP response's headers."""

    def __init__(self, app: ASGIApp, replica: str) -> None:
        self.app = app
        self.header = (HEADER.encode(), replica.encode("latin-1", "replace"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def named(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), self.header]}
            await send(message)

        await self.app(scope, receive, named)
