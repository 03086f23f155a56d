"""`ragbot bench extractive`: token F1 of extractive answers over a grid of their settings (answer length in
words, margin to the best passage, weight of the source's retrieval similarity), on one QA split. Each question is
retrieved and its passages embedded once; only the choice varies. The defaults in `chatbot.extractive` come from
this grid on the train splits of python-faq and examples/ (never their test splits)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chatbot.extractive import Extractor, passages, render
from chatbot.precision import cpu_report
from chatbot.services import Services
from training.evaluate import mean, rouge_l, token_f1

MAX_WORDS = (40, 60, 80, 120, 160)
MARGINS = (0.05, 0.1, 0.15, 0.25, 1.0)
SOURCE_WEIGHTS = (0.0, 0.5, 1.0)


def run_extractive_benchmark(services: Services, qa: Path, split: str | None, collection: str,
                             max_words: Sequence[int] = MAX_WORDS, margins: Sequence[float] = MARGINS,
                             source_weights: Sequence[float] = SOURCE_WEIGHTS) -> dict[str, Any]:
    """Mean token F1 and ROUGE-L per setting, best first, with the CPU and the seconds per answer."""
    from training.dataset import load_qa

    pairs = load_qa(qa, split)
    chain = services.chain
    cases = []
    started = time.perf_counter()
    for pair in pairs:
        documents = chain.retrieve(pair.question, collection)
        found = passages(documents)
        relevance = Extractor(services.embedder, source_weight=0.0).scores(pair.question, found, documents) \
            if found else np.zeros(0)
        cases.append((pair, documents, found, relevance))
    seconds = (time.perf_counter() - started) / max(len(pairs), 1)
    prior = {id(pair): np.asarray([float(d.metadata.get("similarity") or 0.0) for d in
                                   (documents[p.source - 1] for p in found)]) for pair, documents, found, _ in cases}
    rows = []
    for words, margin, weight in itertools.product(max_words, margins, source_weights):
        extractor = Extractor(services.embedder, max_words=words, margin=margin, source_weight=weight)
        f1s, rouges = [], []
        for pair, _documents, found, relevance in cases:
            text = render(extractor.select(found, relevance + weight * prior[id(pair)])) if found else ""
            f1s.append(token_f1(text, pair.answer))
            rouges.append(rouge_l(text, pair.answer))
        rows.append({"max_words": words, "margin": margin, "source_weight": weight,
                     "f1": round(mean(f1s) or 0.0, 4), "rougeL": round(mean(rouges) or 0.0, 4)})
    rows.sort(key=lambda r: -r["f1"])
    return {"qa": qa.name, "split": split, "collection": collection, "n": len(pairs),
            "cpu": cpu_report(services.settings), "retrieve_and_score_seconds_per_question": round(seconds, 3),
            "settings": rows}
