"""The embedder as a client of an OpenAI-compatible embeddings server (`RAGBOT_EMBEDDER_URL`): many workers can
ingest against one server (a `ragbot serve`'s `/v1/embeddings`, vLLM, TEI, Ollama…).

The vectors come from langchain-openai's `OpenAIEmbeddings` with `check_embedding_ctx_length=False` (raw text, no
tiktoken). Chunks are still sized here, with `RAGBOT_EMBEDDER`'s tokenizer (loaded alone, no weights): it must
be the remote model's for the chunk limits to hold. A collection written this way records the server's URL and
model id (`remote_identity`); any other embedder, the same model run locally included, is refused on it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from chatbot.embeddings import EmbedderIdentity, LoadedTokenizerEmbedder, longest_first
from chatbot.models import ModelError, embedder_location, embedder_name
from chatbot.settings import EmbedderSettings, Settings

if TYPE_CHECKING:
    from langchain_openai import OpenAIEmbeddings
    from transformers import PreTrainedTokenizerBase

REMOTE_BACKEND = "remote"
MAX_RETRIES = 6  # the openai client waits out 429 / 503 with their Retry-After between tries
TIMEOUT_S = 120.0
DIMENSION_PROBE = "dimension probe"


class RemoteEmbedderError(ModelError):
    """The embeddings server could not be reached or refused a request; the message names it and the model."""


def remote_model_id(settings: EmbedderSettings) -> str:
    """The model id asked of the server: `RAGBOT_EMBEDDER_MODEL`, else the id a ragbot server with the same
    `RAGBOT_EMBEDDER` serves its embedder under."""
    return settings.embedder_model or embedder_name(settings)


def remote_identity(url: str, model_id: str, dimension: int) -> EmbedderIdentity:
    return EmbedderIdentity(f"{model_id} at {url}", REMOTE_BACKEND, dimension)


def settings_that_make(identity: EmbedderIdentity) -> str:
    """The settings that configure `identity`'s embedder again, for a refusal's message."""
    if identity.backend == REMOTE_BACKEND:
        model_id, _, url = identity.model.rpartition(" at ")
        return f"RAGBOT_EMBEDDER_URL={url}, RAGBOT_EMBEDDER_MODEL={model_id}"
    return f"RAGBOT_EMBEDDER, RAGBOT_EMBEDDER_BACKEND={identity.backend}"


def max_seq_length(location: str, tokenizer: PreTrainedTokenizerBase) -> int:
    """The sentence-transformers limit of the model at `location` (its `sentence_bert_config.json`), else the
    tokenizer's own (at most 512)."""
    config = Path(location) / "sentence_bert_config.json"
    if config.is_file():
        return int(json.loads(config.read_text(encoding="utf-8"))["max_seq_length"])
    return min(int(tokenizer.model_max_length), 512)


class RemoteEmbeddings(LoadedTokenizerEmbedder):
    """Unit vectors from the server; the dimension is learnt from one probe request when loaded."""

    def __init__(self, client: OpenAIEmbeddings, url: str, model_id: str, tokenizer: PreTrainedTokenizerBase,
                 max_seq_length: int, batch_size: int = 32) -> None:
        self.client = client
        self.url = url
        self.model_id = model_id
        self._tokenizer = tokenizer
        self._max_seq_length = max_seq_length
        self.batch_size = batch_size
        self.identity = remote_identity(url, model_id, self._request([DIMENSION_PROBE]).shape[1])

    @classmethod
    def from_settings(cls, settings: Settings) -> RemoteEmbeddings:
        from langchain_openai import OpenAIEmbeddings
        from transformers import AutoTokenizer

        assert settings.embedder_url, "RAGBOT_EMBEDDER_URL is not set"
        model_id = remote_model_id(settings)
        client = OpenAIEmbeddings(model=model_id, base_url=settings.embedder_url, api_key=settings.embedder_api_key,
                                  check_embedding_ctx_length=False, chunk_size=settings.embed_batch_size,
                                  max_retries=MAX_RETRIES, request_timeout=TIMEOUT_S)
        location = embedder_location(settings)
        tokenizer = AutoTokenizer.from_pretrained(location, local_files_only=True)
        return cls(client, settings.embedder_url, model_id, tokenizer, max_seq_length(location, tokenizer),
                   settings.embed_batch_size)

    def encode(self, texts: list[str]) -> np.ndarray:
        """Longest texts first, `batch_size` to a request, then back in order: a ragbot server with the same batch
        size then embeds each request as the one batch the local embedder would (int8 vectors depend on it)."""
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        order = longest_first(texts)
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        answered = self._request([texts[i] for i in order])
        if answered.shape[1] != self.dimension:
            raise RemoteEmbedderError(f"the embeddings server at {self.url} (model '{self.model_id}') now makes "
                                      f"{answered.shape[1]}-d vectors, not {self.dimension}-d ones")
        vectors[order] = answered
        return vectors

    def _request(self, texts: list[str]) -> np.ndarray:
        """The server's vectors for `texts`, normalized, as float32 rows in order."""
        import openai

        try:
            rows = self.client.embed_documents(texts, chunk_size=self.batch_size)
        except openai.APIError as exc:
            raise RemoteEmbedderError(f"the embeddings server at {self.url} (model '{self.model_id}') failed: "
                                      f"{exc}") from exc
        vectors = np.asarray(rows, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(texts):
            raise RemoteEmbedderError(f"the embeddings server at {self.url} (model '{self.model_id}') answered "
                                      f"{len(rows)} vectors for {len(texts)} texts")
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
