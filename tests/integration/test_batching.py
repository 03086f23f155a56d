"""Continuous batching on the real bundled model: answers generated together, base and adapter rows in one batch,
are the answers each gets alone (float32, so padding cannot change a greedy choice)."""

from __future__ import annotations

import os
import subprocess
import sys

from chatbot.local_model import LocalModel
from chatbot.models import base_model_location
from tests.concurrently import all_at_once

QUESTIONS = ["How do I reset my password?", "What is the refund policy for annual plans?",
             "Explain in two sentences what a vector database is.", "Which payment methods are accepted?"]


def test_concurrent_answers_with_mixed_adapters_equal_answers_alone(settings, untrained_adapter) -> None:
    fp32 = settings.model_copy(update={"dtype": "float32", "max_batch": 3})
    local = LocalModel(base_model_location(fp32), fp32)
    local.load_adapter(untrained_adapter, fp32.adapters_dir / untrained_adapter)
    jobs = [([{"role": "user", "content": q}], adapter) for q in QUESTIONS for adapter in (None, untrained_adapter)]
    alone = ["".join(local.stream(messages, adapter=adapter, max_new_tokens=24)) for messages, adapter in jobs]
    assert alone[0] != alone[1], "the adapter must change the answer, or mixing rows would go unnoticed"

    together = all_at_once([lambda m=m, a=a: "".join(local.stream(m, adapter=a, max_new_tokens=24))
                            for m, a in jobs], timeout=300)
    assert together == alone


EXITS_MID_ANSWER = """
from chatbot.local_model import LocalModel
from chatbot.models import base_model_location
from chatbot.settings import Settings

settings = Settings()
answer = LocalModel(base_model_location(settings), settings).stream(
    [{"role": "user", "content": "Write a long story about a hub."}], max_new_tokens=200)
next(answer)
answer.close()
print("exiting")
"""


def test_a_process_that_stops_reading_an_answer_exits_cleanly(settings) -> None:
    """A reader that closes an answer early and exits at once, as `ragbot ask` does after the answer guard stops
    a loop, used to abort ("terminate called without an active exception") with the scheduler inside torch."""
    env = {**os.environ, "RAGBOT_HOME": str(settings.home), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", EXITS_MID_ANSWER], env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "exiting"
