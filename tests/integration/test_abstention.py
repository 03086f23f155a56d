"""Calibrated abstention on the real store and the bundled embedder: examples/docs ingested (which calibrates the
collection's threshold from its titles and headings), then asked covered and off-topic questions."""

from __future__ import annotations

import json

import pytest

from tests.conftest import EXAMPLES
from tests.integration.test_ingest import run_cli

pytestmark = pytest.mark.integration

OFF_TOPIC = ["What is the offside rule in ice hockey?", "How do I make a béchamel sauce?",
             "Who was the president of France in 1995?", "How do I install Python packages with pip?"]


def test_ingesting_calibrates_a_threshold_that_answers_covered_questions_and_refuses_others(services,
                                                                                          examples_ingested):
    from chatbot.prompts import NOT_COVERED

    details = services.abstention_records.details("examples")
    assert details["source"] == "titles" and details["answerable"] >= 30 and details["unanswerable"] >= 150
    assert services.chain.threshold_for("examples") == pytest.approx(details["threshold"], abs=1e-4)
    covered = services.chain.invoke("How do I factory reset the hub?", collection="examples", generator="extractive")
    assert not covered.not_covered and covered.sources
    refused = services.chain.invoke("What is the best way to cook risotto?", collection="examples",
                                    generator="extractive")
    assert refused.not_covered and refused.text == NOT_COVERED and refused.sources == []
    assert refused.first_token_seconds is None  # nothing was generated


def test_eval_abstain_reports_rates_and_the_threshold(services, settings, examples_ingested, tmp_path):
    ood = tmp_path / "ood.jsonl"
    ood.write_text("".join(json.dumps({"question": q, "answer": "-"}) + "\n" for q in OFF_TOPIC))
    result = run_cli(["eval", "abstain", "--qa", str(EXAMPLES / "qa.jsonl"), "--collection", "examples",
                      "--split", "test", "--ood", str(ood), "--json"], settings)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert set(body) >= {"answered_rate", "abstained_ood_rate", "threshold", "answerable", "answered", "ood",
                         "abstained_ood", "calibration", "cpu"}
    assert body["answerable"] == 22 and body["ood"] == len(OFF_TOPIC) and body["calibration"] == "titles"
    assert body["answered_rate"] >= 0.9 and body["abstained_ood_rate"] >= 0.75, body
    assert body["threshold"] == pytest.approx(services.abstention_records.threshold("examples"), abs=1e-4)


def test_calibrating_from_a_qa_file(services, settings, examples_ingested):
    result = run_cli(["calibrate", "--collection", "examples", "--qa", str(EXAMPLES / "qa.jsonl"), "--json"],
                     settings)
    try:
        assert result.returncode == 0, result.stderr
        abstention = json.loads(result.stdout)["abstention"]
        assert abstention["source"] == "qa.jsonl" and abstention["answerable"] == 68  # the train split
        assert abstention["answerable_kept"] >= 0.95
        assert services.abstention_records.threshold("examples") == pytest.approx(abstention["threshold"], abs=1e-4)
    finally:
        services.calibrate_abstention("examples")  # the label-free threshold again, for the other tests
