"""Embeddings both ways (issue 28, item 4): `ragbot serve` in a second process serves `/v1/embeddings`, and a
configuration with `RAGBOT_EMBEDDER_URL` pointing at it ingests and retrieves through it, on the session's
Postgres reached by DATABASE_URL. The remote vectors equal the local embedder's, the collection records the
server's URL and model, and the local embedder is refused on it (and the remote one on a local collection)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from openai import OpenAI

from tests.conftest import EXAMPLE_DOCS, REPO
from tests.integration.test_hostile_input import Served
from tests.integration.test_security_abuse import assert_rate_limited, limited

pytestmark = pytest.mark.integration

MODEL = "bundled:all-MiniLM-L6-v2"
QUESTION, TITLE = "How do I factory reset the hub?", "RESTARTING, RESETTING AND RECOVERING YOUR LUMIO HOME HUB"
TEXTS = [QUESTION, "What does a blinking amber light mean?", "", "Ünïcode ✓ text " * 40]


@pytest.fixture(scope="module")
def server(services, examples_ingested, tmp_path_factory) -> Iterator[str]:
    """`ragbot serve --no-ui` in its own process on the session's database; its base URL."""
    served = Served(services.settings, tmp_path_factory.mktemp("embeddings-server"), PYTHONPATH=str(REPO),
                    DATABASE_URL=services.url, RAGBOT_ADMIN_PASSWORD="pw-" + secrets.token_hex(12),
                    RAGBOT_RATE_LIMIT_PER_MINUTE="0", RAGBOT_TORCH_THREADS="1")
    try:
        yield served.url
    finally:
        served.stop()


@pytest.fixture(scope="module")
def remote(services, server) -> Iterator:
    """Services configured with the server as their embedder, on the same database."""
    from pydantic import SecretStr

    from chatbot.services import Services

    settings = services.settings.model_copy(update={"embedder_url": f"{server}/v1",
                                                    "database_url": SecretStr(services.url)})
    remote = Services(settings)
    yield remote
    remote.close()


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_the_server_answers_the_openai_client_with_the_local_embedders_vectors(server, services):
    client = OpenAI(base_url=f"{server}/v1", api_key="unused", max_retries=0)
    reply = client.embeddings.create(model=MODEL, input=TEXTS)  # the client asks for base64 and decodes it
    served = np.asarray([d.embedding for d in sorted(reply.data, key=lambda d: d.index)], dtype=np.float32)
    assert served.shape == (len(TEXTS), services.embedder.dimension)
    assert cosines(served, services.embedder.encode(TEXTS)).min() >= 0.999
    assert reply.model == MODEL and reply.usage.prompt_tokens > len(TEXTS)
    as_floats = client.embeddings.create(model=MODEL, input="reset", encoding_format="float")
    assert len(as_floats.data[0].embedding) == services.embedder.dimension

    unknown = httpx.post(f"{server}/v1/embeddings", json={"model": "text-embedding-3-small", "input": "x"})
    assert unknown.status_code == 404 and MODEL in unknown.json()["error"]["message"]
    too_big = httpx.post(f"{server}/v1/embeddings", json={"model": MODEL, "input": ["x" * 1000] * 3000})
    assert too_big.status_code == 413  # the body cap of every JSON route


def test_remote_vectors_equal_the_local_embedders_and_name_the_server(remote, services, server):
    from chatbot.remote_embeddings import RemoteEmbeddings

    embedder = remote.embedder
    assert isinstance(embedder, RemoteEmbeddings)
    assert str(embedder.identity) == f"{MODEL} at {server}/v1 on remote ({services.embedder.dimension}-d)"
    chunks = services.store.texts_in_document_order("examples")  # many batches, in no length order
    assert len(chunks) > 3 * embedder.batch_size
    assert cosines(embedder.encode(chunks), services.embedder.encode(chunks)).min() >= 0.999
    assert embedder.max_tokens == services.embedder.max_tokens  # chunks are cut where local ingest cuts them


def test_a_collection_ingested_through_the_server_retrieves_like_a_local_one_and_refuses_the_local_embedder(
        remote, services, collection):
    from chatbot.storage.store import EmbedderMismatch

    report = remote.ingestor.ingest_paths([EXAMPLE_DOCS], collection)
    assert not report.files_failed and report.documents_added == len(list(EXAMPLE_DOCS.iterdir()))
    assert services.store.recorded_embedder(collection) == remote.embedder.identity
    found = remote.retriever(collection, mode="vector").invoke(QUESTION)
    local = services.retriever("examples", mode="vector").invoke(QUESTION)
    assert found[0].metadata["title"] == TITLE
    assert [d.page_content for d in found] == [d.page_content for d in local]

    with pytest.raises(EmbedderMismatch, match=re.escape(f"RAGBOT_EMBEDDER_URL={remote.settings.embedder_url}")):
        services.retriever(collection).invoke(QUESTION)
    with pytest.raises(EmbedderMismatch, match="on remote"):
        services.ingestor.ingest_paths([EXAMPLE_DOCS], collection)
    with pytest.raises(EmbedderMismatch, match="holds vectors made by bundled:all-MiniLM-L6-v2 on "):
        remote.retriever("examples").invoke(QUESTION)

    assert services.ingestor.reembed(collection) > 0  # the way back: re-embed under the local configuration
    assert services.store.recorded_embedder(collection) == services.embedder.identity
    assert services.retriever(collection, mode="vector").invoke(QUESTION)[0].metadata["title"] == TITLE


def test_an_unknown_remote_model_fails_to_load_naming_the_server_and_its_models(remote):
    from chatbot.embeddings import load_embedder
    from chatbot.remote_embeddings import RemoteEmbedderError

    with pytest.raises(RemoteEmbedderError, match=f"'nope'.*the models are: {MODEL}"):
        load_embedder(remote.settings.model_copy(update={"embedder_model": "nope"}))


def test_embedding_requests_are_rate_limited_per_client(services):
    from chatbot.credentials import AdminCredentials
    from chatbot.server import create_server
    from tests.integration.private_db import serving

    app = create_server(limited(services, rate_limit_per_minute=1, rate_limit_burst=2),
                        AdminCredentials("admin", "pw-" + secrets.token_hex(12), generated=False), with_ui=False)
    with serving(app) as url:
        bad = {"model": MODEL, "input": []}  # answered 422 at once: the limit counts requests
        assert [httpx.post(f"{url}/v1/embeddings", json=bad).status_code for _ in range(2)] == [422, 422]
        assert_rate_limited(httpx.post(f"{url}/v1/embeddings", json=bad))
