"""Hard negatives: a chunk of another document among the base embedder's top chunks, past the first ones."""

import numpy as np

from training.embedder_pairs import Pair
from training.hard_negatives import CHOOSE_FROM, SKIP, mine_negatives, top_chunks


class Letters:
    """Encodes a text as the normalised counts of its letters a–z: similar words, similar vectors."""

    def encode(self, texts, **_):
        vectors = np.array([[t.count(chr(c)) for c in range(97, 123)] for t in texts], dtype=float) + 1e-6
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_top_chunks_ranks_every_query_best_first():
    texts = ["aaa", "aab", "bbb", "ccc"]
    best = top_chunks(Letters(), ["aaa", "bbb"], texts, 3)
    assert best["aaa"][:2] == [0, 1] and best["bbb"][0] == 2 and len(best["bbb"]) == 3


def test_a_negative_comes_from_another_document_past_the_first_ones():
    own = [(1, "aaaa aaaa"), (1, "aaaa aaab")]  # the positive's document: never a negative
    others = [(2 + i, "a" * (20 - i) + "b" * i) for i in range(SKIP + CHOOSE_FROM + 5)]  # closer the lower i
    pairs = [Pair("aaaa", "aaaa aaaa", "title")]
    skipped = {text for _, text in others[:SKIP]}  # the nearest of other documents: too often answers too
    picked = {mine_negatives(Letters(), pairs, own + others, seed=s)[0] for s in range(30)}
    assert picked <= {text for _, text in others[SKIP:SKIP + CHOOSE_FROM]} and not picked & skipped
    assert len(picked) > 1  # a seeded choice among them, not always the same chunk


def test_one_negative_per_pair_seeded_and_never_the_positive_itself():
    chunks = [(1, "abc"), (1, "abd"), (2, "xyz")]
    pairs = [Pair("abc", "abc", "title"), Pair("xyz", "xyz", "title"), Pair("abc", "abd", "generated")]
    negatives = mine_negatives(Letters(), pairs, chunks, seed=0)
    assert negatives[0] == negatives[2] == "xyz" and negatives[1] in ("abc", "abd")  # fewer than SKIP: any other
    assert mine_negatives(Letters(), pairs, chunks, seed=0) == negatives  # seeded
    one_document = [(1, "abc"), (1, "abd")]
    assert mine_negatives(Letters(), [Pair("abc", "abc", "title")], one_document) == ["abd"]
