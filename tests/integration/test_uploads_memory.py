"""The REST upload route (issue 29, item 14): uploads are stored with an ingest job and ingested by a worker, one
spooled upload in memory at a time (the route, the job's rows and the worker), never every file at once."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.private_db import serving

pytestmark = pytest.mark.integration

ADMIN = ("admin", "s3cret-test-password")
MB = 1024 * 1024


@pytest.fixture(scope="module")
def base_url(services) -> Iterator[str]:
    from chatbot.credentials import AdminCredentials
    from chatbot.server import create_server

    with serving(create_server(services, AdminCredentials(*ADMIN, generated=False), with_ui=False)) as url:
        yield url


def post(base_url: str, files: list[tuple[str, object]], collection: str) -> httpx.Response:
    return httpx.post(f"{base_url}/api/documents", files=[("files", f) for f in files],
                      data={"collection": collection}, auth=ADMIN, timeout=300)


def test_uploads_are_read_one_at_a_time(base_url, collection, tmp_path: Path):
    """Three 8 MB uploads (not DOCX inside): the server and its in-process worker hold about one at a time (they
    held all three before)."""
    paths = []
    for n in range(3):
        path = tmp_path / f"scan-{n}.docx"
        path.write_bytes(bytes([n + 1]) * (8 * MB))
        paths.append(path)
    handles = [path.open("rb") for path in paths]
    tracemalloc.start()
    try:
        response = post(base_url, [(path.name, handle) for path, handle in zip(paths, handles, strict=True)],
                        collection)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        for handle in handles:
            handle.close()
    assert response.status_code == 200, response.text
    failed = {f["path"]: f["error"] for f in response.json()["files_failed"]}
    assert set(failed) == {path.name for path in paths} and all("DOCX" in e for e in failed.values())
    assert peak < 20 * MB, f"{peak / MB:.1f} MB at peak"  # one 8 MB upload and its copy on the way to Postgres
