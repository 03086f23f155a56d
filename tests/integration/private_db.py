"""A RAGBOT_HOME with its own embedded database, for tests that stop, kill or restore the database
(the session's shared database must stay up for the other tests). Models come from the repo's prepared ones."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import SHARED_MODELS


def private_settings(base: Path, **overrides):
    """Settings for a fresh home under `base` (the `ragbot_home` fixture must have prepared the models)."""
    from chatbot.settings import Settings

    home = base / "home"
    home.mkdir(parents=True)
    (home / "models").symlink_to(SHARED_MODELS, target_is_directory=True)
    return Settings(home=home, _env_file=None, **{"max_new_tokens": 16, **overrides})


@contextmanager
def private_services(settings) -> Iterator:
    """Services on the private home's database, started and migrated; stopped afterwards."""
    from chatbot.services import Services
    from chatbot.storage import db

    services = Services(settings)
    try:
        services.pool  # noqa: B018 — start the server and migrate
        yield services
    finally:
        services.close()
        db.stop_embedded(settings)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(app) -> Iterator[str]:
    """An ASGI app on a free local port in a thread (as `ragbot serve` runs it); yields its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def cli_env(settings, **extra: str) -> dict[str, str]:
    """The environment `run_cli` in test_ingest uses: only this home, offline."""
    return {"PATH": "/usr/bin:/bin", "RAGBOT_HOME": str(settings.home), "HF_HUB_OFFLINE": "1", **extra}


def run_cli(args: list[str], settings, timeout: float = 300, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chatbot", *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, env=cli_env(settings, **extra), timeout=timeout)


@contextmanager
def worker_process(settings, *args: str, **extra: str) -> Iterator[subprocess.Popen]:
    """A `ragbot worker` process on the home's database (`extra`: more environment); stopped (SIGTERM, then
    SIGKILL after 30 s) afterwards if it still runs."""
    process = subprocess.Popen([sys.executable, "-m", "chatbot", "worker", *args], env=cli_env(settings, **extra),
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
