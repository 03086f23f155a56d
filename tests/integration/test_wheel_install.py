"""The built wheel installs into a fresh virtualenv (no system site-packages) and runs from its own metadata.

Offline and quick: the wheel is installed with `--no-deps`, then the venv sees exactly the distributions its
`Requires-Dist` closure names (markers and extras evaluated), linked from this environment, each checked against
constraints.txt and requirements.txt's pins. A package the code imports but the metadata omits is therefore
missing in the venv, and the import of every module fails naming it. (A full `pip install` from the registry of
the same wheel took 12 min 48 s on this 2-core machine; this test takes well under a minute plus the imports.)"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import REPO

pytestmark = pytest.mark.integration

SOURCES = ("pyproject.toml", "README.md", "chatbot", "ingestion", "training", "benchmarks", "sql")
IMPORT_EVERY_MODULE = """
import importlib, json, pkgutil, sys
import chatbot
from chatbot.storage import db
names = []
for top in ("chatbot", "ingestion", "training", "benchmarks"):
    package = importlib.import_module(top)
    found = pkgutil.walk_packages(package.__path__, top + ".")
    names += [top] + [m.name for m in found if not m.name.endswith("__main__")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"modules": len(names), "chatbot": chatbot.__file__, "migrations": len(db.migration_files())}))
"""


def pins() -> dict[str, Requirement]:
    """constraints.txt and requirements.txt, by distribution name (their specifiers joined)."""
    found: dict[str, Requirement] = {}
    for name in ("constraints.txt", "requirements.txt"):
        for line in (REPO / name).read_text(encoding="utf-8").splitlines():
            if line := line.split("#", 1)[0].strip():
                requirement = Requirement(line)
                key = canonicalize_name(requirement.name)
                if key in found:
                    found[key].specifier &= requirement.specifier
                else:
                    found[key] = requirement
    return found


def dependency_closure(requirements: list[str]) -> dict[str, str]:
    """Name → installed version of every distribution `requirements` need, transitively (this environment)."""
    constraints, versions = pins(), {}
    todo = [(Requirement(r), "") for r in requirements]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        requirement, parent = todo.pop()
        name = canonicalize_name(requirement.name)
        if (name, frozenset(requirement.extras)) in seen:
            continue
        seen.add((name, frozenset(requirement.extras)))
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            pytest.fail(f"{name} (required by {parent or 'ragbot'}) is not installed here")
        for specifier in (requirement.specifier, constraints[name].specifier if name in constraints else None):
            if specifier is not None and not specifier.contains(dist.version, prereleases=True):
                pytest.fail(f"{name} {dist.version} does not satisfy {specifier} (required by {parent or 'ragbot'})")
        versions[name] = dist.version
        for line in dist.requires or []:
            child = Requirement(line)
            extras = ("", *requirement.extras)
            if child.marker is None or any(child.marker.evaluate({"extra": extra}) for extra in extras):
                todo.append((child, name))
    return versions


def link_distributions(names: list[str], target: Path) -> None:
    """Symlink each distribution's top-level files and folders (its dist-info included) into `target`."""
    target.mkdir()
    for name in names:
        dist = distribution(name)
        root = Path(str(dist.locate_file("")))
        for top in {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}:
            if not (target / top).exists() and (root / top).exists():
                (target / top).symlink_to(root / top)


def build_wheel(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    for name in SOURCES:
        copy = shutil.copytree if (REPO / name).is_dir() else shutil.copy
        copy(REPO / name, source / name, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                             if (REPO / name).is_dir() else {}))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(source),
                    "-w", str(tmp_path / "dist")], check=True, capture_output=True, text=True)
    return next((tmp_path / "dist").glob("ragbot-*.whl"))


def test_the_wheel_runs_in_a_fresh_virtualenv_from_its_own_metadata(tmp_path):
    (tmp_path / "source").mkdir()
    wheel = build_wheel(tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
                   check=True, capture_output=True, text=True)
    metadata = subprocess.run([str(python), "-c", "import importlib.metadata as m, json;"
                               "print(json.dumps(m.requires('ragbot')))"], capture_output=True, text=True, check=True)
    requirements = [r for r in json.loads(metadata.stdout) if "extra ==" not in r]
    link_distributions(sorted(dependency_closure(requirements)), tmp_path / "deps")
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "_ragbot_test_deps.pth").write_text(str(tmp_path / "deps") + "\n", encoding="utf-8")

    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    run = lambda *args: subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)  # noqa: E731
    version = run("ragbot", "--version")
    expected = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert version.returncode == 0 and version.stdout.strip() == f"ragbot {expected}", version
    helped = run("ragbot", "--help")
    assert helped.returncode == 0 and "ingest" in helped.stdout and "serve" in helped.stdout, helped.stderr
    imported = run(str(python), "-c", IMPORT_EVERY_MODULE)
    assert imported.returncode == 0, imported.stderr[-3000:]
    report = json.loads(imported.stdout.strip().splitlines()[-1])
    assert report["chatbot"].startswith(site) and report["modules"] > 90 and report["migrations"] >= 12, report
