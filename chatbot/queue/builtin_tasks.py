"""The tasks the core runs as jobs: ingesting uploads, website sync, reembed, fusion calibration, and a probe
that shows the workers answer. Each `submit_*` is what the CLI, the API and the Admin UI call."""

from __future__ import annotations

import time
from typing import Any, BinaryIO

from chatbot.queue.progress import Progress
from chatbot.queue.records import JobRecord
from chatbot.queue.service import JobQueue
from chatbot.queue.tasks import task


class ProbeFailed(RuntimeError):
    """The failure a probe was asked to end with."""


@task("probe")
def probe(services: Any, progress: Progress, steps: int = 3, seconds: float = 0.1, fail: str | None = None
          ) -> dict[str, Any]:
    """`steps` steps of `seconds` each, reporting progress (and ending with `fail`, when given)."""
    for step in range(1, steps + 1):
        time.sleep(seconds)
        progress(message=f"step {step}/{steps}", done=step, total=steps)
    if fail:
        raise ProbeFailed(fail)
    return {"steps": steps, "database": bool(services.pool)}


def submit_probe(jobs: JobQueue, queued_by: str, steps: int = 3, seconds: float = 0.1,
                 fail: str | None = None) -> JobRecord:
    return jobs.submit("probe", f"probe: {steps} step(s) of {seconds} s", {"steps": steps, "seconds": seconds,
                       "fail": fail}, queued_by=queued_by)


@task("calibration")
def calibration(services: Any, progress: Progress, collection: str) -> dict[str, Any]:
    progress(0.0, f"calibrating the fusion and abstention of '{collection}' from its titles and headings")
    result = services.calibrate_fusion(collection, force=True)
    if result is None:
        return {"collection": collection, "calibrated": False}
    return {"collection": collection, "calibrated": True, "lexical_weight": result.lexical_weight,
            "queries": result.queries, "abstain_threshold": services.abstention_records.threshold(collection)}


def submit_calibration(jobs: JobQueue, collection: str, queued_by: str) -> JobRecord:
    return jobs.submit("calibration", f"calibrate the fusion of '{collection}'", {"collection": collection},
                       queued_by=queued_by, dedupe_key=f"calibration:{collection}")


@task("reembed")
def reembed(services: Any, progress: Progress, collection: str) -> dict[str, Any]:
    progress(0.0, f"re-encoding every chunk of '{collection}'")
    chunks = services.ingestor.reembed(collection)
    return {"collection": collection, "chunks": chunks, "embedder": str(services.embedder.identity)}


def submit_reembed(jobs: JobQueue, collection: str, queued_by: str) -> JobRecord:
    return jobs.submit("reembed", f"re-embed '{collection}'", {"collection": collection}, queued_by=queued_by,
                       dedupe_key=f"reembed:{collection}")


@task("ingest_uploads")
def ingest_uploaded(services: Any, progress: Progress, collection: str, files: list[str]) -> dict[str, Any]:
    """The files stored with the job (`job_files`), ingested, then deleted."""
    from ingestion.uploads import ingest_uploads

    payloads = progress.records.files(progress.job_id)
    progress(0.0, f"ingesting {len(payloads)} file(s) into '{collection}'", done=0, total=len(payloads))
    try:
        report = ingest_uploads(services.ingestor, payloads, collection,
                                on_item=lambda done, total: progress(message=f"file {done}/{total}", done=done,
                                                                     total=total))
    finally:
        for _, handle in payloads:
            handle.close()
    progress.records.delete_files(progress.job_id)
    return report.to_json()


def submit_uploads(jobs: JobQueue, files: list[tuple[str | None, bytes | BinaryIO]], collection: str,
                   queued_by: str) -> JobRecord:
    """Store the files (bytes, or spooled file objects read one at a time) with the job, then queue it (any worker
    can then ingest them)."""
    from ingestion.uploads import safe_filename

    stored = [(safe_filename(name), data) for name, data in files]
    names = [name for name, _ in stored]
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return jobs.submit("ingest_uploads", f"ingest {shown} into '{collection}'",
                       {"collection": collection, "files": names}, queued_by=queued_by, files=stored)


@task("web_sync")
def web_sync(services: Any, progress: Progress, url: str, collection: str, options: dict[str, Any],
             prune: bool = False) -> dict[str, Any]:
    from ingestion.web_crawl import CrawlOptions

    progress(0.0, f"syncing {url} into '{collection}'")
    return services.web_sync.sync(url, collection, CrawlOptions.from_json(options), prune=prune).to_json()


def submit_web_sync(jobs: JobQueue, url: str, collection: str, options: dict[str, Any], queued_by: str, *,
                    prune: bool = False) -> JobRecord:
    return jobs.submit("web_sync", f"sync {url} into '{collection}'",
                       {"url": url, "collection": collection, "options": options, "prune": prune},
                       queued_by=queued_by, dedupe_key=f"sync:{collection}:{url}")
