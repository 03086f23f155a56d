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
