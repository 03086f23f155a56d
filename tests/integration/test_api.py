"""The API over HTTP with the official `openai` client, the admin REST, and the `openai` generator backend."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator

import httpx
import pytest
from openai import OpenAI
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import EXAMPLE_DOCS
from tests.integration.private_db import serving

pytestmark = pytest.mark.integration

ADMIN = ("admin", "s3cret-test-password")


@pytest.fixture(scope="module")
def base_url(services, settings, examples_ingested) -> Iterator[str]:
    from chatbot.credentials import AdminCredentials
    from chatbot.server import create_server

    with serving(create_server(services, AdminCredentials(*ADMIN, generated=False), with_ui=False)) as url:
        yield url


def client(base_url: str) -> OpenAI:
    return OpenAI(base_url=f"{base_url}/v1", api_key="unused", max_retries=0)


def test_healthz_and_models(base_url, settings):
    from chatbot.adapters import list_adapters

    health = httpx.get(f"{base_url}/healthz").json()
    assert health["status"] == "ok" and health["database"] == "ok"
    assert health["precision"]["name"] in ("float32", "bfloat16") and health["precision"]["reason"]
    ids = [m.id for m in client(base_url).models.list()]
    assert ids[:2] == ["base", "extractive"]
    assert ("finetuned" in ids) == bool(list_adapters(settings.adapters_dir))


def test_models_offer_finetuned_only_once_it_can_answer(settings, tmp_path):
    from chatbot.generators import Generators

    assert Generators(settings.model_copy(update={"home": tmp_path})).names() == ["base", "extractive"]
    remote = settings.model_copy(update={"openai_base_url": "http://127.0.0.1:9/v1", "openai_model_base": "m"})
    assert Generators(remote).names() == ["base", "extractive"]
    tuned = remote.model_copy(update={"openai_model_finetuned": "m-tuned"})
    assert Generators(tuned).names() == ["base", "extractive", "finetuned"]


def test_extractive_model_quotes_the_right_source_with_valid_citations(base_url):
    from chatbot.prompts import citations_valid

    reply = client(base_url).chat.completions.create(
        model="extractive", extra_body={"collection": "examples"},
        messages=[{"role": "user", "content": "How do I factory reset the hub?"}])
    text, sources = reply.choices[0].message.content, reply.model_extra["sources"]
    assert "hold the reset button for 15 seconds" in text.lower()
    assert citations_valid(text, 5) and sources
    assert {s["title"] for s in sources} == {"RESTARTING, RESETTING AND RECOVERING YOUR LUMIO HOME HUB"}


def test_chat_completion_non_streaming_has_answer_and_sources(base_url):
    reply = client(base_url).chat.completions.create(
        model="base", messages=[{"role": "user", "content": "What does a blinking amber light on the hub mean?"}],
        extra_body={"collection": "examples"})
    assert reply.choices[0].message.content.strip()
    extra = reply.model_extra
    assert extra["message_id"] and extra["conversation_id"]
    assert isinstance(extra["sources"], list)


def test_chat_completion_streaming(base_url):
    stream = client(base_url).chat.completions.create(
        model="base", stream=True, extra_body={"collection": "examples"},
        messages=[{"role": "user", "content": "How do I factory reset the hub?"}])
    pieces, final = [], None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if chunk.choices and chunk.choices[0].finish_reason == "stop":
            final = chunk
    assert len(pieces) > 1 and "".join(pieces).strip()
    assert final is not None and final.model_extra["message_id"]


def test_unknown_model_is_404_and_bad_request_is_422(base_url):
    response = httpx.post(f"{base_url}/v1/chat/completions",
                          json={"model": "nope", "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 404 and "unknown generator" in response.json()["error"]["message"]
    response = httpx.post(f"{base_url}/v1/chat/completions", json={"model": "base", "messages": []})
    assert response.status_code == 422


def test_unknown_adapter_is_404_and_stores_nothing(base_url, services):
    with services.pool.connection() as conn:
        before = conn.execute("SELECT count(*) FROM conversations").fetchone()[0]
    response = httpx.post(f"{base_url}/v1/chat/completions",
                          json={"model": "finetuned:no-such-adapter", "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 404 and "no-such-adapter" in response.json()["error"]["message"]
    with services.pool.connection() as conn:
        assert conn.execute("SELECT count(*) FROM conversations").fetchone()[0] == before


def test_finetuned_without_any_adapter_says_how_to_train(settings, tmp_path):
    from chatbot.generators import Generators, GeneratorUnavailable

    empty = settings.model_copy(update={"home": tmp_path})
    with pytest.raises(GeneratorUnavailable, match="ragbot train"):
        Generators(empty).chat_model("finetuned")


def test_feedback_is_stored(base_url, services):
    reply = httpx.post(f"{base_url}/v1/chat/completions", timeout=120, json={
        "model": "base", "collection": "examples",
        "messages": [{"role": "user", "content": "Which port does the local API use?"}]}).json()
    ok = httpx.post(f"{base_url}/api/feedback", json={"message_id": reply["message_id"], "vote": "up"})
    assert ok.status_code == 200
    import uuid

    assert services.conversations.message(uuid.UUID(reply["message_id"]))["vote"] == 1
    missing = httpx.post(f"{base_url}/api/feedback", json={"message_id": str(uuid.uuid4()), "vote": "down"})
    assert missing.status_code == 404


def test_admin_endpoints_need_credentials(base_url, collection):
    assert httpx.get(f"{base_url}/api/documents").status_code == 401
    assert httpx.get(f"{base_url}/api/documents", auth=("admin", "wrong")).status_code == 401
    assert httpx.get(f"{base_url}/api/documents", auth=ADMIN).status_code == 200
    good = next(EXAMPLE_DOCS.glob("*.md"))
    files = [("files", (good.name, good.read_bytes(), "text/markdown")),
             ("files", ("../../etc/evil.pdf", io.BytesIO(b"%PDF-1.4 broken").read(), "application/pdf")),
             ("files", ("notes.exe", b"MZ", "application/octet-stream"))]
    assert httpx.post(f"{base_url}/api/documents", files=files, data={"collection": collection}).status_code == 401
    response = httpx.post(f"{base_url}/api/documents", files=files, data={"collection": collection}, auth=ADMIN,
                          timeout=120)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["files_ok"] == 1 and report["documents_added"] == 1
    failed = {f["path"]: f["error"] for f in report["files_failed"]}
    assert set(failed) == {".._.._etc_evil.pdf", "notes.exe"} or set(failed) == {"evil.pdf", "notes.exe"}
    listed = httpx.get(f"{base_url}/api/documents", params={"collection": collection}, auth=ADMIN).json()
    assert [d["source"] for d in listed] == [f"upload:{good.name}"]
    assert httpx.delete(f"{base_url}/api/documents/{listed[0]['id']}").status_code == 401
    assert httpx.delete(f"{base_url}/api/documents/{listed[0]['id']}", auth=ADMIN).status_code == 200
    assert httpx.delete(f"{base_url}/api/documents/{listed[0]['id']}", auth=ADMIN).status_code == 404


def test_openai_generator_backend_against_a_second_ragbot(base_url, settings, examples_ingested):
    """A ragbot whose generator is another ragbot's OpenAI-compatible API."""
    from chatbot.services import Services

    remote = Services(settings.model_copy(update={"openai_base_url": f"{base_url}/v1",
                                                   "openai_model_base": "base"}))
    try:
        answer = remote.chain.invoke("How do I factory reset the hub?", generator="base", collection="examples")
    finally:
        remote.close()
    assert answer.text.strip() and not answer.not_covered
    assert answer.retrieved


def test_metrics_move_after_a_chat(base_url):
    def scrape() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        families = text_string_to_metric_families(httpx.get(f"{base_url}/metrics").text)
        return {(s.name, frozenset(s.labels.items())): s.value for family in families for s in family.samples}

    before = scrape()
    started = time.perf_counter()
    scrape()
    assert time.perf_counter() - started < 0.5
    reply = httpx.post(f"{base_url}/v1/chat/completions", timeout=120, json={
        "model": "base", "collection": "examples",
        "messages": [{"role": "user", "content": "How do I factory reset the hub?"}]}).json()
    httpx.post(f"{base_url}/api/feedback", json={"message_id": reply["message_id"], "vote": "down"})
    httpx.post(f"{base_url}/v1/chat/completions", json={"model": "base", "collection": "examples", "messages": [
        {"role": "user", "content": "Who won the 1966 football world cup final?"}]}, timeout=120)
    after = scrape()

    def delta(name: str, **labels: str) -> float:
        key = (name, frozenset(labels.items()))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("ragbot_answers_total", generator="base") == 2
    assert delta("ragbot_not_covered_total") == 1
    assert delta("ragbot_feedback_votes_total", generator="base", vote="down") == 1
    assert delta("ragbot_time_to_first_token_seconds_count", generator="base") == 1
    assert delta("ragbot_generated_tokens_total", generator="base") > 0
    assert delta("ragbot_http_requests_total", method="POST", route="/v1/chat/completions", status="200") == 2
    assert delta("ragbot_retrieval_duration_seconds_count") == 2


def test_votes_export_as_training_pairs(base_url, services, tmp_path):
    from chatbot.storage.feedback_export import export_feedback

    def ask(question: str) -> dict:
        return httpx.post(f"{base_url}/v1/chat/completions", timeout=120, json={
            "model": "base", "collection": "examples", "messages": [{"role": "user", "content": question}]}).json()

    liked, disliked = ask("How do I cancel my subscription?"), ask("Where is the reset button on the hub?")
    httpx.post(f"{base_url}/api/feedback", json={"message_id": liked["message_id"], "vote": "up"})
    httpx.post(f"{base_url}/api/feedback", json={"message_id": disliked["message_id"], "vote": "down"})
    import uuid

    services.conversations.record_ab_vote(uuid.UUID(disliked["message_id"]), uuid.UUID(liked["message_id"]), "b")
    out = tmp_path / "feedback.jsonl"
    assert export_feedback(services.pool, out) >= 1
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    mine = [r for r in rows if r["conversation_id"] == liked["conversation_id"]]
    assert len(mine) == 1 and mine[0]["votes"] == 2  # one thumbs up + one blind win, de-duplicated
    assert mine[0]["question"] == "How do I cancel my subscription?" and mine[0]["split"] == "train"
    assert not any(r["conversation_id"] == disliked["conversation_id"] for r in rows)
    handoffs = sum(1 for r in rows if r["origin"] == "handoff")  # approved answers to handoffs need no votes
    assert export_feedback(services.pool, out, min_votes=2) == sum(1 for r in rows if r["votes"] >= 2) + handoffs
