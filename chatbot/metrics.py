"""Prometheus metrics: defined once per process, recorded by the services, scraped at `GET /metrics`."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response

from chatbot.chain import Answer

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})  # others count as OTHER
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80)

HTTP_REQUESTS = Counter("ragbot_http_requests_total", "HTTP requests by route template, method and status.",
                        ["route", "method", "status"])
HTTP_SECONDS = Histogram("ragbot_http_request_duration_seconds", "HTTP request duration (until headers).",
                         ["route"], buckets=_LATENCY_BUCKETS)
ANSWERS = Counter("ragbot_answers_total", "Answers given, by generator.", ["generator"])
NOT_COVERED = Counter("ragbot_not_covered_total", "Questions answered 'not covered' (no relevant chunk).")
RETRIEVAL_SECONDS = Histogram("ragbot_retrieval_duration_seconds", "Retrieval time per question.",
                              buckets=_LATENCY_BUCKETS)
FIRST_TOKEN_SECONDS = Histogram("ragbot_time_to_first_token_seconds", "Time to the first answer token.",
                                ["generator"], buckets=_LATENCY_BUCKETS)
ANSWER_SECONDS = Histogram("ragbot_answer_duration_seconds", "Total time per answer.", ["generator"],
                           buckets=_LATENCY_BUCKETS)
GENERATED_TOKENS = Counter("ragbot_generated_tokens_total", "Answer tokens generated.", ["generator"])
TOP_SIMILARITY = Histogram("ragbot_top_retrieval_similarity", "Cosine similarity of the best retrieved chunk.",
                           buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0))
FEEDBACK = Counter("ragbot_feedback_votes_total", "Thumbs votes by generator and vote.", ["generator", "vote"])


def record_answer(answer: Answer, generated_tokens: int) -> None:
    ANSWERS.labels(answer.generator).inc()
    ANSWER_SECONDS.labels(answer.generator).observe(answer.seconds)
    if answer.retrieval_seconds is not None:
        RETRIEVAL_SECONDS.observe(answer.retrieval_seconds)
    if answer.first_token_seconds is not None:
        FIRST_TOKEN_SECONDS.labels(answer.generator).observe(answer.first_token_seconds)
    if answer.not_covered:
        NOT_COVERED.inc()
    else:
        GENERATED_TOKENS.labels(answer.generator).inc(generated_tokens)
    similarities = [d.metadata.get("similarity") for d in answer.retrieved if d.metadata.get("similarity") is not None]
    if similarities:
        TOP_SIMILARITY.observe(max(similarities))


def record_feedback(generator: str, vote: int) -> None:
    FEEDBACK.labels(generator, "up" if vote > 0 else "down").inc()


async def track_requests(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """HTTP middleware: count and time requests by their route template and method (never the raw path, nor a
    made-up method: no cardinality blow-up from ids or probing)."""
    started = time.perf_counter()
    response = await call_next(request)
    route = getattr(request.scope.get("route"), "path", None) or "unmatched"
    method = request.method if request.method in HTTP_METHODS else "OTHER"
    HTTP_REQUESTS.labels(route, method, str(response.status_code)).inc()
    HTTP_SECONDS.labels(route).observe(time.perf_counter() - started)
    return response


def metrics_response() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
