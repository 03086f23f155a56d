"""RAGBOT_HOME holds the database, models, adapters and exports of users' questions: only its owner may read it."""

from __future__ import annotations

from pathlib import Path


def make_home(home: Path) -> Path:
    """Create `home` (and missing parents) if needed; a home created here is 0700. An existing one keeps its mode
    (the operator chose it)."""
    home.parent.mkdir(parents=True, exist_ok=True)
    home.mkdir(mode=0o700, exist_ok=True)
    return home
