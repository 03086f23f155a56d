"""CLI tables piped to a file or `grep` keep every cell whole (a terminal's 80 columns would cut names)."""

from __future__ import annotations

from rich.table import Table

from chatbot.tables import print_table


def test_a_piped_table_keeps_long_names_whole(capsys):
    name = "support-faq-2026-11-oracles-seed-2-long-name"
    table = Table("", "name", "quant", "created", "steps", "eval loss", "collection", "state")
    table.add_row("*", name, "nf4", "2026-11-26T04:40:25", "79", "1.0976", "python-faq-256", "files only")
    print_table(table)
    out = capsys.readouterr().out
    assert name in out and "2026-11-26T04:40:25" in out and "python-faq-256" in out
