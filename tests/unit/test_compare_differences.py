"""`ragbot eval compare`: paired bootstrap intervals of the F1 and ROUGE-L differences between arms."""

from __future__ import annotations

from training.compare import ARMS, difference_rows, hybrid_differences
from training.evaluate import Record, Scores


def records(f1: list[float]) -> list[Record]:
    return [Record(f"q{i}", f"question {i}", "gold", "arm", "text", 0, False, 1.0, None,
                   Scores(f1=value, rougeL=value / 2, citation_valid=True, grounded=None))
            for i, value in enumerate(f1)]


def test_the_hybrid_against_an_identical_arm_contains_zero_and_against_a_worse_one_excludes_it():
    hybrid = [0.2, 0.5, 0.1, 0.7, 0.4, 0.3, 0.6, 0.2, 0.5, 0.4]
    arms = {arm: records(hybrid) for arm in ARMS}
    arms["base"] = records([max(0.0, v - 0.2 - 0.01 * i) for i, v in enumerate(hybrid)])
    result = hybrid_differences(arms)
    same = result["finetuned+rag_vs_finetuned"]
    assert same["f1"]["mean"] == 0.0 and same["f1"]["low"] <= 0.0 <= same["f1"]["high"]
    better = result["finetuned+rag_vs_base"]
    for metric in ("f1", "rougeL"):
        assert better[metric]["low"] > 0.0 and better[metric]["low"] <= better[metric]["mean"] <= better[metric]["high"]
    assert better["f1"]["n"] == 10 and result["resamples"] == 2000 and result["seed"] == 0
    assert hybrid_differences(arms) == result  # a fixed seed: the report is reproducible
    rows = dict((key, (f1, rouge)) for key, f1, rouge in difference_rows({"differences": result}))
    assert set(rows) == {f"finetuned+rag_vs_{arm}" for arm in ARMS if arm != "finetuned+rag"}
    assert rows["finetuned+rag_vs_finetuned"][0] == "+0.000 [+0.000, +0.000]"
    assert difference_rows({}) == []  # a report from before the intervals


def test_the_evaluation_tab_details_list_each_difference():
    from training.reports import detail_rows

    hybrid = [0.2, 0.5, 0.1, 0.7]
    arms = {arm: records(hybrid) for arm in ARMS}
    details = dict(detail_rows({"differences": hybrid_differences(arms)}))
    assert details["finetuned+rag_vs_base: F1, ROUGE-L difference (95 % bootstrap)"] == (
        "+0.000 [+0.000, +0.000]; +0.000 [+0.000, +0.000]")
