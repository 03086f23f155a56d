"""The embedder as a LangChain `Embeddings`: sentence-transformers on torch, or its ONNX export on ONNX Runtime.

`RAGBOT_EMBEDDER_BACKEND` picks `torch`, `onnx` (the float32 export) or `onnx-int8` (its dynamic int8
quantization); `auto` picks `AUTO_BACKEND`, the one measured fastest without losing nDCG@10 against torch
(docs/benchmarks.md), and falls back to torch, with the reason logged, when its export is missing.
The exports are made once, offline, by `ragbot models prepare` (`chatbot.onnx_export`); loading never exports.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from langchain_core.embeddings import Embeddings

from chatbot.manifests import ONNX_EXPORT_FIELDS, read_manifest
from chatbot.models import ModelError, embedder_location, embedder_name, onnx_embedder_dir
from chatbot.settings import Settings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from transformers import PreTrainedTokenizerBase

log = logging.getLogger(__name__)

Backend = Literal["torch", "onnx", "onnx-int8"]
BACKENDS: tuple[Backend, ...] = ("torch", "onnx", "onnx-int8")
AUTO_BACKEND: Backend = "onnx-int8"
ONNX_FILES: dict[str, str] = {"onnx": "model.onnx", "onnx-int8": "model_int8.onnx"}
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class EmbedderIdentity:
    """What made a set of vectors: the model (bundled name or configured id/path), the backend, the dimension."""

    model: str
    backend: str
    dimension: int

    def __str__(self) -> str:
        return f"{self.model} on {self.backend} ({self.dimension}-d)"


class Embedder(Embeddings, ABC):
    """Normalized sentence embeddings; exposes the tokenizer and limits the chunker needs."""

    identity: EmbedderIdentity
    batch_size: int

    @property
    @abstractmethod
    def tokenizer(self) -> PreTrainedTokenizerBase: ...

    @property
    @abstractmethod
    def max_seq_length(self) -> int: ...

    @abstractmethod
    def encode(self, texts: list[str]) -> np.ndarray:
        """Batch-encode to a float32 array of unit vectors."""

    @property
    def dimension(self) -> int:
        return self.identity.dimension

    @cached_property
    def max_tokens(self) -> int:
        """Longest text (in tokens, without [CLS]/[SEP]) the model embeds without truncating."""
        return self.max_seq_length - self.tokenizer.num_special_tokens_to_add(pair=False)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()


def longest_first(texts: list[str]) -> np.ndarray:
    """The indices of `texts`, longest first (ties in order): how sentence-transformers batches (less padding)."""
    return np.argsort([-len(t) for t in texts], kind="stable")


class LoadedTokenizerEmbedder(Embedder, ABC):
    """An embedder whose tokenizer and sequence limit were loaded beside it (`_tokenizer`, `_max_seq_length`)."""

    _tokenizer: PreTrainedTokenizerBase
    _max_seq_length: int

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        return self._tokenizer

    @property
    def max_seq_length(self) -> int:
        return self._max_seq_length


class SentenceTransformerEmbeddings(Embedder):
    """The `torch` backend: sentence-transformers as configured."""

    def __init__(self, model: SentenceTransformer, name: str, batch_size: int = 32) -> None:
        self.model = model
        self.batch_size = batch_size
        self.identity = EmbedderIdentity(name, "torch", int(model.get_embedding_dimension()))

    @classmethod
    def from_settings(cls, settings: Settings) -> SentenceTransformerEmbeddings:
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(embedder_location(settings), device="cpu", local_files_only=True)
        return cls(model, embedder_name(settings), batch_size=settings.embed_batch_size)

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        return self.model.tokenizer

    @property
    def max_seq_length(self) -> int:
        return int(self.model.max_seq_length)

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False)


class OnnxEmbeddings(LoadedTokenizerEmbedder):
    """The `onnx` / `onnx-int8` backends: the exported model (pooling included) on ONNX Runtime's CPU provider."""

    def __init__(self, folder: Path, backend: Backend, batch_size: int = 32, threads: int = 0) -> None:
        import onnxruntime as ort
        from transformers import AutoTokenizer

        path = folder / ONNX_FILES[backend]
        if not path.is_file() or not (folder / MANIFEST).is_file():
            raise ModelError(f"the {backend} export of the embedder is missing ({path}): run `ragbot models prepare`")
        manifest = read_manifest(folder / MANIFEST, ONNX_EXPORT_FIELDS)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # 0 → ONNX Runtime's default (the physical cores)
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self._tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        self._max_seq_length = int(manifest["max_seq_length"])
        self.batch_size = batch_size
        self.identity = EmbedderIdentity(manifest["model"], backend, int(manifest["dimension"]))

    def encode(self, texts: list[str]) -> np.ndarray:
        """Longest texts first, as sentence-transformers batches them (less padding), then back in order."""
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        order = longest_first(texts)
        for start in range(0, len(texts), self.batch_size):
            batch = order[start: start + self.batch_size]
            features = self._tokenizer([texts[i] for i in batch], padding=True, truncation="longest_first",
                                       max_length=self._max_seq_length, return_tensors="np")
            vectors = self.session.run(None, {name: features[name].astype(np.int64) for name in self.inputs})[0]
            out[batch] = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return out


def resolve_backend(settings: Settings) -> tuple[Backend, str]:
    """The backend to load and why: the configured one, or for `auto` the measured default when exported."""
    if settings.embedder_backend != "auto":
        return settings.embedder_backend, "configured"
    path = onnx_embedder_dir(settings) / ONNX_FILES[AUTO_BACKEND]
    if path.is_file():
        return AUTO_BACKEND, f"auto: {AUTO_BACKEND}, measured fastest without losing nDCG@10"
    return "torch", f"auto: no {AUTO_BACKEND} export at {path} (run `ragbot models prepare`), so torch"


def recorded_backend(settings: Settings, recorded: EmbedderIdentity | None) -> Backend | None:
    """Under `auto`, the other backend a collection's record names for the configured model, else None: a store
    written on torch before `ragbot models prepare` keeps its vectors comparable (`ragbot reembed` moves it)."""
    if settings.embedder_backend != "auto" or recorded is None or recorded.model != embedder_name(settings):
        return None
    backend = next((known for known in BACKENDS if known == recorded.backend), None)
    return None if backend == resolve_backend(settings)[0] else backend


def load_embedder(settings: Settings, backend: Backend | None = None) -> Embedder:
    """The configured embedder (or `backend`'s): a remote one when `RAGBOT_EMBEDDER_URL` is set and no `backend`
    is asked for; never exports or downloads anything."""
    if backend is None and settings.embedder_url:
        from chatbot.remote_embeddings import RemoteEmbeddings

        return RemoteEmbeddings.from_settings(settings)
    if backend is None:
        backend, reason = resolve_backend(settings)
        fell_back = settings.embedder_backend == "auto" and backend != AUTO_BACKEND
        (log.warning if fell_back else log.info)("embedder backend %s (%s)", backend, reason)
    if backend == "torch":
        return SentenceTransformerEmbeddings.from_settings(settings)
    return OnnxEmbeddings(onnx_embedder_dir(settings), backend, settings.embed_batch_size, settings.torch_threads)
