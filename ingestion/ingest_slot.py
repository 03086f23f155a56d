"""One ingest at a time in a process. Ingest jobs (uploads, website syncs) run on a worker, which may run several
jobs at once (`--concurrency`): they take this slot, so one worker never runs two ingests beside each other."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_SLOT = threading.RLock()  # re-entrant: a sync started inside an ingest of the same thread does not wait on itself


@contextmanager
def ingest_slot() -> Iterator[None]:
    """Hold the slot for the block, waiting for it while another ingest of this process holds it."""
    with _SLOT:
        yield
