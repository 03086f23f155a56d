"""Failed admin logins slow down the next attempt, per client and per user name (Gradio's form and HTTP Basic).

After `free_failures` failures within `forget_after_s`, each further attempt from that client must wait 1 s,
2 s, 4 s … up to `max_wait_s` after its last failure; an attempt made sooner is refused (429 with Retry-After)
without looking at the password. The user name's record (failures from anywhere) slows only clients with failures
of their own: an attacker guessing from many addresses is slowed at each of them after its first guess, while the
right password from a clean address is never refused (issue 29, item 9). A success clears its client's record
only. The records live in Postgres (`chatbot.cluster.login_records`), so every replica sees the same ones."""

from __future__ import annotations

import math
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

FORGET_AFTER_S = 3600.0
UNKNOWN_CLIENT = "unknown"

# The client of the request being handled, published by the API's rate-limit middleware: Gradio's login
# callback is given no request, so the throttle reads the client from here.
current_client: ContextVar[str] = ContextVar("current_client", default=UNKNOWN_CLIENT)


class LoginThrottled(RuntimeError):
    """Too many failed logins: retry after `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(f"too many failed logins: retry in {self.retry_after} s")


@dataclass(frozen=True)
class Failures:
    """A record: how many failures, and seconds since the last one."""

    count: int
    age_s: float


class LoginRecords(Protocol):
    def read(self, client: str, user: str, forget_after_s: float) -> tuple[Failures | None, Failures | None]: ...

    def add_failure(self, client: str, user: str, forget_after_s: float) -> None: ...

    def clear_client(self, client: str) -> None: ...


class LoginThrottle:
    def __init__(self, records: LoginRecords, *, free_failures: int = 5, max_wait_s: float = 300.0,
                 forget_after_s: float = FORGET_AFTER_S) -> None:
        self.records = records
        self.free_failures = free_failures
        self.max_wait_s = max_wait_s
        self.forget_after_s = max(forget_after_s, max_wait_s)

    def _wait(self, record: Failures | None) -> float:
        if record is None or record.count < self.free_failures:
            return 0.0
        delay = min(self.max_wait_s, 2.0 ** (record.count - self.free_failures))
        return max(0.0, delay - record.age_s)

    def check(self, client: str, user: str) -> None:
        """Raise `LoginThrottled` when this client must still wait (the user name's wait only applies to a
        client with failures of its own)."""
        own, name = self.records.read(client, user, self.forget_after_s)
        wait = 0.0 if own is None else max(self._wait(own), self._wait(name))
        if wait > 0:
            raise LoginThrottled(wait)

    def failed(self, client: str, user: str) -> None:
        self.records.add_failure(client, user, self.forget_after_s)

    def succeeded(self, client: str) -> None:
        self.records.clear_client(client)
