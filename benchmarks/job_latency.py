"""How long a job waits for a warm worker: a `ragbot worker` process on the configured database, then N one-step
probes one after another, each submitted and waited for. Run: `python -m benchmarks.job_latency [N]`."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time

from chatbot.queue.builtin_tasks import submit_probe
from chatbot.services import Services
from chatbot.settings import Settings, configure_environment


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(share * len(ordered)), len(ordered) - 1)]


def measure(services: Services, runs: int) -> dict[str, float]:
    started, ended = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        job = services.jobs.wait(submit_probe(services.jobs, "benchmark", 1, 0.0).id, 30, interval=0.01)
        ended.append(time.perf_counter() - t0)
        started.append((job.started_at - job.queued_at).total_seconds())
    ms = {"submit_to_start": started, "submit_to_seen_succeeded": ended}
    return {f"{name}_{stat}_ms": round(1000 * fn(values), 1) for name, values in ms.items()
            for stat, fn in (("median", statistics.median), ("p90", lambda v: percentile(v, 0.9)))}


def main(runs: int = 30) -> None:
    configure_environment()
    services = Services(Settings())
    services.pool  # noqa: B018 — migrate before the worker starts
    worker = subprocess.Popen([sys.executable, "-m", "chatbot", "worker"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        warm = services.jobs.wait(submit_probe(services.jobs, "benchmark", 1, 0.0).id, 180)
        assert warm.status == "succeeded", f"the worker did not run the first probe: {warm.status} {warm.error}"
        print(json.dumps({"runs": runs, **measure(services, runs)}))
    finally:
        worker.terminate()
        worker.wait(30)
        services.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
