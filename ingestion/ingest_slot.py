"""One ingest at a time in a server process. The Admin tab's uploads and website syncs (already one at a time in
Gradio's queue) and the REST upload route take the same slot, so a REST client cannot run ingests beside them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_SLOT = threading.RLock()  # re-entrant: a sync started inside an ingest of the same thread does not wait on itself


class IngestBusy(Exception):
    """The slot is taken and the caller chose not to wait."""


@contextmanager
def ingest_slot(*, wait: bool = True) -> Iterator[None]:
    """Hold the slot for the block; with `wait=False`, raise IngestBusy at once when another ingest holds it."""
    if not _SLOT.acquire(blocking=wait):
        raise IngestBusy("another ingest is running on this server: try again when it has finished")
    try:
        yield
    finally:
        _SLOT.release()
