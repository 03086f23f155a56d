"""A job's progress reports: n of N becomes the fraction, writes are spaced out, and a cancel (requested in the
database or by the worker) stops the job at its next report."""

from __future__ import annotations

import pytest

from chatbot.queue.progress import JobCancelled, Progress
from chatbot.queue.tasks import QUEUES, get_task, load_tasks


class Rows:
    """Records the writes `Progress` makes (the `JobRecords.progress` call) and answers a cancel flag."""

    def __init__(self) -> None:
        self.writes: list[tuple] = []
        self.cancel = False

    def progress(self, job_id: int, fraction: float, message: str, done: int, total: int) -> bool:
        self.writes.append((job_id, fraction, message, done, total))
        return self.cancel


def test_n_of_total_becomes_the_fraction_and_writes_are_spaced_out():
    rows = Rows()
    progress = Progress(rows, 7, interval=3600)
    progress(message="step 1/4", done=1, total=4)
    progress(message="step 2/4", done=2, total=4)  # within the interval: kept, not written
    progress(1.0, "done")  # the end is always written
    assert rows.writes == [(7, 0.25, "step 1/4", 1, 4), (7, 1.0, "done", 2, 4)]
    progress(5.0)
    assert progress.fraction == 1.0


def test_a_cancel_stops_the_job_at_its_next_report():
    rows = Rows()
    progress = Progress(rows, 1, interval=0)
    progress(0.1, "working")
    rows.cancel = True
    with pytest.raises(JobCancelled, match="job 1 was cancelled"):
        progress(0.2, "still working")
    aborted = Progress(Rows(), 2, should_abort=lambda: True, interval=3600)
    with pytest.raises(JobCancelled):
        aborted(0.5)


def test_every_long_task_is_registered_on_a_known_queue():
    tasks = load_tasks()
    assert {"probe", "ingest_uploads", "web_sync", "reembed", "calibration", "training", "embedder",
            "evaluation"} <= set(tasks)
    assert {spec.queue for spec in tasks.values()} <= set(QUEUES)
    assert tasks["training"].queue == "training"
    with pytest.raises(ValueError, match="no task named 'nope'; known: "):
        get_task("nope")
