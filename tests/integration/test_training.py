"""Training on the real embedded Postgres with the real bundled models: builder, a tiny QLoRA run that is
registered, loads, changes answers and resumes; the adapters commands; `eval answers --json`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chatbot.prompts import rag_messages
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.integration

QA = EXAMPLES / "qa.jsonl"
NAME = "tiny-test"


@pytest.fixture(scope="module")
def tiny_qa(tmp_path_factory) -> Path:
    """Four train pairs from three documents (3 train + 1 validation example)."""
    rows = [json.loads(line) for line in QA.read_text().splitlines() if line.strip()]
    picked = [r for r in rows if r["split"] == "train"][:4]
    path = tmp_path_factory.mktemp("qa") / "tiny.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in picked))
    return path


@pytest.fixture
def cli(settings, monkeypatch):
    """The training CLI in-process, on the test settings."""
    import chatbot.settings
    from training.cli import app

    monkeypatch.setattr(chatbot.settings, "get_settings", lambda: settings)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args), catch_exceptions=False)


def test_builder_finds_the_oracle_in_the_named_document(services, examples_ingested):
    from training.dataset import build_examples, load_qa

    pairs = load_qa(QA, "train")[:12]
    examples, stats = build_examples(services.corpus, pairs, "examples", k=4, p=1.0, seed=0)
    assert stats.oracle_by_document == 12 and stats.oracle_present == 12 and not stats.unmatched_documents
    docs = {d.id: d.source for d in services.store.list_documents("examples")}
    with services.pool.connection() as conn:
        owner = dict(conn.execute("SELECT id, document_id FROM chunks").fetchall())
    for pair, example in zip(pairs, examples, strict=True):
        assert example.oracle_numbers and len(example.oracle_numbers) <= 2  # at most half of k=4
        assert all(docs[owner[i]].endswith("/" + pair.source) for i in example.oracle_chunk_ids)
        assert len(example.chunk_ids) == 4 and len(set(example.chunk_ids)) == 4
        assert example.messages[2]["content"].endswith(" " + "".join(f"[{n}]" for n in sorted(example.oracle_numbers)))
    # the prompt is exactly `rag_messages` over the shown chunks (title, page/heading and text from the store)
    with services.pool.connection() as conn:
        stored = {row[0]: (row[1], {"title": row[2], "source": row[3], "page": row[4].get("page"),
                                    "heading": row[4].get("heading")})
                  for row in conn.execute("SELECT k.id, k.text, d.title, d.source, k.metadata FROM chunks k"
                                          " JOIN documents d ON d.id = k.document_id")}
    for pair, example in zip(pairs, examples, strict=True):
        assert example.messages[:2] == rag_messages(pair.question, [stored[i] for i in example.chunk_ids])


def test_each_pair_is_drawn_once_per_epoch_from_the_same_sources(services, examples_ingested):
    from training.dataset import build_examples, load_qa

    pairs = load_qa(QA, "train")[:12]
    examples, stats = build_examples(services.corpus, pairs, "examples", k=4, p=0.5, seed=0, draws=3)
    assert len(examples) == 36 and stats.pairs == 12 and stats.examples == 36
    assert stats.oracle_present == sum(bool(e.oracle_numbers) for e in examples)
    for index, pair in enumerate(pairs):
        draws = examples[3 * index: 3 * index + 3]
        assert {e.question_id for e in draws} == {pair.id} and len({tuple(e.oracle_chunk_ids) for e in draws}) == 1
    orders = [tuple(e.chunk_ids) for e in examples]
    assert sum(len(set(orders[i: i + 3])) > 1 for i in range(0, 36, 3)) >= 6  # most pairs are shown differently
    once, _ = build_examples(services.corpus, pairs, "examples", k=4, p=0.5, seed=0)
    assert [e.messages for e in once] == [e.messages for e in examples[::3]]  # draw 0 is the single draw


def test_dry_run_writes_chat_jsonl(cli, examples_ingested, tiny_qa, tmp_path):
    out = tmp_path / "rows.jsonl"
    result = cli("train", "--qa", str(tiny_qa), "--collection", "examples", "--dry-run", "--out", str(out), "--json")
    summary = json.loads(result.stdout)
    # 3 training pairs drawn once per epoch (3 by default) + 1 validation pair drawn once
    assert summary["examples"] == 10 and summary["train_examples"] == 9 and summary["validation_examples"] == 1
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [[m["role"] for m in r["messages"]] for r in rows] == [["system", "user", "assistant"]] * 10


def test_tiny_training_registers_loads_changes_answers_and_resumes(services, examples_ingested, tiny_qa):
    from chatbot.generators import Generators
    from chatbot.storage.adapter_registry import AdapterRegistry
    from training.train import TrainConfig, train

    config = TrainConfig(qa=str(tiny_qa), collection="examples", name=NAME, max_steps=2, batch_size=1, k=2,
                         lr=5e-3, lora_r=8, lora_alpha=16, save_steps=1, seed=1)
    first = train(services.corpus, services.adapter_registry, services.settings, config)
    assert first.manifest["metrics"]["steps"] == 2
    assert (first.path / "adapter_config.json").is_file() and (first.path / "adapter_model.safetensors").is_file()
    manifest = json.loads((first.path / "manifest.json").read_text())
    assert manifest["quant"] == "nf4" and len(manifest["base_model"]["sha256"]) == 64
    assert manifest["created_at"].endswith("+00:00") and manifest["metrics"]["eval_loss"] is not None
    assert manifest["data"]["train_examples"] == 3 and manifest["data"]["validation_examples"] == 1
    documents = manifest["data"]["documents"]  # what the examples drew on, for stale-adapter checks
    stored = {d.id: d.sha256 for d in services.store.list_documents("examples")}
    assert documents and all(stored[d["id"]] == d["sha256"] for d in documents)

    resumed = train(services.corpus, services.adapter_registry, services.settings,
                    TrainConfig(**{**config.to_json(), "max_steps": 3}), resume=True)
    metrics = resumed.manifest["metrics"]
    assert metrics["resumed_from"] == "checkpoint-2" and metrics["steps"] == 3 and metrics["steps_this_run"] == 1
    assert metrics["seconds_all_runs"] > metrics["seconds"] > 0  # the first run's time is counted too
    assert resumed.manifest["data"]["documents"] == documents  # recorded with the run, not rebuilt

    rows = {r.name: r for r in AdapterRegistry(services.pool).rows()}
    assert rows[NAME].quant == "nf4" and rows[NAME].manifest["metrics"]["steps"] == 3

    # it loads in the product's generator …
    assert Generators(services.settings).chat_model(f"finetuned:{NAME}") is not None
    # … and, on the NF4 base it was trained on, answers differently from that base without it
    local = Generators(services.settings).backend.local("nf4")
    local.load_adapter(NAME, resumed.path)
    prompt = json.loads((services.settings.home / "runs" / NAME / "train.jsonl").read_text().splitlines()[0])
    messages = prompt["messages"][:2]
    plain = "".join(local.stream(messages, adapter=None, max_new_tokens=24))
    tuned = "".join(local.stream(messages, adapter=NAME, max_new_tokens=24))
    assert plain != tuned


def test_adapters_list_use_delete(cli, services):
    from chatbot.storage.adapter_registry import AdapterRegistry

    listed = json.loads(cli("adapters", "list", "--json").stdout)["adapters"]
    assert any(a["name"] == NAME and a["registered"] and a["on_disk"] for a in listed)
    assert "active adapter: " + NAME in cli("adapters", "use", NAME).stdout
    assert AdapterRegistry(services.pool).active() == NAME
    assert cli("adapters", "use", "no-such-adapter").exit_code == 1


def test_eval_answers_json_schema(cli, examples_ingested, tmp_path):
    result = cli("answers", "--qa", str(QA), "--collection", "examples", "--adapter", NAME, "--limit", "3",
                 "--json", "--plot", str(tmp_path / "chart.png"), "--report", str(tmp_path / "report.md"))
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)  # exactly one JSON object on stdout
    assert data["n"] == 3 and 0.0 <= data["finetuned_win_rate"] <= 1.0
    for arm in ("base", "finetuned", "extractive"):
        assert set(data[arm]) == {"f1", "rougeL", "citation_valid", "grounded", "seconds_per_answer"}
        assert 0.0 <= data[arm]["f1"] <= 1.0 and data[arm]["seconds_per_answer"] > 0
    assert data["generators"]["finetuned"] == f"finetuned:{NAME}"
    assert data["extractive"]["citation_valid"] == 1.0 and data["extractive"]["grounded"] == 1.0
    choice = data["source_choice"]
    assert set(choice) == {"questions", "base_picked", "finetuned_picked", "gold_source_rougeL",
                           "gold_source_win_rate"}
    assert 1 <= choice["questions"] <= 3 and 0.0 < choice["gold_source_rougeL"] <= 1.0
    assert (tmp_path / "chart.png").stat().st_size > 1000
    assert (tmp_path / "report.md").read_text().count("**Gold**") == 3


def test_delete_removes_files_checkpoints_and_row(cli, services):
    from chatbot.storage.adapter_registry import AdapterRegistry

    assert cli("adapters", "delete", NAME).exit_code == 0
    assert not (services.settings.adapters_dir / NAME).exists()
    assert not (services.settings.home / "runs" / NAME).exists()
    assert NAME not in {r.name for r in AdapterRegistry(services.pool).rows()}
    assert cli("adapters", "delete", NAME).exit_code == 1
