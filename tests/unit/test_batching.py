"""The continuous batcher against a fake model whose next token depends on each row's whole history, so a row
mixed up with another, misaligned padding or a wrong position changes the answer."""

from __future__ import annotations

import threading
import time

import pytest
import torch
from transformers.cache_utils import Cache

from chatbot import batching
from chatbot.batching import ContinuousBatcher, banned_next_tokens
from tests.concurrently import all_at_once

VOCAB = 97
EOS = 0


def fake_forward(ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, cache: Cache,
                 adapters: list[str | None]) -> torch.Tensor:
    """Stores token+1 as the 'keys' (0 = padding) and checks the batcher's bookkeeping on every call."""
    if (ids == 13).any():
        raise ValueError("token 13 is unlucky")
    stored = (ids + 1).float()[:, None, :, None]
    keys, _ = cache.update(stored, stored, 0)
    history = keys[:, 0, :, 0]
    assert history.shape == mask.shape
    assert torch.equal(history != 0, mask.bool()), "padding must sit exactly where the mask is 0"
    assert torch.equal(positions[:, -1], mask.sum(dim=1) - 1), "position = index among the row's real tokens"
    real = history - 1
    score = (real * mask * torch.arange(1, mask.shape[1] + 1).flip(0)).sum(dim=1).long()
    score += torch.tensor([5 if a == "tuned" else 0 for a in adapters])
    logits = torch.zeros(len(ids), VOCAB)
    logits[torch.arange(len(ids)), torch.where(score % 11 == 0, EOS, 1 + score % (VOCAB - 1))] = 1.0
    return logits


def make_batcher(max_batch: int = 3) -> ContinuousBatcher:
    return ContinuousBatcher(fake_forward, lambda ids: " ".join(map(str, ids)), eos={EOS}, max_batch=max_batch)


PROMPTS = [([3, 1, 4, 1, 5], None, 12), ([9, 2, 6], "tuned", 20), ([5, 3, 5, 8, 9, 7, 9, 3, 2], None, 7),
           ([2, 7], "tuned", 16), ([1, 8, 2, 8, 1, 8, 2, 8, 4, 5, 9], None, 25), ([6], None, 9)]


def test_concurrent_answers_equal_answers_generated_alone() -> None:
    alone = ["".join(make_batcher().stream(*p)) for p in PROMPTS]
    assert len(set(alone)) == len(alone) and all(alone)
    batcher = make_batcher(max_batch=3)
    together = all_at_once([lambda p=p: "".join(batcher.stream(*p)) for p in PROMPTS], timeout=30)
    assert together == alone


def test_an_abandoned_answer_leaves_the_batch_and_the_others_finish() -> None:
    batcher = make_batcher()
    expected = "".join(make_batcher().stream(*PROMPTS[4]))
    quitter = batcher.stream([1, 2, 3], None, 500)
    next(quitter)
    result: list[str] = []
    worker = threading.Thread(target=lambda: result.append("".join(batcher.stream(*PROMPTS[4]))))
    worker.start()
    quitter.close()
    worker.join(timeout=30)
    assert result == [expected]
    deadline = time.monotonic() + 5  # the scheduler drops finished rows right after handing out their last piece
    while batcher.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert batcher.running == 0


def test_a_failing_prompt_fails_alone() -> None:
    batcher = make_batcher()
    with pytest.raises(ValueError, match="unlucky"):
        "".join(batcher.stream([4, 13], None, 5))
    assert "".join(batcher.stream(*PROMPTS[0])) == "".join(make_batcher().stream(*PROMPTS[0]))


def test_banned_next_tokens_forbids_repeating_an_ngram_of_the_answer() -> None:
    assert banned_next_tokens([1, 2, 3, 1, 2], n=3) == {3}
    assert banned_next_tokens([1, 2, 3, 4], n=3) == set()
    assert banned_next_tokens([7, 7], n=3) == set()


def test_the_scheduler_thread_ends_when_idle_and_restarts_on_demand(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batching, "IDLE_EXIT_S", 0.05)
    batcher = make_batcher()
    first = "".join(batcher.stream(*PROMPTS[0]))
    deadline = time.monotonic() + 5
    while batcher._thread is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert batcher._thread is None, "an idle scheduler must let its model be freed"
    assert "".join(batcher.stream(*PROMPTS[0])) == first


def slow_forward(started: threading.Event) -> batching.Forward:
    """`fake_forward` that takes 0.2 s a pass, like a real model step; `started` is set on its first call."""
    def forward(*args) -> torch.Tensor:
        started.set()
        time.sleep(0.2)
        return fake_forward(*args)
    return forward


def test_close_waits_for_the_pass_in_flight_and_ends_every_unfinished_answer() -> None:
    started = threading.Event()
    batcher = ContinuousBatcher(slow_forward(started), lambda ids: " ".join(map(str, ids)), eos={EOS}, max_batch=1)
    outcomes: list[BaseException | str] = []

    def answer(prompt: list[int]) -> None:
        try:
            outcomes.append("".join(batcher.stream(prompt, None, 500)))
        except batching.BatcherClosed as exc:
            outcomes.append(exc)

    readers = [threading.Thread(target=answer, args=([1, 2, 3],)), threading.Thread(target=answer, args=([4],))]
    for reader in readers:
        reader.start()
    assert started.wait(5)
    thread = batcher._thread
    batcher.close()
    assert thread is not None and not thread.is_alive(), "close returns once the scheduler has stopped"
    for reader in readers:
        reader.join(timeout=5)
    assert len(outcomes) == 2 and all(isinstance(o, batching.BatcherClosed) for o in outcomes), \
        "the running answer and the queued one both hear that the model closed"
    with pytest.raises(batching.BatcherClosed):
        next(batcher.stream([5], None, 3))
    batcher.close()  # idempotent


def test_close_stops_an_idle_scheduler_at_once() -> None:
    batcher = make_batcher()
    "".join(batcher.stream(*PROMPTS[0]))
    thread = batcher._thread
    assert thread is not None and thread.is_alive()
    started = time.monotonic()
    batcher.close()
    assert not thread.is_alive() and time.monotonic() - started < batching.IDLE_EXIT_S / 2
