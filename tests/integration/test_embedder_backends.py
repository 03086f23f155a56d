"""Embedder backends on the real bundled model and the embedded Postgres: close vectors, never mixed."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pytest

from chatbot.embeddings import BACKENDS
from chatbot.services import Services
from chatbot.storage.store import EmbedderMismatch
from tests.conftest import EXAMPLE_DOCS, SHARED_MODELS

pytestmark = pytest.mark.integration

QUESTION = "How do I reset the hub?"


@pytest.fixture(scope="module")
def backends(settings, services) -> Iterator[dict[str, Services]]:
    """One `Services` per backend on the session's database (`services` started and migrated it)."""
    made = {name: Services(settings.model_copy(update={"embedder_backend": name})) for name in BACKENDS}
    yield made
    for each in made.values():
        each.close()


def chunk_texts(services: Services, collection: str) -> list[str]:
    with services.pool.connection() as conn:
        return [r[0] for r in conn.execute(
            "SELECT k.text FROM chunks k JOIN collections c ON c.id = k.collection_id WHERE c.name = %s ORDER BY k.id",
            (collection,))]


def stored_vectors(services: Services, collection: str) -> np.ndarray:
    with services.pool.connection() as conn:
        return np.stack([r[0].to_numpy() for r in conn.execute(
            "SELECT k.embedding FROM chunks k JOIN collections c ON c.id = k.collection_id WHERE c.name = %s"
            " ORDER BY k.id", (collection,))])


def test_onnx_vectors_are_close_to_torchs(backends, examples_ingested):
    texts = [*chunk_texts(backends["torch"], "examples"), QUESTION, "x"]
    reference = backends["torch"].embedder.encode(texts)
    for name, minimum in (("onnx", 0.999), ("onnx-int8", 0.97)):
        vectors = backends[name].embedder.encode(texts)
        cosine = np.sum(vectors * reference, axis=1)
        assert vectors.shape == reference.shape and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
        assert cosine.min() > minimum and cosine.mean() > 0.99, (name, cosine.min(), cosine.mean())
    assert backends["onnx"].embedder.max_tokens == backends["torch"].embedder.max_tokens


def test_another_backend_fails_until_the_collection_is_reembedded(backends, collection):
    torch_side, int8_side = backends["torch"], backends["onnx-int8"]
    first, second = sorted(EXAMPLE_DOCS.glob("*.md"))[:2]
    assert torch_side.ingestor.ingest_paths([first], collection).documents_added == 1

    with pytest.raises(EmbedderMismatch) as caught:
        int8_side.retriever(collection).search(QUESTION)
    message = str(caught.value)
    assert "on torch" in message and "on onnx-int8" in message
    assert f"ragbot reembed --collection {collection}" in message
    with pytest.raises(EmbedderMismatch):
        int8_side.ingestor.ingest_paths([second], collection)
    assert len(int8_side.store.list_documents(collection)) == 1  # nothing of the refused ingest was written

    texts = chunk_texts(int8_side, collection)
    assert int8_side.ingestor.reembed(collection) == len(texts)
    cosine = np.sum(stored_vectors(int8_side, collection) * int8_side.embedder.encode(texts), axis=1)
    assert cosine.min() > 0.9999
    assert int8_side.retriever(collection).search(QUESTION)
    assert int8_side.ingestor.ingest_paths([second], collection).documents_added == 1
    with pytest.raises(EmbedderMismatch, match="on onnx-int8"):
        torch_side.retriever(collection).search(QUESTION)


def test_a_collection_from_before_records_counts_as_torch(backends, collection):
    torch_side = backends["torch"]
    torch_side.ingestor.ingest_paths(sorted(EXAMPLE_DOCS.glob("*.md"))[:1], collection)
    with torch_side.pool.connection() as conn:
        conn.execute("UPDATE collections SET embedder_model = NULL, embedder_backend = NULL, embedder_dim = NULL"
                     " WHERE name = %s", (collection,))
    assert torch_side.retriever(collection).search(QUESTION)
    with pytest.raises(EmbedderMismatch, match="before embedder records"):
        backends["onnx"].retriever(collection).search(QUESTION)


def test_an_emptied_collection_takes_the_next_embedder(backends, collection):
    doc = sorted(EXAMPLE_DOCS.glob("*.md"))[0]
    backends["torch"].ingestor.ingest_paths([doc], collection)
    backends["torch"].store.delete_source(collection, doc.resolve().as_posix())
    assert backends["onnx"].ingestor.ingest_paths([doc], collection).documents_added == 1
    assert backends["onnx"].retriever(collection).search(QUESTION)


def test_reembed_of_an_unknown_collection_is_refused(backends):
    with pytest.raises(ValueError, match="no collection"):
        backends["onnx"].ingestor.reembed("no-such-collection")


def test_ingest_benchmark_compares_backends_on_the_same_chunks(services):
    from benchmarks.ingest import run_ingest_benchmark

    result = run_ingest_benchmark(services, EXAMPLE_DOCS, ["torch", "onnx-int8"], limit=3, repeats=1)
    assert set(result["backends"]) == {"torch", "onnx-int8"} and result["default"] == "onnx-int8"
    assert result["chunks"] > 0 and result["cpu"]["capability"] and result["files_failed"] == 0
    int8 = result["backends"]["onnx-int8"]
    assert int8["chunks_per_s"] > 0 and int8["query_p50_ms"] > 0 and int8["cosine_vs_torch"]["mean"] > 0.99
    assert result["backends"]["torch"]["vs_torch"]["chunks_per_s"] == 1.0
    assert not services.store.list_documents("bench-ingest-torch")


def test_the_api_answers_another_embedder_with_409_naming_both(backends, collection):
    import httpx

    from chatbot.credentials import AdminCredentials
    from chatbot.server import create_server
    from tests.integration.private_db import serving

    backends["torch"].ingestor.ingest_paths(sorted(EXAMPLE_DOCS.glob("*.md"))[:1], collection)
    credentials = AdminCredentials("admin", "embedder-test-password", generated=False)
    with serving(create_server(backends["onnx"], credentials, with_ui=False)) as url:
        reply = httpx.get(f"{url}/api/search", params={"q": QUESTION, "collection": collection}, timeout=60)
    assert reply.status_code == 409
    assert "on torch" in reply.json()["detail"] and "on onnx" in reply.json()["detail"]


def test_a_store_written_before_models_prepare_still_answers_after_it(ragbot_home, tmp_path):
    """The first-run path: no ONNX export yet (auto → torch), ingest, `ragbot models prepare` (auto → onnx-int8
    from now on), then ask: the collection keeps answering on the torch vectors it records; a new one is int8."""
    from chatbot.settings import Settings
    from tests.integration.private_db import private_services, run_cli

    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    generator = next(p for p in SHARED_MODELS.iterdir() if p.name != "embedders")
    (home / "models" / generator.name).symlink_to(generator, target_is_directory=True)
    settings = Settings(home=home, _env_file=None)
    doc = str(sorted(EXAMPLE_DOCS.glob("*.md"))[0])
    with private_services(settings) as services:  # the database, started as the CLI would find it
        assert run_cli(["ingest", doc, "-c", "before"], settings).returncode == 0
        prepared = run_cli(["models", "prepare"], settings)
        assert "embedder backend: onnx-int8" in prepared.stdout, prepared.stdout + prepared.stderr
        asked = run_cli(["-v", "ask", QUESTION, "-c", "before", "--generator", "extractive", "--json"], settings)
        assert asked.returncode == 0, asked.stderr
        assert json.loads(asked.stdout)["sources"] and "follows its record" in asked.stderr
        assert run_cli(["ingest", doc, "-c", "after"], settings).returncode == 0
        recorded = {name: services.store.recorded_embedder(name) for name in ("before", "after")}
    assert {name: identity.backend for name, identity in recorded.items() if identity} == {
        "before": "torch", "after": "onnx-int8"}
