"""What a running job reports: a fraction (or n of N) and a message, written to its row (at most every
`interval` s, so a fast loop does not flood the database). Each report is also where a cancel takes effect."""

from __future__ import annotations

import time
from collections.abc import Callable

from chatbot.queue.records import JobRecords


class JobCancelled(Exception):
    """Raised inside a job at its next progress report once a cancel was requested."""


class Progress:
    """`progress(fraction, message)` or `progress(message=..., done=n, total=N)`."""

    def __init__(self, records: JobRecords, job_id: int, should_abort: Callable[[], bool] = lambda: False,
                 interval: float = 0.5) -> None:
        self.records, self.job_id, self.should_abort, self.interval = records, job_id, should_abort, interval
        self.fraction, self.message, self.done, self.total = 0.0, "", 0, 0
        self._written: float | None = None  # the first report is always written

    def __call__(self, fraction: float | None = None, message: str | None = None, *, done: int | None = None,
                 total: int | None = None) -> None:
        if done is not None and total:
            self.done, self.total = done, total
            fraction = done / total if fraction is None else fraction
        if fraction is not None:
            self.fraction = min(max(float(fraction), 0.0), 1.0)
        if message is not None:
            self.message = message
        cancelled = False
        now = time.monotonic()
        if self._written is None or now - self._written >= self.interval or self.fraction >= 1.0:
            self._written = now
            cancelled = self.records.progress(self.job_id, self.fraction, self.message, self.done, self.total)
        if cancelled or self.should_abort():
            raise JobCancelled(f"job {self.job_id} was cancelled")
