"""The web tier's cluster pieces that need no database: nginx's generated config, the replica header, and the
rate limit's answer when the database (where the buckets live) is down."""

from __future__ import annotations

import asyncio
import json

import httpx
from fastapi import FastAPI


def test_the_test_nginx_config_is_deploy_nginx_conf_with_the_replicas_and_port_filled_in(tmp_path):
    from tests.integration.cluster import NGINX_CONF, nginx_config

    conf = nginx_config(NGINX_CONF.read_text(), ["127.0.0.1:9001", "127.0.0.1:9002"], 8088, tmp_path)
    directives = [line.strip() for line in conf.splitlines() if not line.strip().startswith("#")]
    assert not [d for d in directives if "app:7860" in d or d == "listen 80;"]
    assert "listen 127.0.0.1:8088;" in directives
    assert conf.count("server 127.0.0.1:9001 max_fails=3 fail_timeout=10s;") == 2  # the API and the UI upstream
    assert f"proxy_temp_path {tmp_path / 'proxy'};" in conf
    assert "hash $ragbot_affinity consistent;" in conf and "least_conn;" in conf


def app_with(middleware, **options) -> FastAPI:
    app = FastAPI()

    @app.get("/api/search")
    def search() -> dict:
        return {"ok": True}

    app.add_middleware(middleware, **options)
    return app


def get(app: FastAPI, path: str) -> httpx.Response:
    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            return await client.get(path)

    return asyncio.run(call())


def test_every_response_names_its_replica():
    from chatbot.api.replica_header import ReplicaHeader

    response = get(app_with(ReplicaHeader, replica="replica-a"), "/api/search")
    assert response.status_code == 200 and response.headers["x-ragbot-replica"] == "replica-a"


def test_a_limited_route_answers_503_while_the_database_is_down():
    from chatbot.api.rate_limit import RateLimitMiddleware
    from chatbot.db import DatabaseError

    class Down:
        def take(self, key, cost):
            raise DatabaseError("connection refused")

    middleware = RateLimitMiddleware(FastAPI(), pool=None, per_minute=5, burst=5)
    middleware.buckets = Down()
    response = asyncio.run(_call(middleware))
    assert response == (503, "database unavailable: connection refused")


async def _call(middleware) -> tuple[int, str]:
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/api/search", "client": ("192.0.2.1", 1), "headers": []}
    await middleware(scope, receive, send)
    return sent[0]["status"], json.loads(sent[1]["body"])["detail"]
