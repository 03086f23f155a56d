"""A bounded admission gate (generation, searches): a few run, a few wait, the rest are told to retry."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Busy(RuntimeError):
    """Too many requests are running or waiting; retry shortly."""


class GenerationGate:
    def __init__(self, capacity: int, what: str = "answers") -> None:
        self.capacity = capacity
        self.what = what
        self._slots = threading.BoundedSemaphore(capacity)
        self._count = 0
        self._count_lock = threading.Lock()

    @property
    def in_use(self) -> int:
        return self._count

    def acquire(self) -> None:
        """Take a slot now or raise `Busy` (never waits: waiting happens on the model's own lock)."""
        if not self._slots.acquire(blocking=False):
            raise Busy(f"busy: {self.capacity} {self.what} are running or queued, retry in a few seconds")
        with self._count_lock:
            self._count += 1

    def release(self) -> None:
        with self._count_lock:
            self._count -= 1
        self._slots.release()

    @contextmanager
    def slot(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()
