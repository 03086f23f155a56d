"""`python -m training ...`: the training commands without the rest of the `ragbot` CLI."""

from training.cli import app

app(prog_name="python -m training")
