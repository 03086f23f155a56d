"""Two `ragbot serve` replicas (real subprocesses, each with its own RAGBOT_HOME) on the session's Postgres reached
by DATABASE_URL, behind Debian's nginx running deploy/nginx.conf (issue 28 item 2; issue 29 item 5)."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from benchmarks.load import stop_process
from tests.integration.cluster import Cluster, cluster, start_replica

pytestmark = pytest.mark.integration

PASSWORD = "cluster-admin-" + secrets.token_hex(6)
PER_MINUTE = 10  # the open routes' limit per client (and its burst)
REPLICA = "x-ragbot-replica"
QUESTION = "How do I factory reset the hub?"
ENV = {"RAGBOT_ADMIN_PASSWORD": PASSWORD, "RAGBOT_RATE_LIMIT_PER_MINUTE": str(PER_MINUTE),
       "RAGBOT_RATE_LIMIT_BURST": str(PER_MINUTE), "RAGBOT_MAX_ANSWERS_PER_CLIENT": "2",
       "RAGBOT_MAX_NEW_TOKENS": "12", "RAGBOT_COLLECTION": "examples", "RAGBOT_LOGIN_FREE_FAILURES": "8"}


@pytest.fixture(scope="module")
def two_replicas(services, examples_ingested, tmp_path_factory) -> Iterator[Cluster]:
    with cluster(services.url, tmp_path_factory.mktemp("cluster"), ["replica-a", "replica-b"], ENV) as running:
        for replica in running.replicas:  # load each replica's models once, outside the tests' timings
            body = {"model": "base", "messages": [{"role": "user", "content": QUESTION}]}
            warm = httpx.post(f"{replica.url}/v1/chat/completions", json=body, timeout=300,
                              headers={"X-Forwarded-For": "192.0.2.1"})
            assert warm.status_code == 200, warm.text
        yield running


def chat(url: str, **headers: str) -> httpx.Response:
    body = {"model": "base", "stream": True, "messages": [{"role": "user", "content": QUESTION}]}
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=300, headers=headers) as response:
        response.read()
    return response


def test_a_chat_through_nginx_streams_an_answer_and_stores_it(two_replicas):
    answered = chat(two_replicas.url)
    assert answered.status_code == 200, answered.text
    events = [line.removeprefix("data: ") for line in answered.text.splitlines() if line.startswith("data:")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks).strip()
    assert chunks[-1]["message_id"]  # stored, in the one database
    assert answered.headers[REPLICA] in {"replica-a", "replica-b"}


def test_the_ui_sticks_to_one_replica_and_the_api_uses_both(two_replicas):
    with httpx.Client(base_url=two_replicas.url, timeout=60) as browser:
        page = browser.get("/")
        assert page.status_code == 200 and browser.cookies.get("ragbot_affinity")
        assert {browser.get("/").headers[REPLICA] for _ in range(8)} == {page.headers[REPLICA]}
    served = {httpx.get(f"{two_replicas.url}/healthz", timeout=60).headers[REPLICA] for _ in range(8)}
    assert served == {"replica-a", "replica-b"}


def test_a_rate_limit_holds_across_replicas(two_replicas):
    search = {"q": QUESTION, "k": 1}
    answers = [httpx.get(f"{two_replicas.url}/api/search", params=search, timeout=60) for _ in range(2 * PER_MINUTE)]
    accepted = [r for r in answers if r.status_code == 200]
    assert {r.status_code for r in answers} == {200, 429}
    assert PER_MINUTE <= len(accepted) <= PER_MINUTE + 1  # the burst, and at most one refill during the run
    assert {r.headers[REPLICA] for r in accepted} == {"replica-a", "replica-b"}  # both replicas counted them


def test_failed_logins_over_both_replicas_lock_the_client_on_both(two_replicas):
    a, b = (replica.url for replica in two_replicas.replicas)
    for n, url in enumerate([a, b] * 5):  # 10 wrong passwords, each waiting out the throttle: 8 free, then 1 s, 2 s
        guess = {"username": "admin", "password": f"guess-{n}"}
        answered = httpx.post(f"{url}/admin/login", data=guess)
        if answered.status_code == 429:  # the other replica's failures count here too
            assert n >= 8, n
            time.sleep(int(answered.headers["retry-after"]))
            answered = httpx.post(f"{url}/admin/login", data=guess)
        assert answered.status_code == 400, (n, answered.text)
    for url in (a, b):
        refused = httpx.post(f"{url}/admin/login", data={"username": "admin", "password": PASSWORD})
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert httpx.get(f"{url}/api/documents", auth=("admin", PASSWORD)).status_code == 429
    elsewhere = httpx.post(f"{b}/admin/login", data={"username": "admin", "password": PASSWORD},
                           headers={"X-Forwarded-For": "192.0.2.44"})  # issue 29 item 9: not the admin's lockout
    assert elsewhere.status_code == 200
    with httpx.Client(base_url=a, cookies=elsewhere.cookies) as other_replica:  # the session is known on A too
        assert other_replica.get("/admin/gradio_api/user", headers={"X-Forwarded-For": "192.0.2.44"}).json() == "admin"


def test_one_client_holds_at_most_two_answers_in_flight_across_replicas(two_replicas):
    results: list[httpx.Response] = []
    start = threading.Barrier(4)

    def ask() -> None:
        start.wait()
        results.append(chat(two_replicas.url))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in results) == [200, 200, 429, 429], [r.text[:200] for r in results]
    assert all("in flight" in r.text for r in results if r.status_code == 429)
    assert chat(two_replicas.url).status_code == 200  # finished answers free their slots


def test_a_replica_without_the_configured_password_refuses_to_start(two_replicas):
    env = {k: v for k, v in ENV.items() if k != "RAGBOT_ADMIN_PASSWORD"}
    third = start_replica(two_replicas.database_url, two_replicas.root, "replica-c", env)
    try:
        assert third.process.wait(240) == 1, third.tail()
    finally:
        stop_process(third.process)
    message = " ".join(third.tail().split())
    assert "another ragbot replica is running" in message and "RAGBOT_ADMIN_PASSWORD" in message

