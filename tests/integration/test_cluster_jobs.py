"""Jobs across a cluster (issue 28): two `ragbot serve --no-worker` replicas behind nginx and two `ragbot worker`s,
each a real subprocess with its own RAGBOT_HOME, on the session's Postgres reached by DATABASE_URL. An upload through
replica A runs on a worker and is cited through B; a worker SIGKILLed in the middle of a 100-file ingest leaves no
partial document and its job to the other worker; an adapter activated on A answers on B within 2 s and is gone from
B once deleted on A; one training per adapter name across replicas; `ragbot jobs list` is the same on both."""

from __future__ import annotations

import io
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import EXAMPLES
from tests.integration.cluster import Cluster, cluster, replica_env
from tests.integration.test_job_queue import wait_for

pytestmark = pytest.mark.integration

PASSWORD = "cluster-jobs-" + secrets.token_hex(6)
ADMIN = ("admin", PASSWORD)
STALLED_S = 3.0
ENV = {"RAGBOT_ADMIN_PASSWORD": PASSWORD, "RAGBOT_RATE_LIMIT_PER_MINUTE": "0", "RAGBOT_MAX_ANSWERS_PER_CLIENT": "0",
       "RAGBOT_MAX_NEW_TOKENS": "6", "RAGBOT_COLLECTION": "examples", "RAGBOT_WORKER_STALLED_S": str(STALLED_S)}
WORDS = ("hub", "sensor", "bridge", "firmware", "relay", "beacon", "pairing", "channel", "battery", "antenna", "dimmer",
         "thermostat", "schedule", "scene", "router", "mesh", "signal", "reset", "cloud", "token", "status", "panel")


@pytest.fixture(scope="module")
def jobs_cluster(services, examples_ingested, tmp_path_factory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("cluster-jobs")
    with cluster(services.url, root, ["replica-a", "replica-b"], ENV, workers=["worker-1", "worker-2"]) as running:
        for replica in running.replicas:  # each replica's base model loaded once, outside the tests' timings
            warm = httpx.post(f"{replica.url}/v1/chat/completions", timeout=300,
                              json={"model": "base", "messages": [{"role": "user", "content": "hello"}]})
            assert warm.status_code == 200, warm.text
        yield running


def replica_urls(running: Cluster) -> tuple[str, str]:
    a, b = running.replicas
    return a.url, b.url


def worker_pids(running: Cluster) -> dict[int, str]:
    return {w.process.pid: w.name for w in running.workers if w.process.poll() is None}


def test_an_upload_through_a_runs_on_a_worker_and_b_cites_it(jobs_cluster, services):
    a, b = replica_urls(jobs_cluster)
    text = b"# Gizmo\n\nThe gizmo resets when its blue button is held for ten seconds.\n"
    reply = httpx.post(f"{a}/api/documents", params={"wait": 300}, auth=ADMIN, timeout=330,
                       files=[("files", ("gizmo.md", text, "text/markdown"))], data={"collection": "cluster-up"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["documents_added"] == 1
    job = services.jobs.get(reply.json()["job"])
    assert job.status == "succeeded" and job.queued_by == "api:admin"
    assert job.pid in worker_pids(jobs_cluster), (job.host, job.pid)  # neither replica: they run no worker
    body = {"model": "extractive", "collection": "cluster-up",
            "messages": [{"role": "user", "content": "How do I reset the gizmo?"}]}
    answer = httpx.post(f"{b}/v1/chat/completions", json=body, timeout=120)
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-ragbot-replica"] == "replica-b"
    assert "gizmo.md" in [s["source"] for s in answer.json()["sources"]]


def hundred_files() -> list[tuple[str, bytes]]:
    """100 distinct Markdown files of 1 to 8 paragraphs (1 to several chunks each)."""
    pick = random.Random(28)
    files = []
    for n in range(100):
        paragraphs = [" ".join(pick.choice(WORDS) for _ in range(90)) + "." for _ in range(1 + n % 8)]
        files.append((f"device-{n:03d}.md", f"# Device {n}\n\n{chr(10).join(paragraphs)}\n".encode()))
    return files


def clean_chunk_counts(services, files: list[tuple[str, bytes]], collection: str) -> dict[str, int]:
    """Chunks per document of the same files ingested here, in one go with nothing killed."""
    from ingestion.uploads import ingest_uploads

    report = ingest_uploads(services.ingestor, [(name, io.BytesIO(data)) for name, data in files], collection)
    assert report.documents_added == len(files), report
    return {d.source: d.chunks for d in services.store.list_documents(collection)}


def test_a_worker_killed_during_a_100_file_ingest_leaves_no_partial_document(jobs_cluster, services):
    a, _ = replica_urls(jobs_cluster)
    files = hundred_files()
    reply = httpx.post(f"{a}/api/documents", params={"wait": 0}, auth=ADMIN, timeout=300, data={"collection": "c100"},
                       files=[("files", (name, data, "text/markdown")) for name, data in files])
    assert reply.status_code == 202, reply.text
    job_id = reply.json()["job"]
    job = wait_for(services, job_id, lambda j: j.status == "running" and bool(services.store.list_documents("c100")))
    killed = job.pid
    assert killed in worker_pids(jobs_cluster), (killed, worker_pids(jobs_cluster))
    os.kill(killed, signal.SIGKILL)
    written_when_killed = len(services.store.list_documents("c100"))
    assert written_when_killed < len(files), "the ingest ended before the kill: give it more text"
    job = wait_for(services, job_id, lambda j: not j.active, timeout=240)
    assert job.status == "succeeded", (job.status, job.error, job.log_tail[-5:])
    assert job.attempts == 2 and job.pid != killed and job.pid in worker_pids(jobs_cluster)
    assert any("stopped answering" in line and str(killed) in line for line in job.log_tail), job.log_tail
    stored = {d.source: d.chunks for d in services.store.list_documents("c100")}
    print(f"ingest of {sum(stored.values())} chunks: {written_when_killed} documents in when its worker was killed")
    assert stored == clean_chunk_counts(services, files, "c100-clean")
    assert services.jobs.records.files(job_id) == []


def adapter_chat(url: str, model: str) -> httpx.Response:
    """A short answer without retrieval (the prompt is then tiny: the time is the model's, not the context's)."""
    body = {"model": model, "use_retrieval": False, "messages": [{"role": "user", "content": "Reset the hub?"}]}
    return httpx.post(f"{url}/v1/chat/completions", json=body, timeout=120)


def answer_text(reply: httpx.Response) -> str:
    assert reply.status_code == 200, reply.text
    return reply.json()["choices"][0]["message"]["content"]


def listed_models(url: str) -> list[str]:
    return [m["id"] for m in httpx.get(f"{url}/v1/models", timeout=60).json()["data"]]


def test_an_adapter_activated_on_a_answers_on_b_within_2_s_and_is_gone_once_deleted(jobs_cluster, services,
                                                                                     untrained_adapter):
    from chatbot.storage.adapter_registry import delete_adapter, use_adapter

    a_home, (_, b) = jobs_cluster.root / "replica-a", replica_urls(jobs_cluster)
    name = f"cluster-lora-{secrets.token_hex(3)}"
    shutil.copytree(services.settings.adapters_dir / untrained_adapter, a_home / "adapters" / name)
    assert adapter_chat(b, f"finetuned:{name}").status_code == 404  # only on A's disk so far
    use_adapter(services.adapter_registry, a_home / "adapters", name)  # what `ragbot adapters use` runs on A
    activated = time.monotonic()
    while True:  # B answers with it a request sent within 2 s (generating then takes what this CPU takes)
        asked = time.monotonic()
        if (answer := adapter_chat(b, f"finetuned:{name}")).status_code == 200:
            break
        assert answer.status_code == 404 and asked - activated < 2.0, answer.text
        time.sleep(0.05)
    print(f"adapter activated on A: B answered a request sent {asked - activated:.2f} s later, "
          f"in {time.monotonic() - asked:.2f} s")
    assert asked - activated < 2.0
    assert f"finetuned:{name}" in listed_models(b)
    tuned = answer_text(answer)
    assert answer_text(adapter_chat(b, "finetuned")) == tuned != answer_text(adapter_chat(b, "base"))  # the active one

    assert delete_adapter(services.adapter_registry, a_home / "adapters", a_home / "runs", name)
    deleted = time.monotonic()
    while True:  # an answer already generating when B noticed may finish; none asked 2 s after the delete
        asked = time.monotonic()
        if (gone := adapter_chat(b, f"finetuned:{name}")).status_code == 404:
            break
        assert asked - deleted < 2.0, gone.text
        time.sleep(0.05)
    print(f"adapter deleted on A: B answered 404 to a request sent {asked - deleted:.2f} s later")
    error = gone.json()["error"]
    assert error["type"] == "model_not_found" and f"adapter '{name}' not found" in error["message"]
    assert "choose from: base, extractive" in error["message"] and f"finetuned:{name}" not in error["message"]
    assert f"finetuned:{name}" not in listed_models(b)


def test_one_training_of_a_name_runs_and_the_other_replica_is_refused_by_name(jobs_cluster, services):
    from chatbot.queue.records import JobRefused
    from chatbot.queue.service import JobQueue
    from chatbot.settings import Settings
    from chatbot.storage import db
    from training.background import submit_training
    from training.config import TrainConfig

    name = f"cluster-train-{secrets.token_hex(3)}"
    config = TrainConfig(qa=str(EXAMPLES / "qa.jsonl"), collection="examples", name=name, quant="none", max_steps=1,
                         lora_r=4, target_modules=["q_proj", "v_proj"], batch_size=1)
    start, outcomes = threading.Barrier(2), {}

    def submit(replica: str) -> None:
        settings = Settings(home=jobs_cluster.root / replica, _env_file=None)
        pool = db.create_pool(jobs_cluster.database_url, max_size=2)
        queue = JobQueue(pool)
        try:
            start.wait()
            outcomes[replica] = submit_training(queue, settings, config, queued_by=f"admin-ui:{replica}")
        except JobRefused as refused:
            outcomes[replica] = refused
        finally:
            queue.close()
            pool.close()

    threads = [threading.Thread(target=submit, args=(r,)) for r in ("replica-a", "replica-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    [winner] = [o for o in outcomes.values() if not isinstance(o, Exception)]
    [refused] = [o for o in outcomes.values() if isinstance(o, JobRefused)]
    try:
        assert f"'train adapter '{name}'' (job {winner.id}" in str(refused)
        assert f"holds training:{name} already" in str(refused)
        running = wait_for(services, winner.id, lambda j: j.status != "queued", timeout=120)
        assert running.status == "running" and running.pid in worker_pids(jobs_cluster), running
    finally:
        services.jobs.cancel(winner.id)  # one step would train; stopped at its next progress report instead
    ended = wait_for(services, winner.id, lambda j: not j.active, timeout=120)
    assert ended.status in ("cancelled", "succeeded"), ended.error
    print(f"training {winner.id}: {ended.status} after {ended.message}")
    services.adapter_registry.unregister(name)  # had the one step finished first


def jobs_list(running: Cluster, replica: str) -> list[dict]:
    env = replica_env(running.database_url, running.root / replica, replica, ENV)
    listed = subprocess.run([sys.executable, "-m", "chatbot", "jobs", "list", "--json"], capture_output=True,
                            text=True, env=env, cwd=running.root, timeout=180, stdin=subprocess.DEVNULL)
    assert listed.returncode == 0, listed.stderr
    return json.loads(listed.stdout)


def test_jobs_list_on_either_replica_shows_the_same_jobs(jobs_cluster, services):
    from chatbot.queue.builtin_tasks import submit_probe

    probe = submit_probe(services.jobs, "test", steps=1, seconds=0.0)
    wait_for(services, probe.id, lambda j: not j.active, timeout=120)
    on_a, on_b = jobs_list(jobs_cluster, "replica-a"), jobs_list(jobs_cluster, "replica-b")
    assert [(j["id"], j["status"]) for j in on_a] == [(j["id"], j["status"]) for j in on_b]
    assert probe.id in {j["id"] for j in on_a}
    assert {j["id"] for j in on_a} == {j.id for j in services.jobs.jobs(limit=len(on_a))}  # the database's jobs
