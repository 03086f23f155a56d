"""Split loaded documents into chunks that the embedder sees whole: counted in its tokens, never over its limit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langchain_text_splitters import RecursiveCharacterTextSplitter

from ingestion.loaders import LoadedDocument

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

# A chunk's characters are capped too, at this many per token of its size: a long run that the tokenizer
# reads as a single [UNK] (WordPiece does so above 100 characters) must not become one huge chunk.
MAX_CHARS_PER_TOKEN = 10


@dataclass(frozen=True)
class Chunk:
    """A piece of one section, stripped, with its token count (no special tokens) and the section's metadata."""

    text: str
    token_count: int
    metadata: dict[str, Any]


class Chunker:
    """Splits each section on paragraph, line and word breaks into chunks of at most ``size`` tokens.

    ``size`` is ``min(chunk_size, max_tokens)``, ``max_tokens`` being the embedder's maximum sequence length
    minus its special tokens. Chunks never span sections, so each keeps its page or heading. What has no
    break left and is still too long (a giant "word") is cut at token boundaries, so nothing is truncated.
    """

    def __init__(
        self, tokenizer: PreTrainedTokenizerBase, chunk_size: int, chunk_overlap: int, max_tokens: int
    ) -> None:
        self.size = min(chunk_size, max_tokens)
        if self.size <= 0:
            raise ValueError(f"chunk size must be positive (chunk_size={chunk_size}, max_tokens={max_tokens})")
        if not 0 <= chunk_overlap < self.size:
            raise ValueError(f"chunk_overlap must be in [0, {self.size}), got {chunk_overlap}")
        if not tokenizer.is_fast:
            raise ValueError("the chunker needs a fast (Rust) tokenizer: it cuts long text by token offsets")
        self._tokenizer = tokenizer
        self._overlap = chunk_overlap
        self._max_chars = self.size * MAX_CHARS_PER_TOKEN

    def split(self, document: LoadedDocument) -> list[Chunk]:
        """All chunks of ``document``, in order; whitespace-only pieces are dropped."""
        count = _TokenCounter(self._tokenizer)
        # As RecursiveCharacterTextSplitter.from_huggingface_tokenizer builds it, but with cached counts that
        # skip the tokenizer's "longer than the model" warning, and without the "" separator (cutting into
        # single characters is slow and miscounts): _windows() cuts what has no break left instead.
        splitter = RecursiveCharacterTextSplitter(
            separators=["\n\n", "\n", " "],
            chunk_size=self.size,
            chunk_overlap=self._overlap,
            length_function=count,
        )
        return [
            Chunk(text=text, token_count=tokens, metadata=dict(section.metadata))
            for section in document.sections
            for piece in splitter.split_text(section.text)
            for text, tokens in self._fit(piece, count)
        ]

    def _fit(self, piece: str, count: _TokenCounter) -> list[tuple[str, int]]:
        """``piece`` stripped with its token count, or cut into windows when it is too long."""
        piece = piece.strip()
        if not piece:
            return []
        tokens = count(piece)
        if tokens <= self.size and len(piece) <= self._max_chars:
            return [(piece, tokens)] if tokens else []
        return self._windows(piece, count)

    def _windows(self, text: str, count: _TokenCounter) -> list[tuple[str, int]]:
        """Cut ``text`` at token boundaries into consecutive pieces that fit (no overlap, nothing lost)."""
        encoding = self._tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        spans = [(start, end) for start, end in encoding["offset_mapping"] if end > start]
        pieces = []
        first = 0
        while first < len(spans):
            limit = self.size
            while True:  # re-tokenized alone, a window may count a few more tokens: shrink it until it fits
                last = self._window_end(spans, first, limit)
                start, end = spans[first][0], spans[last - 1][1]
                tokens = count(text[start:end])
                if tokens <= self.size or last - first == 1:
                    break
                limit = max(1, last - first - (tokens - self.size))
            if end - start > self._max_chars:  # one token over a long run ([UNK]): cut it by characters
                for cut in range(start, end, self._max_chars):
                    pieces.extend(self._fit(text[cut : min(cut + self._max_chars, end)], count))
            else:
                pieces.append((text[start:end], tokens))
            first = last
        return pieces

    def _window_end(self, spans: list[tuple[int, int]], first: int, limit: int) -> int:
        """End (exclusive) of the longest window from ``first`` within ``limit`` tokens and the character cap."""
        last = min(first + limit, len(spans))
        while last - first > 1 and spans[last - 1][1] - spans[first][0] > self._max_chars:
            last -= 1
        return last


class _TokenCounter:
    """Token counts (no special tokens) for one document; the splitter measures the same pieces repeatedly."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase) -> None:
        self._tokenizer = tokenizer
        self._known: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        tokens = self._known.get(text)
        if tokens is None:
            tokens = len(self._tokenizer.tokenize(text, verbose=False))
            self._known[text] = tokens
        return tokens
