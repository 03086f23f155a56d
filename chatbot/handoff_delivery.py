"""One delivery of a handoff to the support desk's webhook (`RAGBOT_HANDOFF_URL`): the JSON body in the
configured format, a bearer token, an `Idempotency-Key` (the handoff's id: a receiver that saw it already can
ignore a repeat), a timeout, and no redirects followed. The URL is the operator's, so no SSRF guard applies."""

from __future__ import annotations

from typing import Any

import httpx

from chatbot.settings import HandoffSettings
from chatbot.storage.handoffs import DeliveryFailed, Handoff

MAX_RETRY_S = 3600.0


def ragbot_body(handoff: Handoff) -> dict[str, Any]:
    """The handoff as ragbot stores it, less the agent's fields."""
    keys = ("id", "question", "collection", "reason", "contact", "conversation", "sources", "conversation_id",
            "created_at")
    body = handoff.to_json()
    return {key: body[key] for key in keys}


def transcript(handoff: Handoff) -> str:
    """The ticket's text: the question, the conversation, the sources shown, the contact."""
    lines = [f"Question: {handoff.question}", ""]
    if handoff.reason == "abstained":
        lines += ["The assistant found no answer in the documents.", ""]
    for turn in handoff.conversation:
        lines += [f"User: {turn.get('question', '')}", f"Assistant: {turn.get('answer', '')}", ""]
    if handoff.sources:
        lines.append("Sources shown:")
        lines += [f"[{s.get('n')}] {s.get('title') or s.get('source')}" for s in handoff.sources]
        lines.append("")
    if handoff.contact:
        lines.append(f"Contact: {handoff.contact}")
    return "\n".join(lines).strip()


def zendesk_body(handoff: Handoff) -> dict[str, Any]:
    """A Zendesk ticket (`POST /api/v2/tickets.json`); the requester only when the contact is an e-mail."""
    ticket: dict[str, Any] = {
        "subject": handoff.question[:120], "comment": {"body": transcript(handoff)},
        "external_id": str(handoff.id), "tags": ["ragbot", handoff.reason], "priority": "normal",
    }
    if "@" in handoff.contact and " " not in handoff.contact.strip():
        ticket["requester"] = {"email": handoff.contact.strip(), "name": handoff.contact.strip()}
    return {"ticket": ticket}


def body(handoff: Handoff, fmt: str) -> dict[str, Any]:
    return zendesk_body(handoff) if fmt == "zendesk" else ragbot_body(handoff)


def headers(handoff: Handoff, settings: HandoffSettings) -> dict[str, str]:
    sent = {"Idempotency-Key": str(handoff.id), "User-Agent": "ragbot-handoff"}
    if settings.handoff_token is not None:
        sent["Authorization"] = f"Bearer {settings.handoff_token.get_secret_value()}"
    return sent


def send(handoff: Handoff, settings: HandoffSettings) -> None:
    """POST the handoff; `DeliveryFailed` naming the reason unless the desk answered 2xx."""
    if not settings.handoff_url:
        raise DeliveryFailed("RAGBOT_HANDOFF_URL is not set")
    try:
        response = httpx.post(settings.handoff_url, json=body(handoff, settings.handoff_format),
                              headers=headers(handoff, settings), timeout=settings.handoff_timeout_s,
                              follow_redirects=False)
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from exc
    if not response.is_success:
        raise DeliveryFailed(f"the webhook answered {response.status_code}: {response.text[:300]}")


def retry_delay(attempts: int, first_s: float) -> float:
    """Seconds before the next attempt after `attempts` failed ones: `first_s`, doubling, at most an hour."""
    return min(MAX_RETRY_S, first_s * 2 ** max(0, attempts - 1))
