"""Issue 16, findings 2 and 7 and the conversation owner: input limits at every entry point, the prompt capped
to the context window, votes one per message per client and reviewed before training, conversations bound to
their token — over HTTP against the real app, and through the UI's handlers, on the real database and models."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.private_db import serving

pytestmark = pytest.mark.integration

ADMIN = ("admin", "s3cret-test-password")
QUESTION = "How do I factory reset the hub?"


@pytest.fixture(scope="module")
def base_url(services, examples_ingested) -> Iterator[str]:
    from chatbot.credentials import AdminCredentials
    from chatbot.server import create_server

    with serving(create_server(services, AdminCredentials(*ADMIN, generated=False), with_ui=False)) as url:
        yield url


def chat(base_url: str, messages: list[dict[str, str]], **extra) -> httpx.Response:
    return httpx.post(f"{base_url}/v1/chat/completions", timeout=120,
                      json={"model": "extractive", "collection": "examples", "messages": messages, **extra})


def counts(services) -> tuple[int, int]:
    with services.pool.connection() as conn:
        return conn.execute("SELECT (SELECT count(*) FROM conversations), (SELECT count(*) FROM messages)").fetchone()


def turns(n: int, chars: int = 10) -> list[dict[str, str]]:
    return [m for i in range(n) for m in ({"role": "user", "content": f"q{i} " + "x" * chars},
                                          {"role": "assistant", "content": f"a{i}"})]


# --- finding 2: one limit for every entry point ---------------------------------------------------------------------


@pytest.mark.parametrize("messages,param,says", [
    ([{"role": "user", "content": "x" * 4001}], "messages[-1].content", "question: 4,001 characters"),
    ([*turns(1, chars=16_001), {"role": "user", "content": QUESTION}], "messages", "history: 16,00"),
    ([*turns(21), {"role": "user", "content": QUESTION}], "messages", "history: 21 earlier turns"),
])
def test_api_refuses_over_long_input_naming_the_field_and_stores_nothing(base_url, services, messages, param, says):
    before = counts(services)
    for stream in (False, True):
        response = chat(base_url, messages, stream=stream)
        assert response.status_code == 422, response.text[:300]
        error = response.json()["error"]
        assert error["param"] == param and says in error["message"], error
    assert counts(services) == before


def ui_handler(services, name: str):
    """A handler of the public Gradio app, as its events call it."""
    from chatbot.ui import build_public_app

    app = build_public_app(services)
    return next(f.fn for f in app.fns.values() if getattr(f.fn, "__name__", "") == name)


def test_chat_tab_refuses_an_oversized_question_with_a_visible_message(services, examples_ingested):
    respond = ui_handler(services, "respond")
    before = counts(services)
    frames = list(respond("x" * 5000, [], "extractive", {}, "examples", {}))
    shown, _, box, _, conversation, ids, status, _ = frames[-1]
    assert "Not answered: the question is 5,000 characters; at most 4,000 are accepted" in status
    assert shown == [] and box == ""  # refused before anything is kept (issue 29, item 1)
    assert conversation == {} and ids == {} and counts(services) == before


def test_compare_tab_refuses_an_oversized_question_with_a_visible_message(services, examples_ingested):
    compare = ui_handler(services, "compare")
    before = counts(services)
    frames = list(compare("y" * 4001, "extractive", "extractive", False))
    *_, status, record, box = frames[-1]
    assert "question is 4,001 characters" in status
    assert record == {} and box == ""  # refused before anything is kept (issue 29, item 1)
    assert counts(services) == before


def test_cli_ask_refuses_an_oversized_question(settings, examples_ingested):
    from tests.integration.private_db import run_cli

    result = run_cli(["ask", "z" * 4001, "--generator", "extractive", "--collection", "examples"], settings)
    assert result.returncode == 1 and "question: 4,001 characters" in result.stderr, result.stderr[-500:]


# --- finding 2: the prompt never exceeds context_window - max_new_tokens ---------------------------------------------


def test_local_generator_cuts_an_over_long_prompt_to_the_cap_keeping_the_question(services):
    local = services.generators.backend.local()
    question = "Which colour is the status light?"
    messages = [{"role": "system", "content": "Be brief."},
                *[{"role": r, "content": "filler " * 3000} for r in ("user", "assistant")],
                {"role": "user", "content": question}]
    ids = local.prompt_ids(messages)
    window = services.generators.context_window()
    cap = window - services.settings.max_new_tokens
    assert len(local.tokenizer.apply_chat_template(messages, return_dict=True)["input_ids"]) > cap
    assert len(ids) == cap
    assert local.tokenizer.decode(ids).rstrip().endswith(f"{question}<|im_end|>\n<|im_start|>assistant")
    assert len(local.prompt_ids(messages, max_new_tokens=1000)) == window - 1000


def small_window_chain(settings, services):
    from chatbot.chain import RagChain
    from chatbot.generators import Generators

    small = settings.model_copy(update={"context_window": 256, "max_new_tokens": 32})
    return RagChain(small, Generators(small), lambda _collection: None)


def test_chain_fits_sources_under_the_cap_and_refuses_a_question_that_cannot_fit(settings, services):
    from langchain_core.documents import Document

    from chatbot.limits import InputTooLong

    chain = small_window_chain(settings, services)
    cap = chain.prompt_cap()
    docs = [Document(page_content=f"Paragraph {i}: " + "the hub restarts when held " * 12,
                     metadata={"title": "A long title " * 6, "chunk_id": i}) for i in range(8)]
    messages, fitted = chain.build_messages(QUESTION, docs)
    assert 0 < len(fitted) < len(docs) and chain.generators.prompt_tokens(messages) <= cap
    assert messages[-1].content.endswith(QUESTION)
    long_question = "Why does the hub blink amber after every firmware update? " * 20  # ~1,200 characters
    assert len(long_question) < settings.max_question_chars
    with pytest.raises(InputTooLong, match=r"question: .* tokens with the instructions; at most 224") as refused:
        chain.build_messages(long_question, docs)
    assert refused.value.field == "question"


# --- finding 7: votes — one per message per client, a minimum count, review, no auto-activation ---------------------


def test_votes_count_once_per_client_and_need_the_minimum_of_distinct_clients(base_url, services):
    from chatbot.storage.conversations import client_key
    from chatbot.storage.feedback_export import voted_pairs

    question = f"How do I factory reset the hub? ({uuid.uuid4().hex[:8]})"
    replies = [chat(base_url, [{"role": "user", "content": question}]).json() for _ in range(3)]
    for reply in replies:  # one client asks three times and votes up each time, flipping once on the way
        for vote in ("up", "down", "up", "up"):
            assert httpx.post(f"{base_url}/api/feedback",
                              json={"message_id": reply["message_id"], "vote": vote}).status_code == 200
    stored = services.conversations.message(uuid.UUID(replies[0]["message_id"]))
    assert (stored["votes_up"], stored["votes_down"]) == (1, 0)

    def mine(min_votes: int) -> list[dict]:
        return [p for p in voted_pairs(services.pool, min_votes=min_votes) if p["question"] == question]

    assert [p["votes"] for p in mine(1)] == [1] and mine(2) == []  # three messages, one client: one vote
    other = client_key("browser", "another-browser")
    assert services.chat.feedback(uuid.UUID(replies[1]["message_id"]), 1, client=other)
    assert [p["votes"] for p in mine(2)] == [2]
    assert services.chat.feedback(uuid.UUID(replies[1]["message_id"]), -1, client=other)  # replaces its up vote
    assert mine(1) == []  # one client for, one against: not exported


def test_votes_are_exported_to_a_qa_file_for_review(base_url, services):
    import json

    from chatbot.qa_files import list_qa_files
    from chatbot.storage.conversations import client_key
    from training.background import export_votes, from_votes
    from training.train import TrainingError

    question = f"Where is the reset button on the hub? ({uuid.uuid4().hex[:8]})"
    reply = chat(base_url, [{"role": "user", "content": question}]).json()
    for name in ("one", "two"):
        assert services.chat.feedback(uuid.UUID(reply["message_id"]), 1, client=client_key("browser", name))
    assert services.settings.min_votes == 2
    exported = export_votes(services.pool, services.settings)
    assert from_votes(exported.path) and exported.path in list_qa_files(services.settings)
    rows = [json.loads(line) for line in exported.path.read_text().splitlines()]
    assert rows == exported.pairs and any(r["question"] == question and r["votes"] == 2 for r in rows)
    with pytest.raises(TrainingError, match="from 50 or more clients"):
        export_votes(services.pool, services.settings, min_votes=50)


# --- Low: a conversation belongs to whoever holds its token ---------------------------------------------------------


def test_a_conversation_continues_only_with_its_token(base_url, services):
    first = chat(base_url, [{"role": "user", "content": QUESTION}])
    assert first.status_code == 200
    conversation, token = first.json()["conversation_id"], first.json()["conversation_token"]
    assert token and len(token) >= 24
    with services.pool.connection() as conn:
        stored = conn.execute("SELECT token_sha256 FROM conversations WHERE id = %s", (conversation,)).fetchone()[0]
    assert bytes(stored) == hashlib.sha256(token.encode()).digest()  # only its hash is kept
    before = counts(services)
    follow_up = [{"role": "user", "content": "And the Wi-Fi settings?"}]
    for extra in ({}, {"conversation_token": "guessed"}, {"conversation_token": token + "x"}):
        for stream in (False, True):
            response = chat(base_url, follow_up, conversation_id=conversation, stream=stream, **extra)
            assert response.status_code == 404, response.text[:300]
            assert response.json()["error"]["param"] == "conversation_token"
    assert counts(services) == before
    unknown = chat(base_url, follow_up, conversation_id=str(uuid.uuid4()), conversation_token=token)
    assert unknown.status_code == 404
    owned = chat(base_url, follow_up, conversation_id=conversation, conversation_token=token)
    assert owned.status_code == 200 and owned.json()["conversation_id"] == conversation
    assert services.conversations.history(uuid.UUID(conversation))[-1][0] == "And the Wi-Fi settings?"
