"""Torch thread count on a shared CPU.

Measured here (2 cores, another process busy on one): a forward+backward of 1,400 tokens took 19 s with one
torch thread and 70–95 s with two — oversubscribed OpenMP threads wait for each other at every barrier.
So unless `RAGBOT_TORCH_THREADS` fixes the count, use the cores the other processes leave free (by the load
average), at least one, and re-check between steps.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from chatbot.settings import GenerationSettings, Settings


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def free_cores(own_threads: int = 0) -> int:
    """Cores not busy with other processes: all of them minus the 1-minute load not ours, at least 1."""
    cores = usable_cores()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return cores
    others = max(0.0, load - own_threads)
    return max(1, min(cores, int(cores - others + 0.5)))


def choose_threads(settings: GenerationSettings, own_threads: int = 0) -> int:
    return settings.torch_threads or free_cores(own_threads)


def adapt_threads(settings: Settings) -> int:
    """Set torch's thread count for what is free now (a fixed `torch_threads` always wins)."""
    import torch

    current = torch.get_num_threads()
    wanted = choose_threads(settings, own_threads=current)
    if wanted != current:
        torch.set_num_threads(wanted)
    return wanted


@contextmanager
def threads_restored() -> Iterator[None]:
    """Give torch's thread count back when the block ends: the count is process-wide, and a job inside the server
    (training, evaluation) must not leave serving with its own."""
    import torch

    before = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def training_threads(settings: Settings) -> Iterator[int]:
    """Torch's thread count for a training job (`RAGBOT_TORCH_THREADS`, else the free cores), until it ends."""
    import torch

    with threads_restored():
        threads = choose_threads(settings)
        torch.set_num_threads(threads)
        yield threads
