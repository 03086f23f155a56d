"""Shared pieces of the browser tests: the server handle, the ragbot CLI, constants, screenshots."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

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
