"""Crash safety on the real database: an ingest killed with SIGKILL resumes to exactly a clean run's state, and
the API answers 503 with a reason while the database is down, then recovers by itself when it is back."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import EXAMPLE_DOCS
from tests.integration.private_db import cli_env, private_services, private_settings, serving

pytestmark = pytest.mark.integration

FILES = 60


def write_corpus(folder: Path) -> None:
    """60 Markdown and text files of ~2 KB: shuffled real words from the examples, plus each file's own terms."""
    text = " ".join(p.read_text() for p in EXAMPLE_DOCS.glob("*.md"))
    vocabulary = sorted({w.lower() for w in re.findall(r"[A-Za-z]{3,12}", text)})
    folder.mkdir()
    for i in range(FILES):
        rng = random.Random(i)
        paragraphs = [f"Part {p} of note {i} about item{i}: " + " ".join(rng.choices(vocabulary, k=55)) + "."
                      for p in range(5)]
        name, heading = (f"note-{i:02d}.md", f"# Note {i}") if i % 2 else (f"note-{i:02d}.txt", f"Note {i}")
        (folder / name).write_text(heading + "\n\n" + "\n\n".join(paragraphs) + "\n")


def chunk_state(services, collection: str) -> dict[str, list[tuple[int, str]]]:
    """source → [(ordinal, text)] in ordinal order, for every document of the collection."""
    with services.pool.connection() as conn:
        rows = conn.execute(
            "SELECT d.source, k.ordinal, k.text FROM documents d JOIN collections c ON c.id = d.collection_id"
            " LEFT JOIN chunks k ON k.document_id = d.id WHERE c.name = %s ORDER BY d.source, k.ordinal",
            (collection,),
        ).fetchall()
    state: dict[str, list[tuple[int, str]]] = {}
    for source, ordinal, text in rows:
        state.setdefault(source, [])
        if ordinal is not None:
            state[source].append((ordinal, text))
    return state


def assert_every_document_complete(services, collection: str) -> dict[str, list[tuple[int, str]]]:
    state = chunk_state(services, collection)
    for source, chunks in state.items():
        assert chunks, f"{source} has no chunks"
        assert [o for o, _ in chunks] == list(range(len(chunks))), f"{source}: ordinals not 0..n-1"
    with services.pool.connection() as conn:
        duplicates = conn.execute(
            "SELECT d.source, count(*) FROM documents d JOIN collections c ON c.id = d.collection_id"
            " WHERE c.name = %s GROUP BY d.source HAVING count(*) > 1", (collection,)).fetchall()
        orphans = conn.execute("SELECT count(*) FROM chunks k LEFT JOIN documents d ON d.id = k.document_id"
                               " WHERE d.id IS NULL").fetchone()[0]
    assert duplicates == [] and orphans == 0
    return state


def document_count(services, collection: str) -> int:
    with services.pool.connection() as conn:
        return conn.execute("SELECT count(*) FROM documents d JOIN collections c ON c.id = d.collection_id"
                            " WHERE c.name = %s", (collection,)).fetchone()[0]


def test_sigkill_mid_ingest_then_rerun_equals_a_clean_run(services, settings, tmp_path, collection):
    corpus = tmp_path / "corpus"
    write_corpus(corpus)
    killed = subprocess.Popen([sys.executable, "-m", "chatbot", "ingest", str(corpus), "-c", collection, "--json"],
                              env=cli_env(settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 240
        while document_count(services, collection) == 0:
            assert killed.poll() is None, f"ingest ended before it could be killed: {killed.communicate()}"
            assert time.time() < deadline, "no document was written within 240 s"
            time.sleep(0.05)
        os.kill(killed.pid, signal.SIGKILL)
    finally:
        killed.kill()
        killed.wait(30)
    assert killed.returncode == -signal.SIGKILL
    partial = assert_every_document_complete(services, collection)
    assert 0 < len(partial) < FILES, f"killed too late to test anything: {len(partial)} documents"

    resumed = subprocess.run([sys.executable, "-m", "chatbot", "ingest", str(corpus), "-c", collection, "--json"],
                             env=cli_env(settings), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["documents_unchanged"] == len(partial)  # what was committed before the kill is complete
    assert report["documents_added"] == FILES - len(partial) and report["files_failed"] == []
    after = assert_every_document_complete(services, collection)
    assert {s: after[s] for s in partial} == partial

    clean = services.ingestor.ingest_paths([corpus], collection + "-clean")
    assert clean.files_ok == FILES and not clean.files_failed
    reference = assert_every_document_complete(services, collection + "-clean")
    assert len(after) == len(reference) == FILES
    assert sum(map(len, after.values())) == sum(map(len, reference.values())) == clean.chunks_added
    assert after == reference  # same sources, same chunks, same order
    services.store.delete_collection(collection + "-clean")


CHAT = {"model": "base", "collection": "nothing-here",
        "messages": [{"role": "user", "content": "How do I reset the hub?"}]}


def test_database_down_gives_503_with_a_reason_then_recovers_without_restart(ragbot_home, tmp_path):
    from chatbot.credentials import AdminCredentials
    from chatbot.server import create_server
    from chatbot.storage import db

    settings = private_settings(tmp_path)
    admin = ("admin", "crash-test-password")
    with private_services(settings) as services, \
            serving(create_server(services, AdminCredentials(*admin, generated=False), with_ui=False)) as url:
        assert httpx.get(f"{url}/healthz").status_code == 200
        first = httpx.post(f"{url}/v1/chat/completions", json=CHAT, timeout=120)
        assert first.status_code == 200 and first.json()["not_covered"] is True, first.text

        assert db.stop_embedded(settings)
        started = time.perf_counter()
        health = httpx.get(f"{url}/healthz", timeout=60)
        assert health.status_code == 503
        assert health.json()["status"] == "unavailable" and health.json()["database"].startswith("unavailable: ")
        assert time.perf_counter() - started < 10

        def call(kind: str) -> httpx.Response:
            if kind == "chat":
                return httpx.post(f"{url}/v1/chat/completions", json=CHAT, timeout=60)
            if kind == "stream":
                return httpx.post(f"{url}/v1/chat/completions", json={**CHAT, "stream": True}, timeout=60)
            return httpx.get(f"{url}/api/documents", auth=admin, timeout=60)

        started = time.perf_counter()
        with ThreadPoolExecutor(3) as pool:
            chat, stream, documents = pool.map(call, ["chat", "stream", "documents"])
        assert time.perf_counter() - started < 30  # bounded by the pool's timeout, not a hang
        for response in (chat, stream):
            assert response.status_code == 503, response.text
            assert response.headers["content-type"].startswith("application/json")
            error = response.json()["error"]
            assert error["type"] == "database_unavailable" and "database unavailable" in error["message"]
        assert documents.status_code == 503 and "database unavailable" in documents.json()["detail"]

        db.embedded_server(settings)  # the database comes back; the app is not restarted
        assert db.embedded_running(settings)
        deadline = time.time() + 60
        while (health := httpx.get(f"{url}/healthz", timeout=30)).status_code != 200:
            assert time.time() < deadline, f"still unhealthy 60 s after the database came back: {health.text}"
            time.sleep(0.5)
        assert health.json()["database"] == "ok"
        again = httpx.post(f"{url}/v1/chat/completions", json=CHAT, timeout=120)
        assert again.status_code == 200 and again.json()["not_covered"] is True, again.text
        assert httpx.get(f"{url}/api/documents", auth=admin).status_code == 200
