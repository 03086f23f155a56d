"""The gap-clustering threshold, measured: the labelled questions of `benchmarks.gap_questions` embedded with the
configured embedder, clustered at each cosine distance threshold and linkage, and scored against their true groups
(adjusted Rand index; pair precision: pairs put together that belong together; pair recall: pairs that belong
together and were put together). `chatbot.gaps.DISTANCE_THRESHOLD` is the chosen cut (docs/gaps.md).

    python -m benchmarks.gap_threshold [--linkage average complete single]
"""

from __future__ import annotations

import argparse
import json
from itertools import combinations
from typing import Any

import numpy as np
from sklearn.cluster import AgglomerativeClustering
from sklearn.metrics import adjusted_rand_score

from benchmarks.gap_questions import labelled_questions

THRESHOLDS = tuple(round(0.30 + 0.05 * i, 2) for i in range(11))  # 0.30 … 0.80


def pair_scores(truth: list[int], found: list[int]) -> tuple[float, float]:
    """Pair precision and recall of a clustering against the true groups."""
    together = [(truth[i] == truth[j], found[i] == found[j]) for i, j in combinations(range(len(truth)), 2)]
    both = sum(t and f for t, f in together)
    return both / max(sum(f for _, f in together), 1), both / max(sum(t for t, _ in together), 1)


def sweep(vectors: np.ndarray, truth: list[int], linkages: list[str]) -> list[dict[str, Any]]:
    """One row per (linkage, threshold): clusters found, ARI, pair precision and recall."""
    rows = []
    for linkage in linkages:
        for threshold in THRESHOLDS:
            found = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage=linkage,
                                            distance_threshold=threshold).fit_predict(vectors).tolist()
            precision, recall = pair_scores(truth, found)
            rows.append({"linkage": linkage, "threshold": threshold, "clusters": len(set(found)),
                         "ari": round(adjusted_rand_score(truth, found), 3), "pair_precision": round(precision, 3),
                         "pair_recall": round(recall, 3)})
    return rows


def main(argv: list[str] | None = None) -> None:
    from chatbot.embeddings import load_embedder
    from chatbot.precision import cpu_model
    from chatbot.settings import configure_environment, get_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--linkage", nargs="+", default=["average", "complete", "single"])
    args = parser.parse_args(argv)
    configure_environment()
    embedder = load_embedder(get_settings())
    questions, truth = labelled_questions()
    vectors = np.asarray(embedder.encode(questions), dtype=np.float64)
    print(json.dumps({"cpu": cpu_model(), "embedder": str(embedder.identity), "questions": len(questions),
                      "true_groups": len(set(truth)), "rows": sweep(vectors, truth, args.linkage)}, indent=1))


if __name__ == "__main__":
    main()
