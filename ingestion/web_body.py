"""A web page's body, read within bounds: only identity or one gzip coding, decompressed by zlib with a bounded
`max_length` (no single step can exceed the page cap, whatever the compression ratio), and a hard deadline on the
whole exchange (`Deadline` shuts the connection's socket down, so a server that drips bytes cannot hold a page)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import zlib
from typing import Any

import httpx

from ingestion.errors import IngestError

_MB = 1024 * 1024
_CHUNK = 64 * 1024
GZIP = frozenset({"gzip", "x-gzip"})


class BodyError(IngestError):
    """A body that was refused while it was read."""


def content_codings(headers: httpx.Headers) -> list[str]:
    """The Content-Encoding codings, in order, without `identity`."""
    codings = [c.strip().lower() for value in headers.get_list("content-encoding") for c in value.split(",")]
    return [c for c in codings if c and c != "identity"]


def check_codings(codings: list[str]) -> None:
    """Refuse what ragbot did not ask for: stacked codings, or any coding but gzip."""
    if len(codings) > 1:
        raise BodyError(f"stacked content encodings ({', '.join(codings)}) are refused: ragbot asks for gzip only")
    if codings and codings[0] not in GZIP:
        raise BodyError(f"content encoding '{codings[0][:40]}' is refused: ragbot asks for gzip only")


def read_body(response: httpx.Response, max_bytes: int, gzipped: bool) -> bytes:
    """The raw body (decompressed when `gzipped`), refused as soon as it passes `max_bytes` either way."""
    body = bytearray()
    inflater = zlib.decompressobj(wbits=31) if gzipped else None
    received = 0
    for raw in response.iter_raw(_CHUNK):
        received += len(raw)
        _check(received, max_bytes)
        if inflater is None:
            body += raw
            continue
        data = raw
        while data and not inflater.eof:  # each call yields at most what is left under the cap, plus one byte
            try:
                body += inflater.decompress(data, max_bytes - len(body) + 1)
            except zlib.error as exc:
                raise BodyError(f"corrupt gzip body: {exc}") from None
            _check(len(body), max_bytes)
            data = inflater.unconsumed_tail
    if inflater is not None and not inflater.eof:
        raise BodyError("corrupt gzip body: it ends before the compressed stream does")
    return bytes(body)


def _check(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise BodyError(f"page is over the {max_bytes / _MB:.1f} MB limit (stopped reading)")


class Deadline:
    """Arms a timer for one exchange; when it fires, the sockets the exchange opened (reported by httpcore's trace
    events) are shut down, which ends any read in progress. `expired` tells the caller why the read failed."""

    def __init__(self, seconds: float) -> None:
        self.seconds = max(seconds, 0.0)
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(self.seconds, self._fire)
        self._timer.daemon = True

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's trace hook: note the socket of each new connection (plain, then TLS)."""
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            sock = info["return_value"].get_extra_info("socket")
            if sock is not None:
                with self._lock:
                    self._sockets.append(sock)
                    if self.expired:
                        _shut(sock)

    def remaining(self) -> float:
        return max(self._ends - time.monotonic(), 0.001)

    def __enter__(self) -> Deadline:
        self._ends = time.monotonic() + self.seconds
        self._timer.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._timer.cancel()

    def _fire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)
