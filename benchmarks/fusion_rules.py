"""Score label-free fusion rules on BEIR corpora already ingested (by `ragbot eval retrieval`), in one table.

    python -m benchmarks.fusion_rules --beir DIR [--beir DIR ...] [--split test] [--cache DIR]

Both arms are fetched once per query (the corpus' questions and the calibration's pseudo-queries) and cached as
JSON; every rule then picks its fusion from the pseudo-queries alone and is scored on the questions' labels.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from chatbot.fusion_calibration import RULES, WEIGHTS, ArmLists, ndcg_at, pick_fusion, rank_documents
from ingestion.beir import dataset_name, qrels, queries


def _hits(arm: list) -> list[tuple[str, int, float]]:
    return [(hit.source, hit.chunk_id, score) for hit, score in arm]


def fetch_arms(directory: Path, cache: Path) -> dict[str, Any]:
    """{"questions": {qid: arms}, "pseudo": [(text, source, arms)]}, from `cache` or fetched and cached."""
    path = cache / f"{dataset_name(directory)}.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    from chatbot.cli_services import open_services

    services = open_services()
    try:
        collection = dataset_name(directory)
        retriever = services.retriever(collection, mode="hybrid", k=40)
        limit = services.settings.calibration_queries
        pseudo = services.fusion_records.pseudo_queries(collection, limit)
        judged = qrels(directory)
        data = {"questions": {qid: [_hits(a) for a in retriever.arms(text)]
                              for qid, text in queries(directory).items() if qid in judged},
                "pseudo": [(text, source, [_hits(a) for a in retriever.arms(text)]) for text, source in pseudo]}
    finally:
        services.close()
    cache.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return data


def _arms(raw: list) -> ArmLists:
    return ([(s, c, x) for s, c, x in raw[0]], [(s, c, x) for s, c, x in raw[1]])


def score(directory: Path, data: dict[str, Any], rule: str, split: str) -> dict[str, Any]:
    """The rule's choice on the pseudo-queries and its nDCG@10 / R@5 on the corpus' judged questions."""
    pseudo = [(source, _arms(raw)) for _, source, raw in data["pseudo"]]
    choice = pick_fusion(pseudo, rule)
    judged = qrels(directory)
    chosen = None
    if split != "all":
        rows = [json.loads(line) for line in (directory / "qa.jsonl").read_text(encoding="utf-8").splitlines()]
        chosen = {str(r["_id"]) for r in rows if r.get("split") == split}
    ndcg = recall = 0.0
    ids = [q for q in data["questions"] if chosen is None or q in chosen]
    for qid in ids:
        ranking = rank_documents(_arms(data["questions"][qid]), choice.method, choice.weight)
        gold = {doc for doc, rel in judged[qid].items() if rel > 0}
        ndcg += ndcg_at(ranking, gold)
        recall += len(gold & set(ranking[:5])) / len(gold)
    return {"ndcg@10": round(ndcg / len(ids), 4), "recall@5": round(recall / len(ids), 4),
            "method": choice.method, "weight": choice.weight, "queries": len(ids)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beir", type=Path, action="append", required=True)
    parser.add_argument("--split", default="all")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/ragbot-fusion-arms"))
    parser.add_argument("--rules", default=",".join(RULES))
    args = parser.parse_args(argv)
    data = {d: fetch_arms(d, args.cache) for d in args.beir}
    names = [dataset_name(d) for d in args.beir]
    print("| rule | " + " | ".join(f"{n} nDCG@10 / R@5 (w)" for n in names) + " |")
    print("|---|" + "---|" * len(names))
    for rule in args.rules.split(","):
        cells = []
        for directory in args.beir:
            r = score(directory, data[directory], rule, args.split)
            cells.append(f"{r['ndcg@10']:.3f} / {r['recall@5']:.3f} ({r['method']} {r['weight']})")
        print(f"| {rule} | " + " | ".join(cells) + " |")
    cells = []
    for directory in args.beir:  # the labels' own best min-max weight: a reference, not a rule
        by_weight = {w: score(directory, data[directory], f"fixed-{w}", args.split) for w in WEIGHTS}
        best = max(by_weight, key=lambda w: (by_weight[w]["ndcg@10"], -w))
        cells.append(f"{by_weight[best]['ndcg@10']:.3f} / {by_weight[best]['recall@5']:.3f} (minmax {best})")
    print("| labels' best weight (oracle) | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
