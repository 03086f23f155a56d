"""The web tier's cluster pieces that need no database: nginx's generated config, the replica header, and the
rate limit while the database (where the buckets live) is down."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx
from fastapi import FastAPI

T = TypeVar("T")


def test_the_test_nginx_config_is_deploy_nginx_conf_with_the_replicas_and_port_filled_in(tmp_path):
    from tests.integration.cluster import NGINX_CONF, nginx_config

    conf = nginx_config(NGINX_CONF.read_text(), ["127.0.0.1:9001", "127.0.0.1:9002"], 8088, tmp_path)
    directives = [line.strip() for line in conf.splitlines() if not line.strip().startswith("#")]
    assert not [d for d in directives if "app:7860" in d or d == "listen 80;"]
    assert "listen 127.0.0.1:8088;" in directives
    assert conf.count("server 127.0.0.1:9001 max_fails=3 fail_timeout=10s;") == 2  # the API and the UI upstream
    assert f"proxy_temp_path {tmp_path / 'proxy'};" in conf
    assert "hash $ragbot_affinity consistent;" in conf and "least_conn;" in conf


def search_app() -> FastAPI:
    app = FastAPI()

    @app.get("/api/search")
    def search() -> dict:
        return {"ok": True}

    return app


def get(app: FastAPI, path: str) -> httpx.Response:
    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            return await client.get(path)

    return run(call())


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` on a loop of its own thread: the browser tests' playwright keeps a loop running in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def test_every_response_names_its_replica():
    from chatbot.api.replica_header import ReplicaHeader

    app = search_app()
    app.add_middleware(ReplicaHeader, replica="replica-a")
    response = get(app, "/api/search")
    assert response.status_code == 200 and response.headers["x-ragbot-replica"] == "replica-a"


def test_a_limited_route_answers_for_itself_while_the_database_is_down():
    """The buckets are in the database: while it is down the route is not refused by the limiter; it answers
    (with its own 503 where it needs the database)."""
    from chatbot.api.rate_limit import RateLimitMiddleware
    from chatbot.storage.db import DatabaseError

    class Down:
        def take(self, key, cost):
            raise DatabaseError("connection refused")

    middleware = RateLimitMiddleware(search_app(), pool=None, per_minute=5, burst=5)
    middleware.buckets = Down()
    assert run(_call(middleware)) == 200


async def _call(middleware) -> int:
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/api/search", "client": ("192.0.2.1", 1), "headers": [],
             "query_string": b"", "root_path": "", "scheme": "http", "server": ("t", 80), "http_version": "1.1"}
    await middleware(scope, receive, send)
    return sent[0]["status"]
