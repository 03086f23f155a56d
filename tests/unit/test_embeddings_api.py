"""`POST /v1/embeddings` request handling, on a fake embedder (the bundled tokenizer, hashed vectors), and the
remote embedder's settings and identity."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from chatbot.embeddings import Embedder, EmbedderIdentity

DIM = 8


class HashEmbedder(Embedder):
    """Deterministic unit vectors from each text's hash; the bundled embedder's tokenizer (no weights)."""

    def __init__(self, model: str) -> None:
        from transformers import AutoTokenizer

        from chatbot.models import bundled_embedder

        self._tokenizer = AutoTokenizer.from_pretrained(str(bundled_embedder()), local_files_only=True)
        self.identity = EmbedderIdentity(model, "fake", DIM)
        self.batch_size = 32
        self.calls: list[list[str]] = []

    @property
    def tokenizer(self):
        return self._tokenizer

    @property
    def max_seq_length(self) -> int:
        return 16

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls.append(texts)
        rows = [np.frombuffer(hashlib.sha256(t.encode()).digest()[:DIM], dtype=np.uint8) for t in texts]
        vectors = np.asarray(rows, dtype=np.float32) + 1
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def embedders() -> dict[str, HashEmbedder]:
    return {"base": HashEmbedder("bundled:all-MiniLM-L6-v2"), "faq": HashEmbedder("tuned:faq")}


def add_tuned(home: Path, name: str) -> None:
    folder = home / "embedders" / name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "manifest.json").write_text(json.dumps({"name": name, "dimension": DIM, "created_at": "2026-12-04"}))


@pytest.fixture
def api(tmp_path, embedders) -> TestClient:
    from chatbot.api.openai_embeddings import router
    from chatbot.embedder_catalog import EmbedderCatalog
    from chatbot.settings import Settings

    settings = Settings(home=tmp_path, max_embedding_inputs=4, max_embedding_input_chars=50, _env_file=None)
    add_tuned(tmp_path, "faq")
    catalog = EmbedderCatalog(settings, lambda: embedders["base"], lambda name: embedders[name])
    app = FastAPI()
    app.include_router(router(catalog, settings))
    return TestClient(app)


def embed(api: TestClient, **body):
    return api.post("/v1/embeddings", json={"model": "bundled:all-MiniLM-L6-v2", **body})


def test_a_list_of_texts_gets_one_vector_each_in_order_with_usage(api, embedders):
    reply = embed(api, input=["reset the hub", "blinking amber light"])
    assert reply.status_code == 200
    body = reply.json()
    assert body["object"] == "list" and body["model"] == "bundled:all-MiniLM-L6-v2"
    assert [d["index"] for d in body["data"]] == [0, 1]
    expected = embedders["base"].encode(["reset the hub", "blinking amber light"])
    assert np.allclose([d["embedding"] for d in body["data"]], expected)
    tokens = [len(embedders["base"].tokenizer(t)["input_ids"]) for t in ("reset the hub", "blinking amber light")]
    assert body["usage"] == {"prompt_tokens": sum(tokens), "total_tokens": sum(tokens)}


def test_a_string_input_and_base64_encoding(api, embedders):
    body = embed(api, input="reset the hub", encoding_format="base64").json()
    assert len(body["data"]) == 1
    vector = np.frombuffer(base64.b64decode(body["data"][0]["embedding"]), dtype="<f4")
    assert np.array_equal(vector, embedders["base"].encode(["reset the hub"])[0])


def test_a_tuned_embedder_is_served_by_its_id(api, embedders):
    body = embed(api, model="tuned:faq", input="x").json()
    assert body["model"] == "tuned:faq"
    assert embedders["faq"].calls[-1] == ["x"]


def test_an_unknown_model_is_a_404_listing_the_models(api):
    reply = embed(api, model="text-embedding-3-small", input="x")
    assert reply.status_code == 404
    error = reply.json()["error"]
    assert error["param"] == "model" and error["type"] == "model_not_found"
    assert "bundled:all-MiniLM-L6-v2, tuned:faq" in error["message"]


@pytest.mark.parametrize(("body", "param", "words"), [
    ({"input": []}, "input", "at least one text"),
    ({"input": ["a"] * 5}, "input", "5 texts; at most 4"),
    ({"input": "x" * 51}, "input", "51 characters; at most 50"),
    ({"input": ["ok", "y" * 60]}, "input[1]", "60 characters"),
    ({"input": ["ok", "a\x00b"]}, "input[1]", "NUL"),
    ({"input": "x", "dimensions": 1024}, "dimensions", f"makes {DIM}-d vectors"),
])
def test_an_input_over_a_limit_is_a_422_naming_the_field(api, embedders, body, param, words):
    calls = len(embedders["base"].calls)
    reply = embed(api, **body)
    assert reply.status_code == 422
    error = reply.json()["error"]
    assert error["param"] == param and words in error["message"]
    assert len(embedders["base"].calls) == calls  # refused before anything was embedded


@pytest.mark.parametrize("value", [[1, 2, 3], [[1, 2]], 7, None, ["a", 3]])
def test_token_arrays_and_other_shapes_are_refused_naming_input(api, value):
    reply = embed(api, input=value)
    assert reply.status_code == 422
    problems = reply.json()["detail"]
    assert [p["loc"] for p in problems] == [["body", "input"]]
    assert "string or a list of strings" in problems[0]["msg"]


def test_the_route_is_rate_limited_in_its_own_group():
    from chatbot.api.rate_limit import route_group

    assert route_group("POST", "/v1/embeddings") == "embeddings"
    assert route_group("GET", "/v1/embeddings") is None


def test_the_remote_embedder_url_is_checked_and_its_model_defaults_to_the_served_id(tmp_path):
    from pydantic import ValidationError

    from chatbot.embedder_catalog import configured_embedder_id
    from chatbot.remote_embeddings import remote_model_id
    from chatbot.settings import Settings

    remote = Settings(home=tmp_path, embedder_url="http://embed:7860/v1/", _env_file=None)
    assert remote.embedder_url == "http://embed:7860/v1"
    assert remote_model_id(remote) == configured_embedder_id(Settings(home=tmp_path, _env_file=None))
    assert configured_embedder_id(remote.model_copy(update={"embedder_model": "m"})) == "m"
    with pytest.raises(ValidationError, match="embedder_url"):
        Settings(home=tmp_path, embedder_url="embed:7860", _env_file=None)


def test_a_refusal_on_a_remote_collection_names_the_settings_that_make_its_vectors():
    from chatbot.remote_embeddings import remote_identity, settings_that_make

    identity = remote_identity("http://embed:7860/v1", "bundled:all-MiniLM-L6-v2", 384)
    assert str(identity) == "bundled:all-MiniLM-L6-v2 at http://embed:7860/v1 on remote (384-d)"
    assert settings_that_make(identity) == ("RAGBOT_EMBEDDER_URL=http://embed:7860/v1, "
                                            "RAGBOT_EMBEDDER_MODEL=bundled:all-MiniLM-L6-v2")
    assert settings_that_make(EmbedderIdentity("m", "onnx", 384)) == "RAGBOT_EMBEDDER, RAGBOT_EMBEDDER_BACKEND=onnx"
