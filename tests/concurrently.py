"""Run calls on their own threads, released together, as concurrent users would."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def all_at_once(calls: list[Callable[[], T]], timeout: float) -> list[T | None]:
    """Each call's result, in order (None for one still running after `timeout` seconds)."""
    results: list[T | None] = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def run(i: int) -> None:
        start.wait()
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return results
