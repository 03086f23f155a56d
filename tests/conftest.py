"""Shared fixtures: real embedded Postgres + bundled models for integration tests, a private RAGBOT_HOME."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chatbot.settings import configure_environment

configure_environment()  # what the CLI does at start: offline, no telemetry

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
EXAMPLE_DOCS = EXAMPLES / "docs"
SHARED_MODELS = REPO / ".ragbot" / "models"


@pytest.fixture(scope="session")
def ragbot_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private RAGBOT_HOME whose models/ points at the repo's prepared models (converted once)."""
    from chatbot.models import base_model_location
    from chatbot.settings import Settings

    base_model_location(Settings(home=REPO / ".ragbot"))  # converts the bundled GGUF on first use
    home = tmp_path_factory.mktemp("home")
    (home / "models").symlink_to(SHARED_MODELS, target_is_directory=True)
    return home


@pytest.fixture(scope="session")
def settings(ragbot_home: Path):
    """Integration settings: the embedded database under the private home, short answers, and no per-client rate
    limit or cap on answers in flight (every test client is 127.0.0.1; tests of the limits set their own, see
    test_security_abuse and test_shared_state)."""
    from chatbot.settings import Settings

    return Settings(home=ragbot_home, max_new_tokens=32, rate_limit_per_minute=0, max_answers_per_client=0,
                    _env_file=None)


@pytest.fixture(autouse=True)
def forget_shared_limits(request: pytest.FixtureRequest) -> Iterator[None]:
    """Rate buckets and failed logins live in the session's database, which every test's app shares (all as
    127.0.0.1): each test leaves none behind for the next."""
    yield
    if "settings" not in request.fixturenames or request.node.get_closest_marker("integration") is None:
        return  # a unit test's own `settings` is torn down by now
    from chatbot.storage import db

    settings = request.getfixturevalue("settings")
    if db.embedded_running(settings):
        with db.connect(db.database_url(settings), vector=False) as conn:
            if conn.execute("SELECT to_regclass('login_failures') IS NOT NULL").fetchone()[0]:
                conn.execute("TRUNCATE rate_buckets, login_failures")


@pytest.fixture(scope="session")
def services(settings) -> Iterator:
    from chatbot.services import Services
    from chatbot.storage import db

    services = Services(settings)
    yield services
    services.close()
    db.stop_embedded(settings)


@pytest.fixture(scope="module")
def job_worker(services) -> Iterator:
    """A job worker in a thread of this process on the session's database (as `ragbot serve` runs one), for one
    module: left running, it would take later modules' jobs with the session's settings instead of theirs."""
    from chatbot.queue.worker import InProcessWorker

    services.pool  # noqa: B018 — migrated before the worker takes jobs
    worker = InProcessWorker(services).start()
    yield worker
    worker.stop()


@pytest.fixture(scope="session")
def examples_ingested(services):
    """`examples/docs` ingested once into the `examples` collection."""
    report = services.ingestor.ingest_paths([EXAMPLE_DOCS], "examples")
    assert not report.files_failed, report.files_failed
    return report


@pytest.fixture
def collection(request: pytest.FixtureRequest) -> str:
    """A collection name unique to the test."""
    return "t-" + request.node.name.replace("[", "-").replace("]", "")[:80]


@pytest.fixture(scope="session")
def untrained_adapter(settings) -> str:
    """A LoRA adapter with random (not zero) weights, so its answers differ from the base's."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from chatbot.models import base_model_location

    name = "random-lora"
    target = settings.adapters_dir / name
    if not (target / "adapter_config.json").exists():
        model = AutoModelForCausalLM.from_pretrained(base_model_location(settings), local_files_only=True)
        config = LoraConfig(r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False,
                            task_type="CAUSAL_LM")
        get_peft_model(model, config).save_pretrained(target)
    return name
