"""Stale adapters on the real embedded Postgres: the documents a training set drew on are recorded, and the adapter
turns stale once one of them is ingested again with other content, and once one is deleted; the CLI, Admin's table,
`/v1/models` and the retraining job see it. The adapter is registered from a real `prepare_data` without training
(the tiny QLoRA run of test_training is too slow to repeat here)."""

from __future__ import annotations

import json
import shutil

import httpx
import pytest

from chatbot.storage.adapter_registry import adapter_entries
from tests.integration.private_db import run_cli, serving

pytestmark = pytest.mark.integration

DOCS = {
    "hub.md": "# Resetting the hub\n\nHold the reset button for ten seconds until the light blinks blue.\n",
    "battery.md": "# Battery\n\nThe battery lasts two weeks and charges in three hours over USB-C.\n",
    "warranty.md": "# Warranty\n\nThe warranty covers two years from the date of purchase.\n",
}
QA = [
    {"question": "How do I reset the hub?", "answer": "Hold the reset button for ten seconds.", "source": "hub.md"},
    {"question": "How long does the battery last?", "answer": "The battery lasts two weeks.", "source": "battery.md"},
]


@pytest.fixture
def recorded(services, settings, collection, tmp_path):
    """An adapter registered with the manifest a training on `collection` would record; unregistered after."""
    from training.train import TrainConfig, prepare_data

    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in DOCS.items():
        (folder / name).write_text(text)
    assert not services.ingestor.ingest_paths([folder], collection).files_failed
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps({**row, "split": "train"}) + "\n" for row in QA))
    config = TrainConfig(qa=str(qa), collection=collection, k=2, val_fraction=0.0, max_steps=1)
    data = prepare_data(services.corpus, config, collection, top_k=2)
    name = f"stale-{collection[-40:]}".replace("_", "-")[:60]
    files = tmp_path / name
    files.mkdir()
    (files / "adapter_config.json").write_text("{}")
    manifest = {"name": name, "created_at": "2001-01-01T00:00:00+00:00", "quant": "nf4",
                "base_model": {"location": "unused"},
                "data": {"qa_file": str(qa), "split": "train", "collection": collection, "documents": data.documents},
                "hyperparameters": {k: v for k, v in config.to_json().items()
                                    if k not in ("qa", "collection", "name", "split")}}
    services.adapter_registry.register(name, files, manifest)
    try:
        yield name, folder, data.documents
    finally:
        services.adapter_registry.unregister(name)
        services.store.delete_collection(collection)


def entry(services, settings, name):
    return next(e for e in adapter_entries(services.adapter_registry, settings.adapters_dir) if e["name"] == name)


def test_an_adapter_turns_stale_when_a_training_document_changes_or_goes(services, settings, collection, recorded):
    name, folder, documents = recorded
    stored = {d.source.rsplit("/", 1)[-1]: d for d in services.store.list_documents(collection)}
    assert {d["id"] for d in documents} >= {stored["hub.md"].id, stored["battery.md"].id}  # the oracles' documents
    assert all(d["sha256"] == stored[d["source"].rsplit("/", 1)[-1]].sha256 for d in documents)
    fresh = entry(services, settings, name)
    assert (fresh["stale"], fresh["documents_recorded"], fresh["changed_documents"]["count"]) == (False, True, 0)

    services.ingestor.ingest_paths([folder], collection)  # the same content again: still fresh
    assert entry(services, settings, name)["stale"] is False

    (folder / "hub.md").write_text(DOCS["hub.md"].replace("ten seconds", "twenty seconds"))
    services.ingestor.ingest_paths([folder / "hub.md"], collection)
    changed = entry(services, settings, name)
    assert changed["stale"] is True and changed["changed_documents"]["count"] == 1
    assert changed["changed_documents"]["documents"][0] | {"id": 0} == {
        "id": 0, "title": stored["hub.md"].title, "source": stored["hub.md"].source, "collection": collection,
        "change": "changed"}

    services.store.delete_document(stored["battery.md"].id)
    gone = entry(services, settings, name)["changed_documents"]
    assert gone["count"] == 2 and {d["change"] for d in gone["documents"]} == {"changed", "deleted"}

    listed = run_cli(["adapters", "list", "--json"], settings)
    assert listed.returncode == 0, listed.stderr
    mine = next(a for a in json.loads(listed.stdout)["adapters"] if a["name"] == name)
    assert mine["stale"] is True and mine["changed_documents"]["count"] == 2
    table = run_cli(["adapters", "list"], settings)
    assert "yes: 2 documents changed" in table.stdout.replace("\n", " ") or "yes: 2" in table.stdout


def test_models_admin_and_retraining_see_the_stale_adapter(services, settings, collection, recorded):
    from chatbot.credentials import AdminCredentials
    from chatbot.server import create_server
    from chatbot.ui.training_tab import adapter_rows
    from training.retrain import submit_retraining

    name, folder, _ = recorded
    (folder / "hub.md").write_text("# Resetting the hub\n\nUnplug it.\n")
    services.ingestor.ingest_paths([folder / "hub.md"], collection)
    with serving(create_server(services, AdminCredentials("admin", "s3cret-test-pw", generated=False),
                               with_ui=False)) as url:
        models = {m["id"]: m for m in httpx.get(f"{url}/v1/models").json()["data"]}
    meta = models[f"finetuned:{name}"]["ragbot"]
    assert (meta["adapter"], meta["stale"], meta["documents_recorded"]) == (name, True, True)
    assert meta["changed_documents"] == {"count": 1, "documents": [
        {"title": "Resetting the hub", "source": "hub.md", "change": "changed"}]}  # no server folder shown
    assert models["base"].get("ragbot") is None
    row = next(r for r in adapter_rows(services.adapter_registry, settings) if r[1] == name)
    assert row[-1] == "yes: 1 document changed — Resetting the hub"

    job = submit_retraining(services.jobs, services.adapter_registry, settings, name, queued_by="test")
    try:
        assert job.kind == "training" and job.status == "queued"
        with services.pool.connection() as conn:
            config = conn.execute("SELECT arguments FROM jobs WHERE id = %s", (job.id,)).fetchone()[0]["config"]
        assert config["collection"] == collection and config["k"] == 2 and config["max_steps"] == 1
        assert config["name"] != name and config["name"].startswith(collection[:40])
    finally:
        services.jobs.cancel(job.id)
    shutil.rmtree(settings.home / "runs" / config["name"], ignore_errors=True)
