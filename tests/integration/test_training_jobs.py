"""Votes feed training only through review: voted answers are exported to a QA file, which the admin then trains
on (a few real QLoRA steps) into an adapter that is not made active — the admin UI's background path, on the
real database and models."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from langchain_core.documents import Document

from chatbot.chain import Answer
from chatbot.storage.conversations import client_key
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.integration

NAME = "from-votes"


def stored_answer(services, question: str, answer: str, source: str) -> str:
    """A message as the chat stores it, citing a real example document."""
    doc = Document(page_content=answer, metadata={"source": source, "title": source, "chunk_id": 1, "similarity": 0.8})
    reply = Answer(question=question, text=answer + " [1]", generator="base", sources=[(1, doc)], retrieved=[doc],
                   search_query=question, seconds=1.0, first_token_seconds=0.2)
    conversation = services.conversations.create(question)
    return services.conversations.add_message(conversation, reply, "examples")


@pytest.fixture
def votes(services, examples_ingested):
    """Four answers voted up and one blind-vote winner, each by two browsers, over an answer voted down;
    (rows, when voting began)."""
    since = datetime.now(UTC)
    rows = [json.loads(line) for line in (EXAMPLES / "qa.jsonl").read_text().splitlines() if line.strip()][:6]
    ids = [stored_answer(services, r["question"], r["answer"], r["source"]) for r in rows]
    browsers = [client_key("browser", name) for name in ("one", "two")]
    for client in browsers:
        for message in ids[:4]:
            services.conversations.record_feedback(message, 1, client)
        services.conversations.record_feedback(ids[5], -1, client)
        services.conversations.record_ab_vote(ids[4], ids[5], "a", client)
    return rows, since


def test_voted_answers_are_reviewed_then_trained_but_never_activated(services, votes, job_worker):
    from chatbot.storage.adapter_registry import delete_adapter
    from training.background import export_votes, submit_training
    from training.train import TrainConfig, runs_dir

    rows, since = votes
    # the file the admin reviews, then trains on explicitly
    exported = export_votes(services.pool, services.settings, since=since)
    lines = [json.loads(line) for line in exported.path.read_text().splitlines()]
    assert {p["question"] for p in lines} == {r["question"] for r in rows[:5]}
    assert all(p["conversation_id"] and p["split"] == "train" and p["votes"] == 2 for p in lines)
    active = services.adapter_registry.active()
    config = TrainConfig(qa=str(exported.path), collection="examples", name=NAME, max_steps=2, batch_size=1, k=2,
                         save_steps=10)
    job = services.jobs.wait(submit_training(services.jobs, services.settings, config, activate=True,
                                             queued_by="test").id, 600)
    try:
        assert job.status == "succeeded", job.error
        assert job.result["steps"] == 2 and job.result["adapter"] == NAME and job.result["active"] is False
        assert services.adapter_registry.active() == active  # trained from votes: never made active by itself
        assert (services.settings.adapters_dir / NAME / "adapter_model.safetensors").is_file()
    finally:
        delete_adapter(services.adapter_registry, services.settings.adapters_dir, runs_dir(services.settings), NAME)


def test_no_votes_fails_clearly_and_a_taken_name_is_refused(services, untrained_adapter):
    from chatbot.qa_files import list_qa_files
    from training.background import export_votes, submit_training
    from training.train import TrainConfig, TrainingError

    files = list_qa_files(services.settings)
    with pytest.raises(TrainingError, match="no answer has positive votes from 2 or more clients"):
        export_votes(services.pool, services.settings, since=datetime.now(UTC) + timedelta(days=1))
    assert list_qa_files(services.settings) == files
    with pytest.raises(TrainingError, match="exists already"):
        submit_training(services.jobs, services.settings, TrainConfig(qa=str(EXAMPLES / "qa.jsonl"),
                                                                      name=untrained_adapter), queued_by="test")


def test_a_second_training_of_a_name_is_refused_by_the_database_and_a_cancel_stops_the_first(services):
    from chatbot.queue.records import JobRefused
    from training.background import submit_training
    from training.train import TrainConfig

    config = TrainConfig(qa=str(EXAMPLES / "qa.jsonl"), collection="examples", name="twice", max_steps=2)
    first = submit_training(services.jobs, services.settings, config, queued_by="replica A")
    try:
        with pytest.raises(JobRefused, match=rf"'train adapter 'twice'' \(job {first.id}, \w+, queued by replica A\)"):
            submit_training(services.jobs, services.settings, config, queued_by="replica B")
    finally:
        services.jobs.cancel(first.id)
    ended = services.jobs.wait(first.id, 120)
    assert ended.status == "cancelled" and not (services.settings.adapters_dir / "twice").exists()
