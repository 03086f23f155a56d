"""Tables for the CLI: whole when the output is piped (a log or `grep` gets every name), fitted to a terminal."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

PIPED_WIDTH = 240


def print_table(table: Table) -> None:
    Console(width=None if sys.stdout.isatty() else PIPED_WIDTH).print(table)
