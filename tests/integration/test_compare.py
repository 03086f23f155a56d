"""The 2×2 and extractive report on examples/ (a random LoRA adapter stands in for a trained one: the arms are
what's tested)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import EXAMPLES
from tests.integration.test_ingest import run_cli

pytestmark = pytest.mark.integration


def test_two_by_two_returns_the_schema_and_a_self_contained_report(settings, examples_ingested,
                                                                    untrained_adapter, tmp_path):
    report, plots = tmp_path / "report.html", tmp_path / "plots"
    result = run_cli(["eval", "compare", "--qa", str(EXAMPLES / "qa.jsonl"), "--collection", "examples",
                      "--adapter", untrained_adapter, "--limit", "3", "--json", "--report", str(report),
                      "--plot-dir", str(plots)], settings)
    assert result.returncode == 0, result.stderr[-3000:]
    body = json.loads(result.stdout)
    assert body["n"] == 3 and set(body["arms"]) == {"base", "finetuned", "base+rag", "finetuned+rag", "extractive"}
    for arm in body["arms"].values():
        assert set(arm) >= {"f1", "rougeL", "grounded", "citation_valid", "seconds_per_answer", "peak_rss_mb"}
        assert arm["seconds_per_answer"] > 0
    assert body["arms"]["base"]["grounded"] is None  # no retrieved context to be grounded in
    assert body["arms"]["base+rag"]["grounded"] is not None
    extractive = body["arms"]["extractive"]  # the sources' own sentences: every citation valid, nothing invented
    assert extractive["citation_valid"] == 1.0 and extractive["grounded"] == 1.0
    assert extractive["seconds_per_answer"] < body["arms"]["base+rag"]["seconds_per_answer"]
    assert body["costs"]["retrieval"]["chunks"] > 0 and body["costs"]["retrieval"]["index_bytes"] > 0
    assert body["costs"]["finetuning"]["adapter_bytes"] > 0
    assert body["best_arm_by_f1"] in body["arms"]
    for metric in ("f1", "rougeL"):  # paired bootstrap interval of finetuned+rag minus base+rag
        diff = body["differences"]["finetuned+rag_vs_base+rag"][metric]
        assert diff["n"] == 3 and diff["low"] <= diff["mean"] <= diff["high"]
    page = report.read_text()
    assert page.count("data:image/png;base64,") == 2 and "Every question, five ways" in page
    assert "paired bootstrap interval" in page and "finetuned+rag_vs_extractive" in page
    assert (plots / "quality.png").stat().st_size > 1000 and (plots / "cost.png").stat().st_size > 1000
    # … and the run is saved where the admin Evaluation tab lists it
    from training.reports import list_reports

    saved = list_reports(settings)[0]
    assert saved.result == body and body["qa"] == "qa.jsonl" and len(saved.charts) == 2
