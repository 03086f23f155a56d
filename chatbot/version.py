"""The installed ragbot's version, from the package metadata (pyproject.toml's `version`)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def ragbot_version() -> str:
    """`0.1.0`-style, or a note when the code runs from a tree that was never installed."""
    try:
        return version("ragbot")
    except PackageNotFoundError:
        return "unknown (not installed: pip install .)"
