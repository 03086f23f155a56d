"""The load benchmark against a real server (in-process uvicorn), and the retrieval-only search it uses."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from benchmarks.load import LoadConfig, measure
from tests.integration.private_db import serving
from tests.unit.test_load_bench import KEYS

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def base_url(services, examples_ingested) -> Iterator[str]:
    from chatbot.credentials import AdminCredentials
    from chatbot.server import create_server

    credentials = AdminCredentials("admin", "load-test-password", generated=False)
    with serving(create_server(services, credentials, with_ui=False)) as url:
        yield url


def test_search_returns_sources_and_validates_input(base_url):
    found = httpx.get(f"{base_url}/api/search", params={"q": "How do I factory reset the hub?",
                                                        "collection": "examples", "k": 3}, timeout=60)
    assert found.status_code == 200, found.text
    sources = found.json()["sources"]
    assert 1 <= len(sources) <= 3 and [s["n"] for s in sources] == list(range(1, len(sources) + 1))
    assert all(s["snippet"] and s["source"] for s in sources)
    for params in ({"q": ""}, {"q": "x" * 2001}, {"q": "hi", "k": 0}, {"q": "hi", "k": 51}, {"q": "a\x00b"},
                   {"q": "hi", "collection": ""}, {}):
        assert httpx.get(f"{base_url}/api/search", params=params).status_code == 422, params


def test_load_benchmark_against_a_server(base_url):
    config = LoadConfig(users=2, seconds=4, retrieval_share=0.4, collection="examples",
                        questions=("How do I factory reset the hub?", "What does a blinking amber light mean?"))
    result = measure(base_url, config, server_pid=os.getpid())
    assert set(result) == KEYS | {"not_covered"}
    assert result["requests"] > 0 and result["errors"] == 0, result["error_samples"]
    assert result["requests"] == result["chat_requests"] + result["retrieval_requests"]
    assert result["metrics_scrape_p50_ms"] > 0 and result["metrics_scrape_p95_ms"] >= result["metrics_scrape_p50_ms"]
    assert result["server_rss_peak_mb"] > 0 and result["serve_ready_seconds"] is None
