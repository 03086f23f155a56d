"""The embedder as a LangChain `Embeddings`, backed by sentence-transformers."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from langchain_core.embeddings import Embeddings

from chatbot.models import embedder_location
from chatbot.settings import Settings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from transformers import PreTrainedTokenizerBase


class SentenceTransformerEmbeddings(Embeddings):
    """Normalized sentence embeddings; exposes the tokenizer and limits the chunker needs."""

    def __init__(self, model: SentenceTransformer, batch_size: int = 32) -> None:
        self.model = model
        self.batch_size = batch_size

    @classmethod
    def from_settings(cls, settings: Settings) -> SentenceTransformerEmbeddings:
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(embedder_location(settings), device="cpu", local_files_only=True)
        return cls(model, batch_size=settings.embed_batch_size)

    @cached_property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        return self.model.tokenizer

    @cached_property
    def max_tokens(self) -> int:
        """Longest text (in tokens, without [CLS]/[SEP]) the model embeds without truncating."""
        special = self.tokenizer.num_special_tokens_to_add(pair=False)
        return int(self.model.max_seq_length) - special

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()

    def encode(self, texts: list[str]):  # -> numpy.ndarray (float32, normalized)
        """Batch-encode to a float32 array of unit vectors."""
        return self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
