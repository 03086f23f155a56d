"""Hard negatives for the embedder tune: for each training pair, a chunk of another document that the base
embedder ranks high for the pair's query, past the first `SKIP` such chunks (in a manual those too often answer the
query as well), picked (seeded) among the next `CHOOSE_FROM`.

They are trained with GISTEmbedLoss, whose guide (the base embedder) drops any negative it scores above the
pair's positive: without the guide, false negatives made hard negatives cost git-docs 0.021 hybrid nDCG@10; with
it they gained +0.020 there, and cost postgres-docs 0.015, so `ragbot embedder tune --hard-negatives` is an
option, off by default (docs/embedders.md)."""

from __future__ import annotations

import random
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from training.embedder_pairs import Pair

TOP_K = 30  # the base embedder's top chunks a negative is chosen from
SKIP = 2  # the first chunks of other documents there, passed over
CHOOSE_FROM = 10  # after those, the chunks one is picked from
BLOCK = 256  # queries scored at a time (bounds the score matrix on a large collection)


def mine_negatives(model: SentenceTransformer, pairs: Sequence[Pair], chunks: Sequence[tuple[Hashable, str]],
                   seed: int = 0) -> list[str]:
    """One hard negative per pair, in order: a chunk (`chunks`: (document, text)) of a document other than its
    passage's, among `model`'s top `TOP_K` for its query; any other chunk when there is none (one document)."""
    texts = list(dict.fromkeys(text for _, text in chunks))
    documents: dict[str, set[Hashable]] = {}
    for document, text in chunks:
        documents.setdefault(text, set()).add(document)
    queries = list(dict.fromkeys(p.query for p in pairs))
    top = top_chunks(model, queries, texts, min(TOP_K, len(texts)))
    rng = random.Random(seed)
    negatives = []
    for pair in pairs:
        own = documents.get(pair.passage, set())
        others = [texts[i] for i in top[pair.query] if not documents[texts[i]] & own and texts[i] != pair.passage]
        choices = others[SKIP:SKIP + CHOOSE_FROM] or others or [t for t in texts if t != pair.passage] or texts
        negatives.append(rng.choice(choices))
    return negatives


def top_chunks(model: SentenceTransformer, queries: Sequence[str], texts: Sequence[str], k: int,
               ) -> dict[str, list[int]]:
    """Each query's `k` best `texts` by `model`'s cosine similarity, best first (indexes into `texts`)."""
    passages = _encode_unit(model, texts)
    best: dict[str, list[int]] = {}
    for start in range(0, len(queries), BLOCK):
        block = list(queries[start:start + BLOCK])
        scores = _encode_unit(model, block) @ passages.T
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        for row, query in enumerate(block):
            order = part[row][np.argsort(-scores[row, part[row]])]
            best[query] = [int(i) for i in order]
    return best


def _encode_unit(model: SentenceTransformer, texts: Sequence[str]) -> np.ndarray:
    """`texts` embedded by `model` as unit vectors (a matrix product of two is their cosine similarities)."""
    return np.asarray(model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True,
                                   show_progress_bar=False))
