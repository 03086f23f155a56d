"""The durable job queue on a real Postgres with real `ragbot worker` processes: a job runs with progress and a
result, a failure is recorded, a queued job cancelled never starts, a running one stops, a second holder of a key
is refused by name, and a job whose worker is SIGKILLed is run again by another worker — never left running."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Iterator

import pytest

from tests.integration.private_db import private_services, private_settings, run_cli, worker_process
from tests.integration.test_web_ingest import site  # noqa: F401 — the local help center fixture

pytestmark = pytest.mark.integration

STALLED_S = 3.0
QUEUED_BY = "test"


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory, ragbot_home) -> Iterator:
    settings = private_settings(tmp_path_factory.mktemp("queue"), worker_stalled_s=STALLED_S)
    with private_services(settings) as services:
        yield services


def worker(services, *args: str, **extra: str):
    """A `ragbot worker` process on the test's database; killed afterwards if it still runs."""
    return worker_process(services.settings, *args, RAGBOT_WORKER_STALLED_S=str(STALLED_S), **extra)


def wait_for(services, job_id: int, condition, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while True:
        job = services.jobs.get(job_id)
        if condition(job):
            return job
        assert time.monotonic() < deadline, f"job {job_id} is {job.status}: {job.message} ({job.log_tail[-3:]})"
        time.sleep(0.2)


def ended(job) -> bool:
    return not job.active


def test_a_job_runs_on_a_worker_with_progress_and_result_and_a_failure_is_recorded(services):
    from chatbot.queue.builtin_tasks import submit_probe

    with worker(services) as process:
        good = submit_probe(services.jobs, QUEUED_BY, steps=3, seconds=0.05)
        bad = submit_probe(services.jobs, QUEUED_BY, steps=1, seconds=0.0, fail="the probe was told to fail")
        assert good.status == "queued" and good.queue_job_id is not None
        good = wait_for(services, good.id, ended)
        bad = wait_for(services, bad.id, ended)
    assert good.status == "succeeded", good.error
    assert (good.done, good.total, good.fraction) == (3, 3, 1.0)
    assert good.result == {"steps": 3, "database": True}
    assert (good.host, good.pid) == (socket.gethostname(), process.pid)
    assert "step 3/3" in good.log_tail and good.queued_by == QUEUED_BY and good.attempts == 1
    assert good.started_at and good.finished_at and good.finished_at >= good.started_at
    assert bad.status == "failed" and bad.error == "ProbeFailed: the probe was told to fail" and bad.result is None


def test_cancel_a_queued_job_and_a_running_one(services):
    from chatbot.queue.builtin_tasks import submit_probe

    with worker(services):  # one job at a time: the second waits behind the first
        running = submit_probe(services.jobs, QUEUED_BY, steps=600, seconds=0.1)
        waiting = submit_probe(services.jobs, QUEUED_BY, steps=1, seconds=0.0)
        wait_for(services, running.id, lambda job: job.status == "running" and job.done >= 2)
        assert services.jobs.cancel(waiting.id).status == "cancelled"
        services.jobs.cancel(running.id)
        running = wait_for(services, running.id, ended, timeout=30)
        time.sleep(1.5)  # the worker is free again: a cancelled job must still not start
        waiting = services.jobs.get(waiting.id)
    assert running.status == "cancelled" and 2 <= running.done < 600
    assert waiting.status == "cancelled" and waiting.started_at is None and waiting.attempts == 0


def test_a_second_holder_of_a_key_is_refused_by_name(services):
    from chatbot.queue.builtin_tasks import submit_calibration
    from chatbot.queue.records import JobRefused

    first = submit_calibration(services.jobs, "docs", QUEUED_BY)  # no worker runs: it stays queued
    try:
        with pytest.raises(JobRefused, match=rf"'calibrate the fusion of 'docs'' \(job {first.id}, queued"):
            submit_calibration(services.jobs, "docs", "someone else")
        refused = run_cli(["jobs", "queue", "calibration", "-c", "docs"], services.settings, timeout=120)
        assert refused.returncode == 1 and "holds calibration:docs already" in refused.stderr, refused.stderr
        other = submit_calibration(services.jobs, "other", QUEUED_BY)  # another collection: its own key
        services.jobs.cancel(other.id)
    finally:
        services.jobs.cancel(first.id)
    again = submit_calibration(services.jobs, "docs", QUEUED_BY)  # the key is free once the holder ended
    services.jobs.cancel(again.id)
    assert services.jobs.get(again.id).status == "cancelled"


def test_a_job_whose_worker_is_killed_is_run_again_by_another_worker(services):
    from chatbot.queue.builtin_tasks import submit_probe

    with worker(services) as first:
        job = submit_probe(services.jobs, QUEUED_BY, steps=30, seconds=0.2)
        wait_for(services, job.id, lambda j: j.status == "running" and j.done >= 2)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
    assert services.jobs.get(job.id).status == "running"  # nobody knows yet
    with worker(services) as second:
        job = wait_for(services, job.id, ended, timeout=180)
    assert job.status == "succeeded", job.error
    assert job.attempts == 2 and job.pid == second.pid
    assert any("stopped answering" in line and str(first.pid) in line for line in job.log_tail), job.log_tail


def test_jobs_list_json_shows_the_database_jobs(services):
    from chatbot.queue.builtin_tasks import submit_probe

    job = submit_probe(services.jobs, QUEUED_BY, steps=1)
    services.jobs.cancel(job.id)
    result = run_cli(["jobs", "list", "--json"], services.settings, timeout=120)
    assert result.returncode == 0, result.stderr
    listed = {row["id"]: row for row in json.loads(result.stdout)}
    assert listed[job.id]["status"] == "cancelled" and listed[job.id]["kind"] == "probe"
    assert set(listed) == {j.id for j in services.jobs.jobs(limit=50)}
    shown = run_cli(["jobs", "show", str(job.id)], services.settings, timeout=120)
    assert json.loads(shown.stdout)["arguments"] == {"steps": 1, "seconds": 0.1, "fail": None}


def test_an_upload_is_stored_before_it_is_queued_then_ingested_by_a_worker_which_deletes_it(services):
    from chatbot.queue.builtin_tasks import submit_uploads

    text = b"# Gizmo\n\nThe gizmo resets when its blue button is held for ten seconds.\n"
    job = submit_uploads(services.jobs, [("../gizmo.md", text)], "uploads", QUEUED_BY)
    [(name, handle)] = services.jobs.records.files(job.id)  # any machine's worker can read it now
    with handle:
        handle.seek(0)
        assert (name, handle.read()) == ("gizmo.md", text)
    assert job.arguments == {"collection": "uploads", "files": ["gizmo.md"]}
    with worker(services) as process:
        job = wait_for(services, job.id, ended, timeout=300)
    assert job.status == "succeeded", job.error
    assert job.result["files_ok"] == 1 and job.result["documents_added"] == 1 and job.pid == process.pid
    assert (job.done, job.total) == (1, 1)
    assert services.jobs.records.files(job.id) == []
    assert [d.source for d in services.store.list_documents("uploads")] == ["upload:gizmo.md"]


def test_the_admin_jobs_view_lists_and_cancels_through_the_same_queue(services):
    from chatbot.queue.builtin_tasks import submit_probe
    from chatbot.ui.jobs_tab import JobsHandlers

    job = submit_probe(services.jobs, "admin-ui:admin", steps=2)
    handlers = JobsHandlers(services.jobs)
    row = next(r for r in handlers.listing() if r[0] == job.id)
    assert row[1:4] == ["queued", "probe", "0%"] and row[5] == "admin-ui:admin"
    assert json.loads(handlers.show(job.id))["title"] == job.title
    note, rows = handlers.cancel(job.id)
    assert note == f"Job {job.id}: cancelled." and next(r for r in rows if r[0] == job.id)[1] == "cancelled"
    assert handlers.cancel(10**9)[0] == f"no job {10**9}"


def test_a_worker_stopped_by_sigterm_hands_its_running_job_to_the_next_worker(services):
    from chatbot.queue.builtin_tasks import submit_probe

    with worker(services) as first:
        job = submit_probe(services.jobs, QUEUED_BY, steps=200, seconds=0.1)
        wait_for(services, job.id, lambda j: j.status == "running" and j.done >= 2)
        first.send_signal(signal.SIGTERM)  # 10 s to finish, then the job is stopped and queued again
        assert first.wait(60) == 0
    requeued = services.jobs.get(job.id)
    assert requeued.status == "queued" and requeued.done < 200, requeued.message
    assert f"its worker on {socket.gethostname()} stopped" in requeued.message
    with worker(services) as second:
        job = wait_for(services, job.id, ended, timeout=180)
    assert job.status == "succeeded" and job.attempts == 2 and job.pid == second.pid


def test_a_website_sync_is_a_job_one_per_site_and_collection(services, site):  # noqa: F811
    from chatbot.queue.builtin_tasks import submit_web_sync
    from chatbot.queue.records import JobRefused

    url, options = f"{site.base}/sitemap.xml", {"delay": 0.0}
    job = submit_web_sync(services.jobs, url, "site", options, QUEUED_BY)
    with pytest.raises(JobRefused, match=rf"\(job {job.id}, queued, queued by test\) holds sync:site:{url}"):
        submit_web_sync(services.jobs, url, "site", options, "another replica")
    with worker(services, RAGBOT_INGEST_ALLOW_PRIVATE="true"):  # the help center is on 127.0.0.1
        job = wait_for(services, job.id, ended, timeout=300)
    assert job.status == "succeeded", job.error
    assert job.result["documents_added"] == job.result["files_ok"] == len(site.articles)
    assert sorted(d.source for d in services.store.list_documents("site")) == sorted(site.articles)
    assert f"{site.base}/articles/missing/" in {f["path"] for f in job.result["files_failed"]}  # named by its URL


def test_a_replica_without_a_worker_queues_an_upload_that_a_worker_process_ingests(services):
    import httpx

    from chatbot.credentials import AdminCredentials
    from chatbot.server import create_server
    from tests.integration.private_db import serving

    admin = ("admin", "replica-test-password")
    files = [("files", ("replica.md", b"# Replica\n\nThe replica stores uploads for the workers.\n", "text/markdown"))]
    with serving(create_server(services, AdminCredentials(*admin, generated=False), with_ui=False,
                               worker=False)) as url:  # `ragbot serve --no-worker`
        reply = httpx.post(f"{url}/api/documents", params={"wait": 1}, files=files, data={"collection": "replica"},
                           auth=admin, timeout=60)
        assert reply.status_code == 202, reply.text
        job_id = reply.json()["job"]
        assert reply.json()["status"] == "queued" and f"ragbot jobs show {job_id}" in reply.json()["detail"]
        with worker(services) as process:
            job = wait_for(services, job_id, ended, timeout=300)
        listed = httpx.get(f"{url}/api/documents", params={"collection": "replica"}, auth=admin, timeout=60).json()
    assert job.status == "succeeded" and job.pid == process.pid and job.queued_by == "api:admin"
    assert [d["source"] for d in listed] == ["upload:replica.md"]
