"""The retrieve benchmark's synthetic vectors: unit length, mixed from real ones, and spread like them rather than
clustered as near-duplicates."""

from __future__ import annotations

import numpy as np

from benchmarks.retrieve import mixed_vectors, neighbour_spread


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_mixed_vectors_are_unit_length_and_close_to_their_centers():
    rng = np.random.default_rng(0)
    centers = _unit(rng.normal(size=(200, 64)))
    vectors = mixed_vectors(centers, 300, rng)
    assert vectors.shape == (300, 64) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # a mix of two centers lies nearer its closest center than random directions do
    assert np.median((vectors @ centers.T).max(axis=1)) > 0.6
    assert np.median((_unit(rng.normal(size=(300, 64))) @ centers.T).max(axis=1)) < 0.5


def test_neighbour_spread_tells_near_duplicates_from_spread_vectors():
    rng = np.random.default_rng(1)
    spread = _unit(rng.normal(size=(400, 32)))
    duplicated = _unit(np.repeat(spread[:40], 10, axis=0) + 0.01 * rng.normal(size=(400, 32)))
    loose, tight = neighbour_spread(spread), neighbour_spread(duplicated)
    assert tight["nn1_median"] > 0.99 and loose["nn1_median"] < 0.8
    assert loose["nn10_median"] <= loose["nn1_median"]
