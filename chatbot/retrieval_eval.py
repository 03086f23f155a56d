"""Retrieval evaluation on a BEIR-layout dataset with ranx (recall@5/10, nDCG@10, MRR@10): every mode of the
retriever, and a reference BM25 (bm25s) over the very same chunks, measured in one run."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chatbot.corpus import Corpus, RetrieverFactory
from chatbot.fusion_calibration import MIN_QUERIES, WEIGHTS, document_ranking
from chatbot.retriever import FusionMethod, fuse
from chatbot.storage.store import FusionRecords, FusionState
from ingestion.beir import corpus_items, dataset_name, qrels, queries
from ingestion.pipeline import Ingestor

METRICS = ["recall@5", "recall@10", "ndcg@10", "mrr@10"]
MODES = ("hybrid", "vector", "fts")
REFERENCE = "bm25-reference"
SPLITS = ("all", "train", "test")


def ingest_corpus(ingestor: Ingestor, directory: Path) -> dict[str, Any]:
    """Ingest `corpus.jsonl` into a collection named after the dataset (unchanged entries are skipped)."""
    items = corpus_items(directory)
    report = ingestor.ingest_items(items, dataset_name(directory), total=len(items))
    return report.to_json()


def split_queries(directory: Path, split: str) -> set[str] | None:
    """Query ids that `qa.jsonl` marks with `split` (None for "all"): scoring only test questions keeps tuning on
    the train ones honest."""
    if split == "all":
        return None
    path = directory / "qa.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"--split {split} needs {path} (QA pairs with a 'split' field)")
    with path.open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return {str(row["_id"]) for row in rows if row.get("split") == split}


def reference_bm25(chunks: list[tuple[str, str]], texts: dict[str, str], k: int) -> dict[str, list[str]]:
    """Rankings by bm25s (Lucene BM25, k1 1.2, b 0.75, English stop words and Snowball stemmer) over `chunks`
    ((source, text) pairs, heading included as the lexical arm indexes it); a document ranks at its best chunk."""
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    index = bm25s.BM25(method="lucene", k1=1.2, b=0.75)
    index.index(bm25s.tokenize([text for _, text in chunks], stopwords="en", stemmer=stemmer, show_progress=False),
                show_progress=False)
    rankings: dict[str, list[str]] = {}
    fetch = min(len(chunks), k * 4)
    for qid, text in texts.items():
        tokens = bm25s.tokenize([text], stopwords="en", stemmer=stemmer, show_progress=False)
        ids, scores = index.retrieve(tokens, k=fetch, show_progress=False)
        ranked: list[str] = []
        for i, score in zip(ids[0], scores[0], strict=True):
            source = chunks[int(i)][0]
            if score > 0 and source not in ranked:
                ranked.append(source)
        rankings[qid] = ranked[:k]
    return rankings


def weight_sweep(retriever_for: RetrieverFactory, collection: str, texts: dict[str, str],
                 k: int, method: FusionMethod = "minmax") -> dict[str, dict[str, list[str]]]:
    """Hybrid rankings at every lexical weight in `WEIGHTS` with the calibration's fusion `method` (both arms
    fetched once per query): with labels, this shows how close the label-free calibration came to the best
    weight."""
    retriever = retriever_for(collection, mode="hybrid", k=k * 4)
    arms = {qid: retriever.arms(text) for qid, text in texts.items()}
    return {f"hybrid@{w:.1f}": {qid: document_ranking(fuse(v, lex, w, method)[: k * 4], k)
                                for qid, (v, lex) in arms.items()}
            for w in WEIGHTS}


LEAD_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def lead_sweep(retriever_for: RetrieverFactory, collection: str, texts: dict[str, str],
               k: int) -> dict[str, dict[str, list[str]]]:
    """Vector and hybrid rankings at every lead weight in `LEAD_WEIGHTS` (the hybrid at the collection's
    calibrated lexical weight): with labels, this shows whether the default `RAGBOT_LEAD_WEIGHT` holds here."""
    rankings: dict[str, dict[str, list[str]]] = {}
    for mode in ("vector", "hybrid"):
        base = retriever_for(collection, mode=mode, k=k * 4)  # type: ignore[arg-type]
        for weight in LEAD_WEIGHTS:
            retriever = base.model_copy(update={"lead_weight": weight})
            rankings[f"{mode} lead={weight:.2f}"] = {qid: document_ranking(retriever.search(text), k)
                                                     for qid, text in texts.items()}
    return rankings


def evaluate_retrieval(corpus: Corpus, ingestor: Ingestor, fusion: FusionRecords, calibrate: Callable[[str], Any],
                       home: Path, directory: Path, modes: list[str], k: int = 10, split: str = "all",
                       sweep: bool = False) -> dict[str, Any]:
    """Scores per mode plus the per-query rankings (for the misses report). The collection's fusion is
    calibrated first (`calibrate`) when it is new or changed (as an ingest does); `home` is `RAGBOT_HOME`."""
    os.environ.setdefault("IR_DATASETS_HOME", str(home / "cache" / "ir_datasets"))
    from ranx import Qrels, Run, evaluate

    ingest = ingest_corpus(ingestor, directory)
    collection = dataset_name(directory)
    calibrate(collection)
    judged = qrels(directory)
    chosen = split_queries(directory, split)
    texts = {qid: text for qid, text in queries(directory).items()
             if qid in judged and (chosen is None or qid in chosen)}
    if not texts:
        raise ValueError(f"no judged queries in {directory} for split '{split}'")
    qrels_run = Qrels({q: judged[q] for q in texts})
    results: dict[str, dict[str, Any]] = {}
    rankings: dict[str, dict[str, list[str]]] = {}
    for mode in modes:
        if mode == REFERENCE:
            rankings[mode] = reference_bm25(corpus.store.chunk_texts(collection), texts, k)
        else:
            retriever = corpus.retriever(collection, mode=mode, k=k * 4)  # type: ignore[arg-type]
            rankings[mode] = {qid: document_ranking(retriever.search(text), k) for qid, text in texts.items()}
    if sweep:
        calibration = (fusion.state(collection) or FusionState(None, None, 0)).calibration or {}
        rankings.update(weight_sweep(corpus.retriever, collection, texts, k, calibration.get("method", "minmax")))
        rankings.update(lead_sweep(corpus.retriever, collection, texts, k))
    for mode in rankings:
        run = Run({qid: {doc: float(k - i) for i, doc in enumerate(docs)} or {"__none__": 0.0}
                   for qid, docs in rankings[mode].items()})
        scores = evaluate(qrels_run, run, METRICS, make_comparable=True)
        results[mode] = {m: round(float(scores[m]), 4) for m in METRICS}
    state = fusion.state(collection)
    chosen_fusion = fusion_summary(state, corpus.retriever(collection).default_lexical_weight)
    return {"dataset": collection, "split": split, "queries": len(texts), "k": k,
            "embedder": str(corpus.embedder_for(collection).identity),
            "lexical_weight": chosen_fusion["lexical_weight"], "fusion": chosen_fusion,
            "results": results, "ingest": ingest, "rankings": rankings, "texts": texts, "qrels": judged}


def fusion_summary(state: FusionState | None, default_weight: float) -> dict[str, Any]:
    """The hybrid's fusion and how it was chosen: the calibration's record (rule, pseudo-queries, margin over the
    vector arm, fallback), or the default weight and why it applies."""
    record = (state.calibration if state else None) or {}
    if state is None or state.lexical_weight is None:
        return {"lexical_weight": default_weight, "method": "minmax", "chosen_by": "default (RAGBOT_LEXICAL_WEIGHT)",
                "reason": f"not calibrated: under {MIN_QUERIES} titles/headings name a single document, or "
                          "calibration is off"}
    return {"lexical_weight": state.lexical_weight, "method": record.get("method", "minmax"),
            "chosen_by": "calibration", "rule": record.get("rule", "tolerance"), "queries": record.get("queries"),
            "margin": record.get("margin"), "fallback": record.get("fallback", "")}


def describe_fusion(summary: dict[str, Any]) -> str:
    """One line: the hybrid's lexical weight and method, and how they were chosen."""
    head = f"fusion: lexical weight {summary['lexical_weight']} ({summary['method']}), chosen by {summary['chosen_by']}"
    if summary["chosen_by"] != "calibration":
        return f"{head}: {summary['reason']}"
    margin = "" if summary["margin"] is None else f", margin {summary['margin']:+.4f} nDCG@10 over the vector arm"
    fallback = f"; fallback: {summary['fallback']}" if summary["fallback"] else ""
    return f"{head} (rule '{summary['rule']}' on {summary['queries']} titles/headings{margin}){fallback}"


def misses_report(evaluation: dict[str, Any]) -> str:
    """Markdown: the scores of every mode, then per mode every query whose relevant document is not in the top k."""
    k = evaluation["k"]
    lines = [f"# Retrieval evaluation: {evaluation['dataset']} ({evaluation['split']} split, "
             f"{evaluation['queries']} queries)", "", f"Embedder: {evaluation['embedder']}; "
             f"{describe_fusion(evaluation['fusion'])}", "", "| mode | " + " | ".join(METRICS) + " |",
             "|---|" + "---|" * len(METRICS)]
    lines += [f"| {mode} | " + " | ".join(str(s[m]) for m in METRICS) + " |"
              for mode, s in evaluation["results"].items()]
    for mode, ranked in evaluation["rankings"].items():
        if "@" in mode or "lead=" in mode:  # the sweeps: scores only
            continue
        misses = [(q, docs) for q, docs in ranked.items() if not set(evaluation["qrels"][q]) & set(docs[:k])]
        lines += ["", f"## {mode}: misses ({len(misses)} queries with no relevant document in the top {k})", ""]
        for qid, docs in misses:
            lines.append(f"- **{qid}** {evaluation['texts'][qid]}  ")
            lines.append(f"  expected: {', '.join(evaluation['qrels'][qid])}  ")
            lines.append(f"  got: {', '.join(docs[:3]) or '(nothing)'}")
    return "\n".join(lines) + "\n"
