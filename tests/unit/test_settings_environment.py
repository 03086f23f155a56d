"""Importing the settings changes no environment variable; `configure_environment` (program start) does."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from chatbot.settings import OFFLINE_ENVIRONMENT

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROBE = ("import json, os; keys = {keys!r}; before = {{k: os.environ.get(k) for k in keys}}; "
         "import chatbot.settings as s; imported = {{k: os.environ.get(k) for k in keys}}; "
         "s.configure_environment(); print(json.dumps([before, imported, {{k: os.environ[k] for k in keys}}]))")


def test_import_leaves_the_environment_and_configure_sets_only_what_is_unset():
    env = {k: v for k, v in os.environ.items() if k not in OFFLINE_ENVIRONMENT} | {"HF_HUB_OFFLINE": "0"}
    out = subprocess.run([sys.executable, "-c", PROBE.format(keys=list(OFFLINE_ENVIRONMENT))], env=env, cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    before, imported, configured = json.loads(out)
    assert imported == before
    assert configured == OFFLINE_ENVIRONMENT | {"HF_HUB_OFFLINE": "0"}  # a value already set is kept


def test_a_misspelt_setting_is_named_with_the_setting_it_resembles():
    from chatbot.settings import unknown_settings

    lines = unknown_settings({"RAGBOT_TOPK": "3", "RAGBOT_TOP_K": "5", "RAGBOT_ZZZ": "1", "PATH": "/bin",
                              "RAGBOT_DATABASE_URL": "postgresql://x"})
    assert lines == ["RAGBOT_TOPK is not a setting and is ignored (did you mean RAGBOT_TOP_K?)",
                     "RAGBOT_ZZZ is not a setting and is ignored"]


def test_the_cli_warns_about_an_unknown_setting_and_goes_on(tmp_path):
    import subprocess
    import sys

    env = {"RAGBOT_HOME": str(tmp_path), "RAGBOT_TOPK": "3", "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-m", "chatbot", "adapters", "list"], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "RAGBOT_TOPK is not a setting and is ignored (did you mean RAGBOT_TOP_K?)" in out.stderr
