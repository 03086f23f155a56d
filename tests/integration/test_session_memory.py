"""Issue 29, item 1: refused questions leave nothing behind. Forty anonymous 1.9 MB questions through the public
queue, each in a session of its own, against a real `ragbot serve` process: its resident memory stays within 20 MB
of where it started (it grew by 104 MB before the fix). With the default settings they are refused at the queue's
door (the public UI's event cap); with a question limit that lets them in, by the handler, before it keeps
anything. What a session keeps is checked exactly in `test_security_round3`."""

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

from tests.e2e.support import stop
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
        stop(process)


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def ask_in_new_sessions(url: str, question: str, times: int) -> list[str]:
    """`times` questions through the public queue, each from a new page session; how each was answered: the
    join's refusal (its status) or the event's output."""
    answers = []
    with httpx.Client(base_url=url, timeout=120) as client:
        for _ in range(times):
            queue = QueueClient(client)
            joined = queue.join("respond", {"chat-question": question})
            answers.append(str(joined.status_code) if joined.status_code != 200 else
                           str(queue.completed(queue.session_hash)["output"]["data"]))
    return answers


def test_refused_questions_do_not_stay_in_server_memory(served):
    url, server = served
    warm = ask_in_new_sessions(url, "x" * 5000, 3)  # code paths and allocator pools warmed by refusals
    assert "at most 4,000 are accepted" in warm[-1], warm[-1]
    started = server.memory_info().rss
    answers = ask_in_new_sessions(url, "y" * QUESTION_BYTES, QUESTIONS)
    assert set(answers) == {"413"}, answers[-1][:300]  # refused before Gradio reads them
    grown = server.memory_info().rss - started
    print(f"RSS {started / 2**20:.1f} MB before, grew by {grown / 2**20:.1f} MB after {QUESTIONS} refused questions")
    assert grown < RSS_SLACK, f"RSS grew by {grown / 2**20:.1f} MB after {QUESTIONS} refused questions"
