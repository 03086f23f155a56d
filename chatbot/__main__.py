"""`python -m chatbot` = the `ragbot` command."""

from chatbot.cli import app

app(prog_name="ragbot")
