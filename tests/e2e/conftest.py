"""Browser tests: a real `ragbot serve` (embedded Postgres, bundled models) driven by Debian's chromium.

One server and one browser per session, a fresh browser context per test. Screenshots go to
`test-artifacts/`. Needs `/usr/bin/chromium` (`make e2e-deps`, run by `make test`); fails loudly without it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.support import CHROMIUM, CHROMIUM_ARGS, EXPECT_TIMEOUT_MS, Server, browsing, serving


@pytest.fixture(scope="session")
def server(ragbot_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no chromium at {CHROMIUM}: run `make e2e-deps` (make test does)")
    home = tmp_path_factory.mktemp("e2e-home")  # its own database: its worker and heartbeat stay out of the others'
    (home / "models").symlink_to((ragbot_home / "models").resolve(), target_is_directory=True)
    (ragbot_home / "adapters").mkdir(exist_ok=True)  # the session's adapters (`untrained_adapter`) are offered too
    (home / "adapters").symlink_to(ragbot_home / "adapters", target_is_directory=True)
    with serving(home, tmp_path_factory.mktemp("e2e")) as running:
        yield running


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
    with browsing(browser, server.url, request.node.name) as page:
        yield page
