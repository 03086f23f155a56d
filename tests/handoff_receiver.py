"""A real support-desk webhook for the handoff tests: `http.server` in a thread on 127.0.0.1, answering each POST
with the next status of its plan (then 200), and keeping every request it got."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any
    status: int


@dataclass
class Receiver:
    url: str
    plan: list[int] = field(default_factory=list)  # statuses to answer, in order; then 200
    received: list[Received] = field(default_factory=list)
    redirect_to: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_status(self) -> int:
        with self.lock:
            return self.plan.pop(0) if self.plan else 200

    def accepted(self) -> list[Received]:
        return [r for r in self.received if 200 <= r.status < 300]


@contextmanager
def receiving() -> Iterator[Receiver]:
    """A receiver on a free port, stopped at the end."""
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status = receiver.next_status()
            receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                              json.loads(raw or b"null"), status))
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", receiver.redirect_to or "/elsewhere")
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"ok": true}' if status < 300 else b'{"error": "try later"}')

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hooks/handoff")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
