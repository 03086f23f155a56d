"""Retrieval evaluation on a BEIR-layout dataset with ranx (recall@5/10, nDCG@10, MRR@10)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from chatbot.retriever import Mode
from chatbot.services import Services
from ingestion.beir import corpus_items, dataset_name, qrels, queries

METRICS = ["recall@5", "recall@10", "ndcg@10", "mrr@10"]


def ingest_corpus(services: Services, directory: Path) -> dict[str, Any]:
    """Ingest `corpus.jsonl` into a collection named after the dataset (unchanged entries are skipped)."""
    items = corpus_items(directory)
    report = services.ingestor.ingest_items(items, dataset_name(directory), total=len(items))
    return report.to_json()


def document_ranking(services: Services, collection: str, mode: Mode, query: str, k: int) -> list[str]:
    """Corpus ids in rank order; a document ranks where its first chunk does."""
    retriever = services.retriever(collection, mode=mode, k=k * 4)
    ranked: list[str] = []
    for hit, _score in retriever.search(query):
        if hit.source not in ranked:
            ranked.append(hit.source)
    return ranked[:k]


def evaluate_retrieval(services: Services, directory: Path, mode: Mode, k: int = 10) -> dict[str, Any]:
    """Scores plus the per-query rankings (for the misses report)."""
    os.environ.setdefault("IR_DATASETS_HOME", str(services.settings.home / "cache" / "ir_datasets"))
    from ranx import Qrels, Run, evaluate

    ingest = ingest_corpus(services, directory)
    collection = dataset_name(directory)
    judged = qrels(directory)
    texts = {qid: text for qid, text in queries(directory).items() if qid in judged}
    rankings = {qid: document_ranking(services, collection, mode, text, k) for qid, text in texts.items()}
    run = Run({qid: {doc: float(k - i) for i, doc in enumerate(docs)} or {"__none__": 0.0}
               for qid, docs in rankings.items()})
    scores = evaluate(Qrels({q: judged[q] for q in texts}), run, METRICS, make_comparable=True)
    result: dict[str, Any] = {"dataset": collection, "mode": mode, "queries": len(texts)}
    result.update({m: round(float(scores[m]), 4) for m in METRICS})
    return {"scores": result, "ingest": ingest, "rankings": rankings, "queries": texts, "qrels": judged}


def misses_report(evaluation: dict[str, Any], k: int = 10) -> str:
    """Markdown: the scores, then every query whose relevant document is not in the top k."""
    scores = evaluation["scores"]
    lines = [f"# Retrieval evaluation: {scores['dataset']} ({scores['mode']})", "",
             "| metric | value |", "|---|---|"]
    lines += [f"| {m} | {scores[m]} |" for m in ["queries", *METRICS]]
    misses = [(q, docs) for q, docs in evaluation["rankings"].items()
              if not set(evaluation["qrels"][q]) & set(docs[:k])]
    lines += ["", f"## Misses ({len(misses)} queries with no relevant document in the top {k})", ""]
    for qid, docs in misses:
        lines.append(f"- **{qid}** {evaluation['queries'][qid]}  ")
        lines.append(f"  expected: {', '.join(evaluation['qrels'][qid])}  ")
        lines.append(f"  got: {', '.join(docs[:3]) or '(nothing)'}")
    return "\n".join(lines) + "\n"
