"""OpenAI-compatible `POST /v1/embeddings`: the configured embedder's or a tuned one's vectors, by model id.

Open like `/v1/chat/completions`, and held like it by the body cap and the per-client rate limit. `input` is a
text or a list of texts (token arrays are refused), at most `RAGBOT_MAX_EMBEDDING_INPUTS` of them, each at most
`RAGBOT_MAX_EMBEDDING_INPUT_CHARS` characters: over a limit, a 422 whose `param` names the field. An unknown
`model` is a 404 listing the models. At most `RAGBOT_MAX_SEARCH_CONCURRENCY` requests embed at once (they share
the CPU with the generator); more are answered 503 with Retry-After, which OpenAI clients retry."""

from __future__ import annotations

import base64
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator

from chatbot.api.openai_compat import openai_error, storable
from chatbot.embedder_catalog import EmbedderCatalog, UnknownEmbedder
from chatbot.embeddings import Embedder
from chatbot.gate import Busy, GenerationGate
from chatbot.models import ModelError
from chatbot.settings import Settings


class InputRejected(ValueError):
    """An input over a limit; `param` names the request field."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param


class EmbeddingRequest(BaseModel):
    input: str | list[str]
    model: str = Field(min_length=1, max_length=200)
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1)
    user: str | None = Field(default=None, max_length=200)  # accepted for compatibility, not used

    @field_validator("input", mode="before")
    @classmethod
    def _texts(cls, value: object) -> object:
        if isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            return value
        raise ValueError("must be a string or a list of strings (token arrays are not accepted: send the text)")

    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else self.input


def check_inputs(texts: list[str], settings: Settings) -> None:
    """Raise `InputRejected` naming the first input over the request limits."""
    if not texts:
        raise InputRejected("input", "must hold at least one text")
    if len(texts) > settings.max_embedding_inputs:
        raise InputRejected("input", f"{len(texts):,} texts; at most {settings.max_embedding_inputs:,} are "
                            "accepted per request")
    for index, text in enumerate(texts):
        param = "input" if len(texts) == 1 else f"input[{index}]"
        if len(text) > settings.max_embedding_input_chars:
            raise InputRejected(param, f"{len(text):,} characters; at most {settings.max_embedding_input_chars:,} "
                                "are accepted")
        try:
            storable(text)
        except ValueError as exc:
            raise InputRejected(param, str(exc)) from None


def token_count(embedder: Embedder, texts: list[str]) -> int:
    """Tokens the model read (special tokens included, each text truncated where the model truncates it)."""
    encoded = embedder.tokenizer(texts, truncation=True, max_length=embedder.max_seq_length)
    return sum(len(ids) for ids in encoded["input_ids"])


def embedding_json(vector: np.ndarray, encoding: str) -> list[float] | str:
    """A float list, or OpenAI's base64: the little-endian float32 bytes."""
    if encoding == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
    return vector.tolist()


def embeddings_response(vectors: np.ndarray, model: str, tokens: int, encoding: str) -> dict[str, Any]:
    return {"object": "list", "model": model,
            "data": [{"object": "embedding", "index": i, "embedding": embedding_json(v, encoding)}
                     for i, v in enumerate(vectors)],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def router(catalog: EmbedderCatalog, settings: Settings) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["openai"])
    gate = GenerationGate(settings.max_search_concurrency, what="embedding requests")

    @api.post("/embeddings")
    def create_embeddings(request: EmbeddingRequest) -> JSONResponse:
        texts = request.texts()
        try:
            check_inputs(texts, settings)
            embedder = catalog.get(request.model)
        except InputRejected as exc:
            return openai_error(422, str(exc), "invalid_request_error", param=exc.param)
        except UnknownEmbedder as exc:
            return openai_error(404, str(exc), "model_not_found", param="model")
        if request.dimensions not in (None, embedder.dimension):
            return openai_error(422, f"dimensions: model '{request.model}' makes {embedder.dimension}-d vectors; "
                                f"ask for {embedder.dimension} or leave it out", "invalid_request_error",
                                param="dimensions")
        try:
            with gate.slot():
                vectors = embedder.encode(texts)
        except Busy as exc:
            return openai_error(503, str(exc), "server_busy", {"Retry-After": "1"})
        except ModelError as exc:  # this server's own embedder is remote and failed
            return openai_error(502, str(exc), "embedder_unavailable")
        return JSONResponse(embeddings_response(vectors, request.model, token_count(embedder, texts),
                                                request.encoding_format))

    return api
