"""Saved 2×2 report folders (what the admin Evaluation tab runs and lists): one question only, it is slow."""

from __future__ import annotations

import json

import pytest

from chatbot.generators import GeneratorUnavailable
from tests.conftest import EXAMPLES
from training.compare import ARMS
from training.dataset import DatasetError
from training.reports import (
    SUMMARY_HEADERS,
    detail_rows,
    list_reports,
    load_report,
    reports_dir,
    run_compare_report,
    submit_compare,
    summary_rows,
)

pytestmark = pytest.mark.integration


def test_run_compare_report_writes_the_report_folder(services, settings, examples_ingested, untrained_adapter):
    seen: list[tuple[int, int]] = []
    folder = run_compare_report(services.chain, services.store, services.embedder, services.settings,
                                EXAMPLES / "qa.jsonl", collection="examples", adapter=untrained_adapter, limit=1,
                                progress=False, on_progress=lambda done, total: seen.append((done, total)))
    assert seen == [(done, 5) for done in range(1, 6)]  # after each answer: one question, five arms
    assert folder.parent == reports_dir(settings) and folder.name.endswith("Z-examples")
    assert len(folder.name.split("-")[0]) == len("20260102T030405Z")
    result = json.loads((folder / "result.json").read_text())
    assert result["n"] == 1 and result["collection"] == "examples" and result["adapter"] == untrained_adapter
    assert result["qa"] == "qa.jsonl" and result["created_at"] and set(result["arms"]) == set(ARMS)
    page = (folder / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and "Every question, five ways" in page
    for chart in ("quality.png", "cost.png"):
        assert (folder / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (folder / chart).stat().st_size > 1000
    records = [json.loads(line) for line in (folder / "records.jsonl").read_text().splitlines()]
    assert sorted(r["condition"] for r in records) == sorted(ARMS)

    report = load_report(settings, folder.name)
    assert report is not None and report.result == result and [p.name for p in report.charts] == [
        "quality.png", "cost.png"]
    assert folder.name in [r.name for r in list_reports(settings)]
    rows = summary_rows(result)
    assert [r[0] for r in rows] == list(ARMS) and all(len(r) == len(SUMMARY_HEADERS) for r in rows)
    assert dict(detail_rows(result))["QA file"] == "qa.jsonl"
    assert load_report(settings, "../" + folder.name) is None and load_report(settings, "missing") is None


def test_submit_compare_refuses_a_bad_split_or_adapter_before_queueing(services, untrained_adapter):
    with pytest.raises(DatasetError, match="no QA pairs"):
        submit_compare(services.jobs, services.chain.generators, services.settings, EXAMPLES / "qa.jsonl",
                       queued_by="test", split="no-such-split", adapter=untrained_adapter)
    with pytest.raises(GeneratorUnavailable):
        submit_compare(services.jobs, services.chain.generators, services.settings, EXAMPLES / "qa.jsonl",
                       queued_by="test", adapter="no-such-adapter")
    assert not services.jobs.jobs("evaluation")
