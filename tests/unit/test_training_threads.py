"""Thread count on a shared CPU: the cores other processes leave free, at least one; a setting wins."""

from __future__ import annotations

import os

import pytest

from chatbot.settings import Settings
from training import threads


@pytest.mark.parametrize("load, own, expected", [(0.0, 0, 2), (1.0, 0, 1), (1.0, 1, 2), (2.2, 1, 1), (5.0, 0, 1)])
def test_free_cores(monkeypatch, load, own, expected):
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    assert threads.free_cores(own) == expected


def test_a_fixed_setting_wins(monkeypatch):
    monkeypatch.setattr(os, "getloadavg", lambda: (9.0, 9.0, 9.0))
    assert threads.choose_threads(Settings(torch_threads=3, _env_file=None)) == 3


def test_a_training_job_gives_the_thread_count_back():
    """Torch's count is process-wide: serving must not keep a training job's, even when the job fails."""
    import torch

    before = torch.get_num_threads()
    wanted = 1 if before != 1 else 2
    settings = Settings(torch_threads=wanted, _env_file=None)
    with threads.training_threads(settings) as chosen:
        assert chosen == wanted and torch.get_num_threads() == wanted
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), threads.training_threads(settings):
        raise RuntimeError("the job failed")
    assert torch.get_num_threads() == before
