"""docs/configuration.md lists every setting by its environment name, and names no setting that does not exist."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import AliasChoices

from chatbot.settings import Settings

CONFIGURATION = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def env_name(name: str) -> str:
    """The variable a field is read from: its first alias choice in upper case (`DATABASE_URL`), else RAGBOT_<NAME>."""
    alias = Settings.model_fields[name].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0]).upper()
    return f"RAGBOT_{name.upper()}"


def documented() -> set[str]:
    return set(re.findall(r"`((?:RAGBOT_)?[A-Z][A-Z0-9_]+)`", CONFIGURATION.read_text(encoding="utf-8")))


def test_every_setting_is_documented_by_its_environment_name():
    missing = sorted(env_name(name) for name in Settings.model_fields if env_name(name) not in documented())
    assert not missing, f"settings missing from docs/configuration.md: {', '.join(missing)}"


def test_every_documented_ragbot_variable_is_a_setting():
    known = {env_name(name) for name in Settings.model_fields}
    unknown = sorted(v for v in documented() if v.startswith("RAGBOT_") and v not in known)
    assert not unknown, f"docs/configuration.md names variables that are not settings: {', '.join(unknown)}"
