"""The request-log middleware: one JSON line per request, the request id in the response, nothing secret logged."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from chatbot.api.request_log import RequestLogMiddleware, request_id_from


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(json.loads(record.getMessage()))


async def echo(request: Request) -> JSONResponse:
    await request.body()
    return JSONResponse({"request_id": request.scope["state"]["request_id"]}, headers={"X-Request-ID": "spoofed"})


async def stream(_request: Request) -> StreamingResponse:
    async def chunks():
        for i in range(3):
            yield f"data: {i}\n\n"

    return StreamingResponse(chunks(), media_type="text/event-stream")


async def boom(_request: Request) -> PlainTextResponse:
    raise RuntimeError("bug")


@pytest.fixture
def client_and_lines():
    lines = Lines()
    logger = logging.getLogger("test.request_log")
    logger.handlers[:] = [lines]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    app = Starlette(routes=[Route("/echo", echo, methods=["GET", "POST"]), Route("/stream", stream),
                            Route("/boom", boom)])
    app.add_middleware(RequestLogMiddleware, logger=logger)
    return TestClient(app, raise_server_exceptions=False), lines.records


def test_one_line_per_request_with_the_id_that_the_response_carries(client_and_lines):
    client, records = client_and_lines
    response = client.post("/echo?password=q", content=b'{"secret": "body"}', auth=("admin", "hunter2"))
    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    assert str(uuid.UUID(request_id)) == request_id == response.json()["request_id"]
    assert response.headers.get_list("x-request-id") == [request_id]  # the app's own header is replaced
    [record] = records
    assert set(record) == {"time", "request_id", "method", "path", "status", "duration_ms"}
    assert (record["request_id"], record["method"], record["path"], record["status"]) == (
        request_id, "POST", "/echo", 200)
    assert record["duration_ms"] >= 0
    logged = json.dumps(records)
    assert "hunter2" not in logged and "secret" not in logged and "password" not in logged


def test_a_sane_incoming_id_is_kept_and_an_odd_one_replaced(client_and_lines):
    client, records = client_and_lines
    assert client.get("/echo", headers={"X-Request-ID": "edge-7f.3:a_b"}).headers["x-request-id"] == "edge-7f.3:a_b"
    for odd in ("x" * 129, "two words", "<script>", "a/b", ""):
        given = client.get("/echo", headers={"X-Request-ID": odd}).headers["x-request-id"]
        assert given != odd and uuid.UUID(given)
    assert records[0]["request_id"] == "edge-7f.3:a_b"
    assert request_id_from([(b"X-Request-Id", b"abc")]) == "abc"


def test_streams_are_timed_to_the_end_and_failures_logged_as_500(client_and_lines):
    client, records = client_and_lines
    streamed = client.get("/stream")
    assert streamed.text.count("data:") == 3 and streamed.headers["x-request-id"]
    assert client.get("/boom").status_code == 500
    assert client.get("/missing").status_code == 404
    assert [(r["path"], r["status"]) for r in records] == [("/stream", 200), ("/boom", 500), ("/missing", 404)]
