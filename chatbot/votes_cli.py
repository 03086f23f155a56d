"""`ragbot votes`: blind-vote win rates with their 95 % Wilson intervals, the further votes needed and the
verdict, optionally split per collection or per gap topic, for scripts (`--json`) and people (a table)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from chatbot.ab_grouping import GROUPINGS, grouped_win_rates, win_rate_summary
from chatbot.cli_services import open_services
from chatbot.storage.monitoring import MAX_DAYS, Monitor
from chatbot.tables import print_table

SPLITS = (*GROUPINGS, "topic")  # topic: the gap topic of the vote's question (`ragbot gaps`)


def votes(
    by: Annotated[str | None, typer.Option("--by", help=f"Split the votes: {', '.join(SPLITS)}.")] = None,
    days: Annotated[int, typer.Option(min=1, max=MAX_DAYS, help="Votes cast in the last N UTC days.")] = 90,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
) -> None:
    """Blind-vote win rates per generator and opponent (ties count half), with the 95 % Wilson interval, the votes
    still needed at the observed rate to tell them apart, and 'better' only when the interval leaves out 50 %."""
    if by is not None and by not in SPLITS:
        raise typer.BadParameter(f"unknown grouping '{by}' (choose from {', '.join(SPLITS)})", param_hint="--by")
    services = open_services()
    try:
        monitor = Monitor(services.pool)
        if by is None:
            rates = monitor.win_rates(days)
        else:  # the votes read once: the topics and the split come from the same votes
            votes = monitor.blind_votes(days)
            rates = grouped_win_rates(votes, services.gap_finder.vote_topics(votes, days) if by == "topic" else by)
    finally:
        services.close()
    summaries = [win_rate_summary(r) for r in rates]
    if as_json:
        typer.echo(json.dumps({"days": days, "by": by, "confidence": 0.95, "ties": "half", "win_rates": summaries}))
        return
    if not summaries:
        typer.echo(f"no blind votes in the last {days} days: vote in the Compare tab")
        return
    table = Table(*(["group"] if by else []), "generator", "opponent", "W", "L", "T", "win rate", "95% interval",
                  "votes needed", "verdict")
    for s in summaries:
        needed = "never" if s["votes_needed"] is None else str(s["votes_needed"])
        table.add_row(*([s["group"]] if by else []), s["generator"], s["opponent"], str(s["wins"]), str(s["losses"]),
                      str(s["ties"]), f"{s['win_rate']:.0%}", f"{s['interval'][0]:.0%}–{s['interval'][1]:.0%}",
                      needed, s["verdict"])
    print_table(table)
