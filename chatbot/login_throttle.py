"""Failed admin logins slow down the next attempt, per client and per user name (Gradio's form and HTTP Basic).

After `free_failures` failures within `forget_after_s`, each further attempt from that client, or for that user
name, must wait 1 s, 2 s, 4 s … up to `max_wait_s` after the last failure; an attempt made sooner is refused
(429 with Retry-After) without looking at the password. A success clears its client's record only: the user
name's stays, so logging in from one place does not reset what an attacker elsewhere has built up."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

FORGET_AFTER_S = 3600.0
MAX_KEYS = 50_000
UNKNOWN_CLIENT = "unknown"

# The client of the request being handled, published by the API's rate-limit middleware: Gradio's login
# callback is given no request, so the throttle reads the client from here.
current_client: ContextVar[str] = ContextVar("current_client", default=UNKNOWN_CLIENT)


class LoginThrottled(RuntimeError):
    """Too many failed logins: retry after `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(f"too many failed logins: retry in {self.retry_after} s")


@dataclass
class _Record:
    failures: int
    last: float


class LoginThrottle:
    def __init__(self, *, free_failures: int = 5, max_wait_s: float = 300.0,
                 forget_after_s: float = FORGET_AFTER_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.free_failures = free_failures
        self.max_wait_s = max_wait_s
        self.forget_after_s = max(forget_after_s, max_wait_s)
        self._clock = clock
        self._records: OrderedDict[tuple[str, str], _Record] = OrderedDict()
        self._lock = threading.Lock()

    def _wait(self, record: _Record | None, now: float) -> float:
        if record is None or record.failures < self.free_failures:
            return 0.0
        delay = min(self.max_wait_s, 2.0 ** (record.failures - self.free_failures))
        return max(0.0, record.last + delay - now)

    def _record(self, key: tuple[str, str], now: float) -> _Record | None:
        record = self._records.get(key)
        if record is not None and now - record.last > self.forget_after_s:
            del self._records[key]
            return None
        return record

    def check(self, client: str, user: str) -> None:
        """Raise `LoginThrottled` when this client or this user name must still wait."""
        now = self._clock()
        with self._lock:
            wait = max(self._wait(self._record(("client", client), now), now),
                       self._wait(self._record(("user", user), now), now))
        if wait > 0:
            raise LoginThrottled(wait)

    def failed(self, client: str, user: str) -> None:
        now = self._clock()
        with self._lock:
            for key in (("client", client), ("user", user)):
                record = self._record(key, now) or _Record(0, now)
                record.failures, record.last = record.failures + 1, now
                self._records.pop(key, None)
                self._records[key] = record
            while len(self._records) > MAX_KEYS:
                self._records.popitem(last=False)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._records.pop(("client", client), None)
