"""The settings and services a `ragbot` command works with, failing with a message rather than a traceback when
the settings are invalid. One module for every command group (`chatbot.cli`, `chatbot.embedder_cli`,
`training.cli`), so that none imports another for it."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from chatbot.home import make_home

if TYPE_CHECKING:
    from chatbot.services import Services
    from chatbot.settings import Settings

err = Console(stderr=True)


def load_settings() -> Settings:
    import chatbot.settings  # looked up when called, so that tests can substitute get_settings

    try:
        settings = chatbot.settings.get_settings()
    except ValueError as exc:
        err.print(f"[red]invalid settings:[/red] {exc}")
        raise typer.Exit(1) from exc
    for line in chatbot.settings.unknown_settings(dict(os.environ)):
        err.print(f"[yellow]warning:[/yellow] {line}", soft_wrap=True)
    make_home(settings.home)
    return settings


def open_services() -> Services:
    """Services over the settings (they start nothing until used)."""
    from chatbot.services import Services

    return Services(load_settings())
