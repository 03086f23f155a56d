"""LangChain loaders as ingest sources (`ragbot ingest --loader module:Class --loader-arg k=v`, `--loader-config`):
their documents go through the same bookkeeping as files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from ingestion.langchain_loaders import LoaderSpec, ingest_loader
from tests.integration.test_web_ingest import run_cli

pytestmark = pytest.mark.integration

CSV_LOADER = "langchain_community.document_loaders:CSVLoader"
ROWS = [
    ("How do I factory reset the hub?", "Hold the reset button on the back of the hub for 10 seconds until the LED "
     "blinks amber, then release it."),
    ("Which payment methods are accepted?", "Visa, Mastercard, American Express and PayPal."),
    ("How long is the warranty?", "Two years from the date of purchase, for hardware faults."),
]


def write_faq(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Question", "Answer"])
        writer.writerows(rows)
    return path


def test_csv_loader_via_cli_then_incremental_edits_prune_and_citations(services, settings, tmp_path, collection):
    faq = write_faq(tmp_path / "faq.csv", ROWS)
    assert services.store.list_documents(collection) == []  # the database runs before the CLI attaches to it
    first = run_cli(["ingest", "--loader", CSV_LOADER, "--loader-arg", f"file_path={faq}", "-c", collection,
                     "--json"], settings)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert (report["files_ok"], report["documents_added"], report["files_failed"]) == (1, 1, [])
    [doc] = services.store.list_documents(collection)
    assert doc.source == faq.resolve().as_posix() and doc.chunks >= 1
    assert doc.metadata["loader"] == LoaderSpec(CSV_LOADER, {"file_path": str(faq)}).label

    spec = LoaderSpec(CSV_LOADER, {"file_path": str(faq)})
    again = ingest_loader(services.ingestor, spec, collection)
    assert (again.documents_unchanged, again.chunks_added) == (1, 0)
    write_faq(faq, [*ROWS, ("Does the hub support Matter?", "Yes, since firmware 3.2.")])
    edited = ingest_loader(services.ingestor, spec, collection)
    assert (edited.documents_updated, edited.documents_added) == (1, 0)

    # One document per row (source_column); --prune removes the row that went.
    by_row = LoaderSpec(CSV_LOADER, {"file_path": str(faq), "source_column": "Question"})
    rows = ingest_loader(services.ingestor, by_row, collection + "-rows")
    assert rows.documents_added == len(ROWS) + 1
    write_faq(faq, ROWS[1:])
    pruned = ingest_loader(services.ingestor, by_row, collection + "-rows", prune=True)
    assert (pruned.documents_removed, pruned.documents_unchanged) == (2, len(ROWS) - 1)
    assert {d.source for d in services.store.list_documents(collection + "-rows")} == {q for q, _ in ROWS[1:]}
    services.store.delete_collection(collection + "-rows")

    answer = None
    for event in services.chain.stream("How do I factory reset the hub?", generator="extractive",
                                       collection=collection):
        answer = event.answer if event.kind == "done" else answer
    assert answer is not None and "reset button" in answer.text
    assert {source["source"] for source in answer.sources_json()} == {"faq.csv"}  # its name, never a server path


def test_loader_config_runs_several_and_bad_loaders_are_reported(settings, services, tmp_path, collection):
    faq = write_faq(tmp_path / "faq.csv", ROWS)
    notes = tmp_path / "notes.txt"
    notes.write_text("Release notes\n\nFirmware 3.2 adds Matter bridging.\n", encoding="utf-8")
    config = tmp_path / "loaders.yaml"
    config.write_text(f"- loader: {CSV_LOADER}\n  args: {{file_path: '{faq}'}}\n"
                      f"- loader: langchain_community.document_loaders:TextLoader\n  args: {{file_path: '{notes}'}}\n"
                      "- loader: no_such_package.loaders:Nothing\n"
                      "- loader: pathlib:Path\n", encoding="utf-8")
    assert services.store.list_documents(collection) == []
    result = run_cli(["ingest", "--loader-config", str(config), "-c", collection, "--json"], settings)
    assert result.returncode == 2, result.stderr
    report = json.loads(result.stdout)
    assert report["files_ok"] == report["documents_added"] == 2
    errors = {f["path"].split("(")[0]: f["error"] for f in report["files_failed"]}
    assert "cannot import" in errors["no_such_package.loaders:Nothing"]
    assert "not a LangChain document loader" in errors["pathlib:Path"]
    assert "Traceback" not in result.stderr
    bad = run_cli(["ingest", "--loader", CSV_LOADER, "--loader-arg", "file_path=/nonexistent.csv", "-c", collection],
                  settings)
    assert bad.returncode == 1 and "nonexistent.csv" in bad.stderr
