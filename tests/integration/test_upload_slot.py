"""The REST upload route (issue 29, item 14): it shares the server's one ingest slot with the Admin tab (503 while
another ingest runs, then it goes through), and it reads one spooled upload at a time instead of every file into
memory first."""

from __future__ import annotations

import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ingestion.ingest_slot import ingest_slot
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


def test_a_rest_upload_waits_for_no_other_ingest_it_answers_503(base_url, services, collection):
    held, release = threading.Event(), threading.Event()

    def other_ingest() -> None:  # what the Admin tab's upload or website sync holds while it runs
        with ingest_slot():
            held.set()
            release.wait(60)

    worker = threading.Thread(target=other_ingest)
    worker.start()
    try:
        assert held.wait(10)
        busy = post(base_url, [("faq.md", b"# FAQ\n\nThe hub resets with a pin.\n")], collection)
        assert busy.status_code == 503 and "another ingest" in busy.json()["detail"], busy.text
        assert busy.headers["retry-after"] == "30"
        assert services.store.list_documents(collection) == []
    finally:
        release.set()
        worker.join()
    done = post(base_url, [("faq.md", b"# FAQ\n\nThe hub resets with a pin.\n")], collection)
    assert done.status_code == 200 and done.json()["files_ok"] == 1
    assert [d.source for d in services.store.list_documents(collection)] == ["upload:faq.md"]


def test_uploads_are_read_one_at_a_time(base_url, collection, tmp_path: Path):
    """Three 8 MB uploads (not DOCX inside): the server holds about one at a time (it held all three before)."""
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
    assert peak < 16 * MB, f"{peak / MB:.1f} MB at peak"
