"""Votes feed training: voted answers are exported and trained (a few real QLoRA steps) into an adapter that
becomes the active `finetuned` generator — the admin UI's background path, on the real database and models."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from langchain_core.documents import Document

from chatbot.chain import Answer
from chatbot.jobs import Job
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.integration

NAME = "from-votes"


def wait(job: Job, seconds: float = 600) -> Job:
    deadline = time.monotonic() + seconds
    while job.active and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not job.active, f"job still {job.status} after {seconds} s: {job.message}"
    return job


def stored_answer(services, question: str, answer: str, source: str) -> str:
    """A message as the chat stores it, citing a real example document."""
    doc = Document(page_content=answer, metadata={"source": source, "title": source, "chunk_id": 1, "similarity": 0.8})
    reply = Answer(question=question, text=answer + " [1]", generator="base", sources=[(1, doc)], retrieved=[doc],
                   search_query=question, seconds=1.0, first_token_seconds=0.2)
    conversation = services.conversations.create(question)
    return services.conversations.add_message(conversation, reply, "examples")


@pytest.fixture
def votes(services, examples_ingested):
    """Four thumbs-up answers and one blind-vote winner over a thumbs-down answer; (rows, when voting began)."""
    since = datetime.now(UTC)
    rows = [json.loads(line) for line in (EXAMPLES / "qa.jsonl").read_text().splitlines() if line.strip()][:6]
    ids = [stored_answer(services, r["question"], r["answer"], r["source"]) for r in rows]
    for message in ids[:4]:
        services.conversations.record_feedback(message, 1)
    services.conversations.record_feedback(ids[5], -1)
    services.conversations.record_ab_vote(ids[4], ids[5], "a")
    return rows, since


def test_voted_answers_train_into_the_active_adapter(services, votes):
    from chatbot.adapter_registry import delete_adapter
    from training.background import submit_feedback_training
    from training.train import TrainConfig, runs_dir

    rows, since = votes
    config = TrainConfig(qa="", collection="examples", name=NAME, max_steps=2, batch_size=1, k=2, save_steps=10)
    job = wait(submit_feedback_training(services, config, since=since, activate=True))
    try:
        assert job.status == "done", job.error
        assert job.result["pairs"] == 5 and job.result["steps"] == 2 and job.result["adapter"] == NAME
        exported = [json.loads(line) for line in Path(job.result["qa_file"]).read_text().splitlines()]
        assert {p["question"] for p in exported} == {r["question"] for r in rows[:5]}
        assert all(p["conversation_id"] and p["split"] == "train" for p in exported)
        assert services.adapter_registry.active() == NAME
        assert services.generators.resolve("finetuned").name == NAME  # the active adapter answers `finetuned`
        assert (services.settings.adapters_dir / NAME / "adapter_model.safetensors").is_file()
    finally:
        delete_adapter(services.adapter_registry, services.settings.adapters_dir, runs_dir(services.settings), NAME)


def test_no_votes_fails_clearly_and_a_taken_name_is_refused(services, untrained_adapter):
    from training.background import submit_feedback_training, submit_training
    from training.train import TrainConfig, TrainingError

    future = datetime.now(UTC) + timedelta(days=1)
    job = wait(submit_feedback_training(services, TrainConfig(qa="", name="no-votes"), since=future))
    assert job.status == "failed" and "no answers have positive votes yet" in job.error
    assert not (services.settings.adapters_dir / "no-votes").exists()
    with pytest.raises(TrainingError, match="exists already"):
        submit_training(services, TrainConfig(qa=str(EXAMPLES / "qa.jsonl"), name=untrained_adapter))
