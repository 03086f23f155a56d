"""`ragbot handoffs`: list, answer and deliver handoffs to a person (the same `HandoffService` as the API and
Admin → Handoffs)."""

from __future__ import annotations

import json
import uuid
from typing import Annotated

import typer

from chatbot.cli_services import err, open_services
from chatbot.limits import InvalidInput
from chatbot.queue.service import cli_user
from chatbot.storage.handoffs import STATUSES, Handoff

handoffs_app = typer.Typer(help="Handoffs to a person (docs/handoffs.md).", no_args_is_help=True)
LISTED = ("id", "status", "delivered_at", "question", "created_at", "attempts", "last_error", "reason", "contact",
          "review", "answer")


def _listed(handoff: Handoff) -> dict[str, object]:
    body = handoff.to_json()
    return {key: body[key] for key in LISTED}


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(1)


@handoffs_app.command("list")
def handoffs_list(
    status: Annotated[str | None, typer.Option(help=f"Only this status: {', '.join(STATUSES)}.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Handoffs, newest first: id, status, when delivered, the question, when created, delivery attempts."""
    if status is not None and status not in STATUSES:
        raise _fail(f"--status: '{status}' is not one of {', '.join(STATUSES)}")
    services = open_services()
    try:
        rows = [_listed(h) for h in services.handoffs.recent(status, limit=limit)]
        webhook = bool(services.settings.handoff_url)
    finally:
        services.close()
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    if not webhook:
        typer.echo("No webhook is configured (RAGBOT_HANDOFF_URL): handoffs stay open until answered here or in "
                   "Admin → Handoffs.", err=True)
    for row in rows:
        delivered = row["delivered_at"] or f"not delivered ({row['attempts']} attempt(s))"
        error = f" — {row['last_error']}" if row["last_error"] else ""
        typer.echo(f"{row['id']}  {row['status']:<9}  {row['created_at']}  {delivered}{error}\n    {row['question']}")


@handoffs_app.command("answer")
def handoffs_answer(
    handoff_id: Annotated[str, typer.Argument(metavar="ID", help="The handoff's id.")],
    text: Annotated[str, typer.Option("--text", help="The agent's answer.")],
) -> None:
    """Record an agent's answer (the handoff becomes answered; approve the pair in Admin → Handoffs)."""
    try:
        target = uuid.UUID(handoff_id)
    except ValueError as exc:
        raise _fail(f"ID: not a handoff id: {handoff_id}") from exc
    services = open_services()
    try:
        handoff = services.handoffs.answer(target, text, cli_user())
    except (InvalidInput, LookupError) as exc:
        raise _fail(str(exc)) from exc
    finally:
        services.close()
    typer.echo(f"handoff {handoff.id} answered")


@handoffs_app.command("deliver")
def handoffs_deliver(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Try now to deliver every open handoff to RAGBOT_HANDOFF_URL (one attempt each)."""
    services = open_services()
    try:
        if not services.settings.handoff_url:
            raise _fail("RAGBOT_HANDOFF_URL is not set: handoffs stay open in Admin → Handoffs")
        outcomes = services.handoffs.deliver_open()
    finally:
        services.close()
    if as_json:
        typer.echo(json.dumps([_listed(h) for h in outcomes], ensure_ascii=False))
        return
    for h in outcomes:
        typer.echo(f"{h.id}  {h.status}" + (f" — {h.last_error}" if h.last_error else ""))
    delivered = sum(1 for h in outcomes if h.status == "delivered")
    typer.echo(f"delivered {delivered} of {len(outcomes)} open handoff(s)")
    if delivered < len(outcomes):
        raise typer.Exit(1)
