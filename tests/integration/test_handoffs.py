"""Handoffs to a person on a real Postgres, delivered by a real `ragbot worker` process to a real local webhook:
a desk that fails twice then accepts gets the handoff once, with every attempt recorded and nothing lost; retries
stop at their limit and `ragbot handoffs deliver` sends what is left; `POST /api/handoffs` answers 201, refuses bad
fields by name and other people's conversations, and is rate-limited like chat; an approved answer joins the QA
export, marked as a handoff."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.handoff_receiver import Receiver, receiving
from tests.integration.private_db import private_services, private_settings, run_cli, serving, worker_process

pytestmark = pytest.mark.integration

ADMIN = ("admin", "s3cret-handoff-admin")
RETRY_S = 0.5
# The subprocesses run this tree's code (a helper's checkout puts its tree first on PYTHONPATH).
TREE = {"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {}


@pytest.fixture(scope="module")
def desk() -> Iterator[Receiver]:
    with receiving() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory, ragbot_home, desk: Receiver) -> Iterator:
    """A private database; handoffs go to `desk`, retried quickly."""
    settings = private_settings(tmp_path_factory.mktemp("handoffs"), handoff_url=desk.url, handoff_retry_s=RETRY_S,
                                handoff_max_attempts=4, rate_limit_per_minute=0, worker=False)
    with private_services(settings) as services:
        yield services


@pytest.fixture(autouse=True)
def fresh_desk(desk: Receiver) -> None:
    desk.plan.clear()
    desk.received.clear()


def handoff_env(services, **extra: str) -> dict[str, str]:
    s = services.settings
    return {**TREE, "RAGBOT_HANDOFF_URL": s.handoff_url or "", "RAGBOT_HANDOFF_RETRY_S": str(s.handoff_retry_s),
            "RAGBOT_HANDOFF_MAX_ATTEMPTS": str(s.handoff_max_attempts), **extra}


def worker(services):
    """A `ragbot worker` process on the test's database, delivering to the test's desk."""
    return worker_process(services.settings, **handoff_env(services))


def cli(services, *args: str, **extra: str) -> subprocess.CompletedProcess:
    return run_cli(list(args), services.settings, **handoff_env(services, **extra))


def wait_until(condition, timeout: float = 90.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return value


def a_conversation(services, *, abstained: bool) -> tuple[uuid.UUID, str]:
    """A stored conversation with one answer (abstained or citing a source), and its token."""
    from langchain_core.documents import Document

    from chatbot.chain import Answer
    from chatbot.storage.conversations import new_token

    token = new_token()
    conversation = services.conversations.create("bitcoin", token)
    source = Document("Invoices are sent on the first of the month.", metadata={"source": "/srv/billing.md",
                                                                                  "title": "Billing"})
    answer = Answer(text="The documents do not cover this." if abstained else "Invoices arrive monthly [1].",
                    generator="base", question="Can I pay by bitcoin?", search_query="Can I pay by bitcoin?",
                    retrieved=[source], sources=[] if abstained else [(1, source)], not_covered=abstained)
    services.conversations.add_message(conversation, answer, "examples")
    return conversation, token


def test_a_desk_that_fails_twice_then_accepts_gets_the_handoff_once_with_every_attempt_recorded(services, desk):
    desk.plan = [500, 503]
    handoff = services.handoffs.create("Can I pay by bitcoin?", contact="ana@example.com")
    with worker(services):
        failed_once = wait_until(lambda: (h := services.handoffs.get(handoff.id)).attempts >= 1 and h,
                                 what="the first attempt")
        assert failed_once.status in ("open", "delivered")  # never lost: open with the reason until delivered
        if failed_once.status == "open":
            assert "answered 50" in failed_once.last_error
        delivered = wait_until(lambda: (h := services.handoffs.get(handoff.id)).status == "delivered" and h,
                               what="the delivery")
        time.sleep(3 * RETRY_S + 1)  # no attempt after the delivery
    assert delivered.attempts == 3 and delivered.last_error == "" and delivered.delivered_at is not None
    assert [r.status for r in desk.received] == [500, 503, 200]
    assert {r.headers["idempotency-key"] for r in desk.received} == {str(handoff.id)}
    [accepted] = desk.accepted()
    assert accepted.body["question"] == "Can I pay by bitcoin?" and accepted.body["contact"] == "ana@example.com"
    jobs = [j for j in services.jobs.jobs(kind="handoff_delivery") if j.arguments["handoff"] == str(handoff.id)]
    assert sorted(j.status for j in jobs) == ["failed", "failed", "succeeded"]
    assert all("next attempt in" in j.error for j in jobs if j.status == "failed")


def test_retries_stop_at_their_limit_the_handoff_stays_open_and_the_cli_delivers_it(services, desk):
    desk.plan = [500] * services.settings.handoff_max_attempts
    handoff = services.handoffs.create("Where is my refund?")
    with worker(services):
        stuck = wait_until(lambda: (h := services.handoffs.get(handoff.id)).attempts
                           >= services.settings.handoff_max_attempts and h, what="the last retry")
        time.sleep(4 * RETRY_S + 1)
    assert stuck.status == "open" and "answered 500" in stuck.last_error
    assert services.handoffs.get(handoff.id).attempts == services.settings.handoff_max_attempts  # retries stopped
    assert services.handoffs.queue_open() >= 1  # Admin → Handoffs "Retry delivery": one job per open handoff
    assert any(j.arguments["handoff"] == str(handoff.id) and j.status == "queued"
               for j in services.jobs.jobs(kind="handoff_delivery"))
    listed = json.loads(cli(services, "handoffs", "list", "--status", "open", "--json").stdout)
    mine = next(row for row in listed if row["id"] == str(handoff.id))
    assert mine["status"] == "open" and mine["delivered_at"] is None and mine["attempts"] == 4
    assert mine["question"] == "Where is my refund?" and mine["created_at"]

    sent = cli(services, "handoffs", "deliver")
    assert sent.returncode == 0, sent.stderr
    delivered = json.loads(cli(services, "handoffs", "list", "--status", "delivered", "--json").stdout)
    assert str(handoff.id) in {row["id"] for row in delivered}
    assert next(r for r in delivered if r["id"] == str(handoff.id))["delivered_at"]
    assert len(desk.accepted()) == 1 and cli(services, "handoffs", "deliver").stdout.endswith("of 0 open handoff(s)\n")


def test_without_a_webhook_a_handoff_stays_open_and_no_delivery_is_queued(services):
    from chatbot.services import Services

    plain = Services(services.settings.model_copy(update={"handoff_url": None}))
    try:
        before = len(plain.jobs.jobs(kind="handoff_delivery"))
        handoff = plain.handoffs.create("Is there a student discount?")
        assert plain.handoffs.get(handoff.id).status == "open"
        assert plain.handoffs.queue_open() == 0 and len(plain.jobs.jobs(kind="handoff_delivery")) == before
    finally:
        plain.close()
    refused = run_cli(["handoffs", "deliver"], services.settings, **TREE)
    assert refused.returncode == 1 and "RAGBOT_HANDOFF_URL is not set" in refused.stderr
    listed = run_cli(["handoffs", "list"], services.settings, **TREE)
    assert listed.returncode == 0 and "No webhook is configured" in listed.stderr
    assert "Is there a student discount?" in listed.stdout


@pytest.fixture(scope="module")
def api(services) -> Iterator[str]:
    from chatbot.credentials import AdminCredentials
    from chatbot.server import create_server
    from chatbot.services import Services

    quiet = Services(services.settings.model_copy(update={"handoff_url": None}))  # delivery is tested above
    try:
        with serving(create_server(quiet, AdminCredentials(*ADMIN, generated=False), with_ui=False,
                                   worker=False)) as url:
            yield url
    finally:
        quiet.close()


def test_the_api_creates_a_handoff_with_what_the_user_saw(api, services):
    conversation, token = a_conversation(services, abstained=True)
    response = httpx.post(f"{api}/api/handoffs", json={
        "question": "Can I pay by bitcoin?", "conversation_id": str(conversation), "conversation_token": token,
        "contact": "ana@example.com"})
    assert response.status_code == 201, response.text
    handoff = services.handoffs.get(uuid.UUID(response.json()["id"]))
    assert handoff.reason == "abstained" and handoff.status == "open" and handoff.collection == "examples"
    assert handoff.conversation == [{"question": "Can I pay by bitcoin?", "answer": "The documents do not cover this."}]
    assert handoff.contact == "ana@example.com" and handoff.conversation_id == conversation

    cited, cited_token = a_conversation(services, abstained=False)
    answered = httpx.post(f"{api}/api/handoffs", json={"question": "And by cheque?", "conversation_id": str(cited),
                                                       "conversation_token": cited_token}).json()
    shown = services.handoffs.get(uuid.UUID(answered["id"]))
    assert shown.reason == "asked" and [s["source"] for s in shown.sources] == ["billing.md"]

    bare = httpx.post(f"{api}/api/handoffs", json={"question": "Talk to a human please"})
    assert bare.status_code == 201 and services.handoffs.get(uuid.UUID(bare.json()["id"])).conversation == []


@pytest.mark.parametrize(("body", "field"), [
    ({}, "question"),
    ({"question": "   "}, "question"),
    ({"question": "x" * 4001}, "question"),
    ({"question": "hi", "contact": "c" * 301}, "contact"),
    ({"question": "hi", "contact": "a\u0000b"}, "contact"),
    ({"question": "hi", "conversation_id": "not-a-uuid"}, "conversation_id"),
    ({"question": "hi", "collection": "c" * 101}, "collection"),
    ({"question": ["a", "list"]}, "question"),
])
def test_bad_fields_are_refused_by_name_and_nothing_is_stored(api, services, body, field):
    before = len(services.handoffs.recent(limit=10_000))
    response = httpx.post(f"{api}/api/handoffs", json=body)
    assert response.status_code == 422, response.text
    assert any(p["field"].endswith(field) for p in response.json()["detail"]), response.json()
    assert len(services.handoffs.recent(limit=10_000)) == before


def test_someone_elses_conversation_is_refused(api, services):
    conversation, _ = a_conversation(services, abstained=True)
    before = len(services.handoffs.recent(limit=10_000))
    for token in (None, "guessed-token"):
        response = httpx.post(f"{api}/api/handoffs", json={"question": "Show me their chat",
                                                           "conversation_id": str(conversation),
                                                           "conversation_token": token})
        assert response.status_code == 404 and response.json()["error"]["param"] == "conversation_token"
    unknown = httpx.post(f"{api}/api/handoffs", json={"question": "hi", "conversation_id": str(uuid.uuid4()),
                                                      "conversation_token": "x"})
    assert unknown.status_code == 404
    assert len(services.handoffs.recent(limit=10_000)) == before


def test_the_route_is_rate_limited_per_client_like_chat(services):
    from chatbot.credentials import AdminCredentials
    from chatbot.server import create_server
    from chatbot.services import Services

    limited = Services(services.settings.model_copy(update={"handoff_url": None, "rate_limit_per_minute": 1,
                                                            "rate_limit_burst": 1}))
    try:
        with serving(create_server(limited, AdminCredentials(*ADMIN, generated=False), with_ui=False,
                                   worker=False)) as url:
            codes = [httpx.post(f"{url}/api/handoffs", json={"question": f"q{n}"}).status_code for n in range(2)]
            assert codes == [201, 429]
    finally:
        with limited.pool.connection() as conn:
            conn.execute("TRUNCATE rate_buckets")
        limited.close()


def test_an_approved_answer_joins_the_qa_export_and_a_rejected_one_does_not(services, tmp_path):
    from chatbot.storage.feedback_export import export_feedback

    kept = services.handoffs.create("Do you ship to Iceland?")
    dropped = services.handoffs.create("Do you ship to Mars?")
    answered = cli(services, "handoffs", "answer", str(kept.id), "--text", "Yes, within 5 working days.")
    assert answered.returncode == 0, answered.stderr
    services.handoffs.answer(dropped.id, "No.", "agent")
    out = tmp_path / "qa.jsonl"
    export_feedback(services.pool, out)
    assert not any(json.loads(line).get("origin") == "handoff" for line in out.read_text().splitlines())  # pending

    services.handoffs.review(kept.id, "approved")
    services.handoffs.review(dropped.id, "rejected")
    export_feedback(services.pool, out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    mine = [r for r in rows if r["origin"] == "handoff"]
    assert [(r["question"], r["answer"], r["handoff_id"]) for r in mine] == [
        ("Do you ship to Iceland?", "Yes, within 5 working days.", str(kept.id))]
    assert services.handoffs.get(kept.id).answered_by.startswith("cli:")
    with pytest.raises(LookupError):
        services.handoffs.review(services.handoffs.create("unanswered").id, "approved")
    missing = cli(services, "handoffs", "answer", str(uuid.uuid4()), "--text", "hi")
    assert missing.returncode == 1 and "no handoff" in missing.stderr
