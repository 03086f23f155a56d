"""One delivery of a handoff to a real local webhook: the ragbot and Zendesk bodies, the bearer token, the
Idempotency-Key, failures named, redirects never followed; the retry delays; field checks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from chatbot.handoff_delivery import MAX_RETRY_S, retry_delay, send, transcript
from chatbot.handoffs import checked_text
from chatbot.limits import InputTooLong, InvalidInput
from chatbot.settings import Settings
from chatbot.storage.handoffs import DeliveryFailed, Handoff
from tests.handoff_receiver import receiving


def handoff(**overrides) -> Handoff:
    values = {"id": uuid.uuid4(), "conversation_id": None, "message_id": None, "collection": "examples",
              "question": "Can I pay by bitcoin?", "reason": "abstained", "contact": "ana@example.com",
              "conversation": [{"question": "Can I pay by bitcoin?", "answer": "The documents do not say."}],
              "sources": [{"n": 1, "source": "billing.md", "title": "Billing"}],
              "created_at": datetime(2026, 12, 4, tzinfo=UTC)}
    return Handoff(**{**values, **overrides})


def settings(url: str, **overrides) -> Settings:
    return Settings(handoff_url=url, _env_file=None, **overrides)


def test_the_ragbot_body_carries_the_handoff_with_an_idempotency_key_and_no_token_by_default():
    h = handoff()
    with receiving() as desk:
        send(h, settings(desk.url))
    [got] = desk.received
    assert got.path == "/hooks/handoff"
    assert got.headers["idempotency-key"] == str(h.id) and "authorization" not in got.headers
    assert got.body["id"] == str(h.id) and got.body["question"] == "Can I pay by bitcoin?"
    assert got.body["reason"] == "abstained" and got.body["contact"] == "ana@example.com"
    assert got.body["conversation"][0]["answer"] == "The documents do not say."
    assert got.body["sources"][0]["source"] == "billing.md"
    assert "answer" not in got.body and "review" not in got.body  # the agent's fields stay home


def test_the_zendesk_body_is_a_ticket_and_the_token_a_bearer_header():
    h = handoff()
    with receiving() as desk:
        send(h, settings(desk.url, handoff_format="zendesk", handoff_token="s3cret"))
    [got] = desk.received
    assert got.headers["authorization"] == "Bearer s3cret"
    ticket = got.body["ticket"]
    assert ticket["subject"] == "Can I pay by bitcoin?" and ticket["external_id"] == str(h.id)
    assert ticket["requester"] == {"email": "ana@example.com", "name": "ana@example.com"}
    assert "The assistant found no answer" in ticket["comment"]["body"]
    assert "[1] Billing" in ticket["comment"]["body"] and set(ticket["tags"]) == {"ragbot", "abstained"}


def test_a_contact_that_is_not_an_email_is_no_requester_but_stays_in_the_text():
    h = handoff(contact="+44 20 7946 0000", reason="asked")
    with receiving() as desk:
        send(h, settings(desk.url, handoff_format="zendesk"))
    ticket = desk.received[0].body["ticket"]
    assert "requester" not in ticket and "Contact: +44 20 7946 0000" in ticket["comment"]["body"]
    assert "no answer" not in transcript(h)


@pytest.mark.parametrize("status", [500, 429, 404])
def test_a_refusal_is_a_failure_naming_the_status(status: int):
    with receiving() as desk:
        desk.plan = [status]
        with pytest.raises(DeliveryFailed, match=f"answered {status}"):
            send(handoff(), settings(desk.url))


def test_a_redirect_is_not_followed():
    with receiving() as desk:
        desk.plan = [302]
        desk.redirect_to = desk.url + "/second"
        with pytest.raises(DeliveryFailed, match="answered 302"):
            send(handoff(), settings(desk.url))
    assert [r.path for r in desk.received] == ["/hooks/handoff"]


def test_an_unreachable_webhook_and_a_missing_url_are_named():
    with receiving() as desk:
        url = desk.url
    with pytest.raises(DeliveryFailed, match="ConnectError"):
        send(handoff(), settings(url, handoff_timeout_s=2))
    with pytest.raises(DeliveryFailed, match="RAGBOT_HANDOFF_URL is not set"):
        send(handoff(), Settings(_env_file=None))


def test_retries_wait_longer_each_time_up_to_an_hour():
    assert [retry_delay(n, 30) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert retry_delay(40, 30) == MAX_RETRY_S


def test_fields_are_checked_by_name():
    assert checked_text("contact", "  ana@example.com ", 300) == "ana@example.com"
    with pytest.raises(InvalidInput, match="question: must not be empty"):
        checked_text("question", "   ", 100, required=True)
    with pytest.raises(InputTooLong, match="contact: 301 characters"):
        checked_text("contact", "x" * 301, 300)
    with pytest.raises(InvalidInput, match="contact: must not contain NUL"):
        checked_text("contact", "a\x00b", 300)


def test_the_webhook_url_must_be_http():
    with pytest.raises(ValueError, match="handoff_url"):
        Settings(handoff_url="ftp://desk.example.com", _env_file=None)
