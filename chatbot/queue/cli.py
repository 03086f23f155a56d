"""`ragbot worker` and `ragbot jobs list|show|cancel|probe`."""

from __future__ import annotations

import json
import logging
from typing import Annotated

import typer

from chatbot.cli_services import err, open_services
from chatbot.queue.records import JobRecord
from chatbot.queue.tasks import QUEUES

jobs_app = typer.Typer(help="Jobs in the database (training, syncs, ingests, evaluations), whoever runs them.",
                       no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]


def worker(
    queues: Annotated[list[str] | None, typer.Option("--queues", "-q", help=f"Queues to take jobs from "
                                                     f"(repeatable; default: all of {', '.join(QUEUES)}).")] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Jobs run at once.")] = 1,
) -> None:
    """Run jobs from the database until stopped (Ctrl-C, SIGTERM: running jobs get 10 s, then run again on the
    next worker)."""
    from chatbot.queue.worker import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    services = open_services()
    try:
        services.pool  # noqa: B018 — migrate before taking jobs
        err.print(f"worker: queues {', '.join(queues or QUEUES)}, concurrency {concurrency}")
        run_worker(services, queues, concurrency)
    finally:
        services.close()


def _line(job: JobRecord) -> str:
    progress = f"{job.done}/{job.total}" if job.total else f"{job.fraction:.0%}"
    ran = f" on {job.host}" if job.host else ""
    return f"{job.id:>5}  {job.status:<9}  {job.kind:<15}  {progress:>7}  {job.title}{ran}  — {job.message}"


@jobs_app.command("list")
def list_jobs(
    kind: Annotated[str | None, typer.Option(help="Only jobs of this kind.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Newest N.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Jobs, newest first."""
    services = open_services()
    try:
        found = services.jobs.jobs(kind, limit)
    finally:
        services.close()
    if as_json:
        typer.echo(json.dumps([job.to_json() for job in found]))
        return
    for job in found:
        typer.echo(_line(job))


@jobs_app.command("show")
def show(job_id: Annotated[int, typer.Argument(help="Job id.")]) -> None:
    """One job as JSON: arguments, progress, log tail, result or error, the worker that ran it."""
    services = open_services()
    try:
        job = services.jobs.get(job_id)
    finally:
        services.close()
    if job is None:
        err.print(f"[red]error:[/red] no job {job_id}")
        raise typer.Exit(1)
    typer.echo(json.dumps(job.to_json(), indent=2, ensure_ascii=False))


@jobs_app.command("cancel")
def cancel(job_id: Annotated[int, typer.Argument(help="Job id.")]) -> None:
    """A queued job never starts; a running one stops at its next progress report and ends cancelled."""
    services = open_services()
    try:
        job = services.jobs.cancel(job_id)
    except LookupError as exc:
        err.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(1) from exc
    finally:
        services.close()
    state = "cancel requested" if job.status == "running" else job.status
    typer.echo(f"job {job.id} ({job.title}): {state}")


@jobs_app.command("queue")
def queue_job(
    kind: Annotated[str, typer.Argument(help="calibration or reembed (of a collection).")],
    collection: Annotated[str | None, typer.Option("--collection", "-c", help="Collection (default: settings).")
                          ] = None,
    wait: Annotated[float, typer.Option(min=0, help="Seconds to wait for it to end (0: just queue it).")] = 0,
) -> None:
    """Queue a collection's fusion calibration or re-embedding for a worker (`ragbot calibrate` and `ragbot
    reembed` run it here instead)."""
    from chatbot.queue.builtin_tasks import submit_calibration, submit_reembed
    from chatbot.queue.records import JobRefused
    from chatbot.queue.service import cli_user

    submitters = {"calibration": submit_calibration, "reembed": submit_reembed}
    if kind not in submitters:
        err.print(f"[red]error:[/red] '{kind}' is not one of {', '.join(submitters)}")
        raise typer.Exit(2)
    services = open_services()
    try:
        job = submitters[kind](services.jobs, collection or services.settings.collection, cli_user())
        job = services.jobs.wait(job.id, wait) if wait else job
    except JobRefused as exc:
        err.print(f"[red]refused:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(1) from exc
    finally:
        services.close()
    typer.echo(_line(job))


@jobs_app.command("probe")
def probe(
    steps: Annotated[int, typer.Option(min=1, max=10_000)] = 3,
    seconds: Annotated[float, typer.Option(min=0, max=3600, help="Each step's length.")] = 0.1,
    fail: Annotated[str | None, typer.Option(help="End failed with this message.")] = None,
    wait: Annotated[float, typer.Option(min=0, help="Seconds to wait for it to end (0: just queue it).")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Queue a probe job (steps that report progress): shows that a worker reaches the database and runs jobs."""
    from chatbot.queue.builtin_tasks import submit_probe
    from chatbot.queue.service import cli_user

    services = open_services()
    try:
        job = submit_probe(services.jobs, cli_user(), steps, seconds, fail)
        job = services.jobs.wait(job.id, wait) if wait else job
    finally:
        services.close()
    typer.echo(json.dumps(job.to_json()) if as_json else _line(job))
