"""Browser tests: a real `ragbot serve` (embedded Postgres, bundled models) driven by Debian's chromium.

One server and one browser per session, a fresh browser context per test. Screenshots go to
`test-artifacts/`. Needs `/usr/bin/chromium` (`make e2e-deps`, run by `make test`); fails loudly without it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from tests.e2e.support import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    EXPECT_TIMEOUT_MS,
    LOCAL_HOSTS,
    REPO,
    Server,
    docs_folder,
    free_port,
    ragbot,
)


@pytest.fixture(scope="session")
def server(ragbot_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no chromium at {CHROMIUM}: run `make e2e-deps` (make test does)")
    tmp = tmp_path_factory.mktemp("e2e")
    env = {**os.environ, "RAGBOT_HOME": str(ragbot_home), "RAGBOT_ADMIN_PASSWORD": ADMIN_PASSWORD,
           "RAGBOT_ADMIN_USER": ADMIN_USER, "RAGBOT_MAX_NEW_TOKENS": "24", "GRADIO_ANALYTICS_ENABLED": "False",
           "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "MPLCONFIGDIR": str(tmp / "mpl")}
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
        yield Server(url, env, ragbot_home, database_url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(tmp / "serve.log", ARTIFACTS / "serve.log")
        subprocess.run([sys.executable, "-m", "chatbot", "db", "stop"], env=env, cwd=REPO, capture_output=True,
                       timeout=60)


@pytest.fixture(scope="session")
def browser() -> Iterator:
    from playwright.sync_api import expect, sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"no chromium at {CHROMIUM}: run `make e2e-deps` (make test does)")
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server: Server, request: pytest.FixtureRequest) -> Iterator:
    """A page in a fresh context; fails the test if the page tried to reach anything but the server."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, base_url=server.url)
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    external: list[str] = []

    def watch(req) -> None:
        host = urlparse(req.url).hostname
        if req.url.startswith(("http://", "https://", "ws://", "wss://")) and host not in LOCAL_HOSTS:
            external.append(req.url)

    context.on("request", watch)
    page = context.new_page()
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-end.png"), full_page=True)
    finally:
        context.close()
    assert not external, f"the page tried to reach other hosts: {external}"
