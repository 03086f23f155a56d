"""The load benchmark's pure parts: SSE parsing, busy detection, metrics parsing, aggregation, question files."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from benchmarks.load import (
    LoadConfig,
    LoadError,
    Samples,
    StreamState,
    is_busy,
    load_questions,
    metric_sum,
    report_lines,
    summarize,
    tokens_per_second,
)

KEYS = {"users", "seconds", "requests", "chat_requests", "retrieval_requests", "errors", "busy", "ttft_p50",
        "ttft_p95", "total_p50", "total_p95", "retrieval_p50", "retrieval_p95", "metrics_scrape_p50_ms",
        "metrics_scrape_p95_ms", "server_rss_peak_mb", "server_rss_median_mb", "serve_ready_seconds",
        "tokens_per_second_aggregate", "error_samples", "replicas"}


def data(body: dict) -> str:
    return f"data: {json.dumps(body)}"


def delta(content: str | None, **extra) -> str:
    chunk = {"choices": [{"index": 0, "delta": {} if content is None else {"content": content}}], **extra}
    return data(chunk)


def test_stream_state_follows_an_openai_stream():
    state = StreamState()
    lines = [delta(""), "", delta("Hello"), "", ": keep-alive", delta(" world"),
             delta(None, not_covered=False, message_id="m"), "data: [DONE]"]
    carried = [state.feed(line) for line in lines]
    assert carried == [False, False, True, False, False, True, False, False]
    assert state.chunks == 2 and state.done and state.error is None and not state.not_covered


def test_stream_state_records_error_events_and_not_covered():
    state = StreamState()
    state.feed(delta("Not covered.", not_covered=True))
    state.feed(data({"error": {"message": "boom", "type": "RuntimeError"}}))
    state.feed("data: [DONE]")
    assert state.not_covered and state.error == "boom" and state.done


def test_busy_is_429_or_a_503_that_says_so():
    assert is_busy(429, "")
    assert is_busy(503, '{"error": {"message": "busy: 8 answers are running or queued", "type": "server_busy"}}')
    assert not is_busy(503, '{"detail": "database unavailable: gone"}')
    assert not is_busy(500, "busy")


def test_metric_sum_adds_label_sets_and_ignores_similar_names():
    text = "\n".join([
        "# HELP ragbot_generated_tokens_total Answer tokens generated.",
        "# TYPE ragbot_generated_tokens_total counter",
        'ragbot_generated_tokens_total{generator="base"} 120.0',
        'ragbot_generated_tokens_total{generator="finetuned"} 30.0',
        'ragbot_generated_tokens_created{generator="base"} 1.7e+09',
        "ragbot_generated_tokens_total_other 5.0",
    ])
    assert metric_sum(text, "ragbot_generated_tokens_total") == 150.0
    assert metric_sum(text, "missing") == 0.0


def test_tokens_per_second_between_first_and_last_reading():
    assert tokens_per_second([(10.0, 100.0), (11.0, 120.0), (14.0, 300.0)]) == 50.0
    assert tokens_per_second([(10.0, 100.0)]) is None
    assert tokens_per_second([]) is None


def test_summarize_aggregates_samples():
    samples = Samples(ttft=[0.1, 0.2, 0.3, 0.4, 0.5], total=[1.0, 2.0, 3.0, 4.0, 5.0], retrieval=[0.02, 0.04],
                      scrape=[0.001, 0.002, 0.003], rss_mb=[500.0, 700.0, 600.0], tokens=[(0.0, 0.0), (10.0, 250.0)],
                      chat_requests=5, retrieval_requests=2, busy=3, replicas=Counter({"b": 3, "a": 4}))
    for n in range(7):
        samples.error(f"failure {n}")
    result = summarize(samples, LoadConfig(users=4, seconds=10), ready_seconds=3.14159)
    assert set(result) == KEYS | {"not_covered"}
    assert result["requests"] == 7 and result["errors"] == 7 and result["busy"] == 3
    assert result["error_samples"] == [f"failure {n}" for n in range(5)]
    assert result["ttft_p50"] == 0.3 and result["ttft_p95"] == pytest.approx(0.48)
    assert result["total_p50"] == 3.0 and result["retrieval_p50"] == 0.03
    assert result["metrics_scrape_p50_ms"] == 2.0 and result["metrics_scrape_p95_ms"] == pytest.approx(2.9)
    assert result["server_rss_peak_mb"] == 700 and result["server_rss_median_mb"] == 600
    assert result["serve_ready_seconds"] == 3.14 and result["tokens_per_second_aggregate"] == 25.0
    assert any("7 requests" in line for line in report_lines(result))
    assert result["replicas"] == {"a": 4, "b": 3} and "requests per replica: a 4, b 3" in report_lines(result)


def test_summarize_without_samples_reports_none():
    result = summarize(Samples(), LoadConfig(), ready_seconds=None)
    assert result["requests"] == 0 and result["ttft_p95"] is None and result["server_rss_peak_mb"] is None
    assert result["tokens_per_second_aggregate"] is None
    assert report_lines(result)


def test_questions_from_plain_lines_and_jsonl(tmp_path):
    plain = tmp_path / "q.txt"
    plain.write_text("How do I reset it?\n\n  Where is my invoice?  \n", encoding="utf-8")
    assert load_questions(plain) == ("How do I reset it?", "Where is my invoice?")
    jsonl = tmp_path / "q.jsonl"
    jsonl.write_text('{"_id": "q1", "question": "Why?"}\n{"question": "How?", "answer": "so"}\n', encoding="utf-8")
    assert load_questions(jsonl) == ("Why?", "How?")


@pytest.mark.parametrize("content", ['{"answer": "no question"}\n', "\n\n", '{"question": \n'])
def test_unusable_question_files_are_load_errors(tmp_path, content):
    path = tmp_path / "q.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(LoadError):
        load_questions(path)
    with pytest.raises(LoadError):
        load_questions(tmp_path / "missing.txt")
