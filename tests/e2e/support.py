"""Shared pieces of the browser tests: the server handle, the ragbot CLI, constants, screenshots."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import httpx

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_DOCS = REPO / "examples" / "docs"
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = os.environ.get("RAGBOT_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]
ADMIN_USER = "admin"
ADMIN_PASSWORD = "e2e-admin-secret"
EXPECT_TIMEOUT_MS = 30_000
ANSWER_TIMEOUT_MS = 120_000  # a CPU answer under load, model loading included on the first one
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@dataclass(frozen=True)
class Server:
    """The running `ragbot serve`: its URL, the environment it runs with, its RAGBOT_HOME."""

    url: str
    env: dict[str, str]
    home: Path
    database_url: str

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as conn:
            return conn.execute(query, params).fetchall()


def ragbot(env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "chatbot", *args], env=env, cwd=REPO, capture_output=True,
                            text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"ragbot {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def docs_folder(tmp: Path) -> Path:
    """examples/docs when it is there, else a small folder of Markdown files."""
    if EXAMPLE_DOCS.is_dir() and any(EXAMPLE_DOCS.iterdir()):
        return EXAMPLE_DOCS
    folder = tmp / "docs"
    folder.mkdir()
    (folder / "reset.md").write_text(
        "# Resetting the hub\n\nTo reset the Lumio hub, hold the reset button for 10 seconds until the light "
        "blinks orange. The hub then restarts with factory settings.\n", encoding="utf-8")
    (folder / "billing.md").write_text(
        "# Billing\n\nInvoices are sent by email on the first day of each month. You can pay by card or "
        "bank transfer.\n", encoding="utf-8")
    return folder


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def stop(process: subprocess.Popen) -> None:
    """Stop a server process: SIGTERM, then SIGKILL after 15 s."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def serving(home: Path, tmp: Path, env: dict[str, str] | None = None) -> Iterator[Server]:
    """`ragbot serve` on a free port with `home` as RAGBOT_HOME (the example documents ingested first); stopped,
    with its embedded database, at the end (its log goes to test-artifacts/)."""
    env = {**os.environ, "RAGBOT_HOME": str(home), "RAGBOT_ADMIN_PASSWORD": ADMIN_PASSWORD,
           "RAGBOT_ADMIN_USER": ADMIN_USER, "RAGBOT_MAX_NEW_TOKENS": "24", "GRADIO_ANALYTICS_ENABLED": "False",
           "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "MPLCONFIGDIR": str(tmp / "mpl"), **(env or {})}
    env.pop("DATABASE_URL", None)
    ragbot(env, "ingest", str(docs_folder(tmp)))
    port = free_port()
    log = (tmp / "serve.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "chatbot", "serve", "--port", str(port)], env=env, cwd=REPO,
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # generous: CI machines are 2 shared cores
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"serve exited with {process.returncode}:\n{(tmp / 'serve.log').read_text()}")
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"serve not healthy after 180 s:\n{(tmp / 'serve.log').read_text()}")
            time.sleep(0.5)
        database_url = ragbot(env, "db", "url").stdout.strip().splitlines()[-1]
        yield Server(url, env, home, database_url)
    finally:
        stop(process)
        log.close()
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(tmp / "serve.log", ARTIFACTS / f"serve-{home.name}.log")
        subprocess.run([sys.executable, "-m", "chatbot", "db", "stop"], env=env, cwd=REPO, capture_output=True,
                       timeout=60)


@contextlib.contextmanager
def browsing(browser, url: str, name: str) -> Iterator:
    """A page in a fresh browser context on `url`; a full-page screenshot `<name>-end.png` at the end. Fails if the
    page tried to reach anything but the server."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, base_url=url)
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    external: list[str] = []

    def watch(req) -> None:
        host = urlparse(req.url).hostname
        if req.url.startswith(("http://", "https://", "ws://", "wss://")) and host not in LOCAL_HOSTS:
            external.append(req.url)

    context.on("request", watch)
    page = context.new_page()
    try:
        yield page
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        try:
            page.screenshot(path=str(ARTIFACTS / f"{name}-end.png"), full_page=True)
        finally:
            context.close()
    assert not external, f"the page tried to reach other hosts: {external}"
