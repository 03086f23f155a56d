"""The background JobRunner: queued → running → done / failed, progress as reported, one job at a time."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from chatbot.jobs import JobRunner, Progress

WAIT = 10.0


@pytest.fixture
def runner() -> Iterator[JobRunner]:
    runner = JobRunner()
    yield runner
    runner.shutdown()


def wait_for(condition, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.01)


def test_a_job_reports_progress_then_its_result(runner):
    reported, release = threading.Event(), threading.Event()

    def work(progress: Progress) -> dict:
        progress(0.25, "a quarter")
        progress(7.0)  # clamped to [0, 1], message kept
        reported.set()
        release.wait(WAIT)
        return {"answer": 42}

    job = runner.submit("evaluation", "the answer", work)
    assert reported.wait(WAIT)
    assert job.status == "running" and job.active and runner.busy()
    assert (job.fraction, job.message) == (1.0, "a quarter")
    assert job.started_at is not None and job.finished_at is None and job.elapsed() >= 0
    release.set()
    wait_for(lambda: not job.active)
    assert job.status == "done" and job.result == {"answer": 42} and job.error is None
    assert (job.fraction, job.message) == (1.0, "finished")
    assert job.finished_at >= job.started_at and not runner.busy()
    assert runner.get(job.id) is job and runner.get(job.id + 100) is None


def test_a_failing_job_keeps_its_reason_and_the_runner_goes_on(runner):
    def broken(progress: Progress) -> dict:
        progress(0.5, "half way")
        raise ValueError("no QA pairs in split 'test'")

    failed = runner.submit("evaluation", "broken", broken)
    after = runner.submit("evaluation", "after", lambda progress: {"ok": True})
    wait_for(lambda: not after.active)
    assert failed.status == "failed" and failed.result is None
    assert failed.error == "ValueError: no QA pairs in split 'test'" and failed.message == "failed"
    assert failed.fraction == 0.5 and failed.finished_at is not None
    assert after.status == "done" and after.result == {"ok": True}


def test_jobs_run_one_at_a_time_in_order_and_wait_queued(runner):
    release = threading.Event()
    running_now, most, order = [0], [0], []
    lock = threading.Lock()

    def work(name: str):
        def run(progress: Progress) -> dict:
            with lock:
                running_now[0] += 1
                most[0] = max(most[0], running_now[0])
                order.append(name)
            release.wait(WAIT)
            time.sleep(0.02)
            with lock:
                running_now[0] -= 1
            return {"name": name}
        return run

    first = runner.submit("evaluation", "first", work("first"))
    second = runner.submit("training", "second", work("second"))
    third = runner.submit("evaluation", "third", work("third"))
    wait_for(lambda: first.status == "running")
    time.sleep(0.1)
    assert second.status == "queued" and third.status == "queued"
    assert second.message == "waiting for the job before it" and second.started_at is None
    assert second.elapsed() == 0.0
    release.set()
    wait_for(lambda: not third.active)
    assert [j.status for j in (first, second, third)] == ["done"] * 3
    assert most[0] == 1 and order == ["first", "second", "third"]
    assert first.finished_at <= second.started_at and second.finished_at <= third.started_at
    assert [j.id for j in runner.jobs()] == [third.id, second.id, first.id]  # newest first
    assert [j.title for j in runner.jobs("evaluation")] == ["third", "first"]


def test_one_job_of_each_kind_may_wait_behind_the_running_one(runner):
    from chatbot.jobs import JobQueueFull

    release = threading.Event()
    running = runner.submit("training", "running", lambda progress: {"done": release.wait(WAIT)})
    wait_for(lambda: running.status == "running")
    waiting = runner.submit("evaluation", "2×2 waiting", lambda progress: {})
    with pytest.raises(JobQueueFull, match=r"'2×2 waiting' \(job \d+\) is already waiting"):
        runner.submit("evaluation", "another 2×2", lambda progress: {})
    other_kind = runner.submit("training", "train waiting", lambda progress: {})  # each kind has its own place
    assert [j.title for j in runner.jobs()] == ["train waiting", "2×2 waiting", "running"]
    release.set()
    wait_for(lambda: not other_kind.active and not waiting.active)
    assert runner.submit("evaluation", "once the queue moved", lambda progress: {}).status in ("queued", "running")
