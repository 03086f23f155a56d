"""Issue 29, item 1: refused questions leave nothing behind in the server's session state. Forty anonymous 1.9 MB
questions through the public queue, each in a session of its own, against a real `ragbot serve` process: its
resident memory stays within 20 MB of where it started (it grew by 78 MB before the fix)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.gradio_queue import QueueClient
from tests.integration.private_db import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
QUESTIONS = 40
QUESTION_BYTES = 1_900_000
RSS_SLACK = 20 * 1024 * 1024


@pytest.fixture(scope="module")
def served(services, tmp_path_factory) -> Iterator[tuple[str, psutil.Process]]:
    """`ragbot serve` on the session's home (its database already running), no per-client rate limit."""
    services.pool  # noqa: B018 — the embedded database runs before the server reattaches to it
    port, log = free_port(), tmp_path_factory.mktemp("serve") / "serve.log"
    env = {**os.environ, "RAGBOT_HOME": str(services.settings.home), "RAGBOT_ADMIN_PASSWORD": "memory-test-secret",
           "RAGBOT_RATE_LIMIT_PER_MINUTE": "0", "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("DATABASE_URL", None)
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "chatbot", "serve", "--port", str(port)], env=env,
                                   cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while not healthy(url):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        yield url, psutil.Process(process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def ask_in_new_sessions(url: str, question: str, times: int) -> list[dict]:
    """`times` questions through the public queue, each from a new page session; their completion messages."""
    with httpx.Client(base_url=url, timeout=120) as client:
        return [QueueClient(client).run("respond", {"chat-question": question}) for _ in range(times)]


def test_refused_questions_do_not_stay_in_server_memory(served):
    url, server = served
    warm = ask_in_new_sessions(url, "x" * 5000, 3)  # code paths and allocator pools warmed by refusals
    assert "at most 4,000 are accepted" in str(warm[-1]["output"]["data"]), warm[-1]
    started = server.memory_info().rss
    done = ask_in_new_sessions(url, "y" * QUESTION_BYTES, QUESTIONS)
    assert all("at most 4,000 are accepted" in str(d["output"]["data"]) for d in done), done[-1]
    grown = server.memory_info().rss - started
    print(f"RSS {started / 2**20:.1f} MB before, grew by {grown / 2**20:.1f} MB after {QUESTIONS} refused questions")
    assert grown < RSS_SLACK, f"RSS grew by {grown / 2**20:.1f} MB after {QUESTIONS} refused questions"
