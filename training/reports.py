"""Saved 2×2 reports: `RAGBOT_HOME/reports/<UTC timestamp>-<collection>/` with report.html, result.json,
records.jsonl and the charts as PNG — written the same way by `ragbot eval compare` and by the admin
UI's job (`submit_compare`), and listed back for the UI."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chatbot.chain import RagChain
from chatbot.embeddings import Embedder
from chatbot.generators import Generators
from chatbot.queue.progress import Progress
from chatbot.queue.records import JobRecord
from chatbot.queue.service import JobQueue
from chatbot.queue.tasks import task
from chatbot.settings import Settings, StorageSettings
from chatbot.storage.store import Store
from training.compare import ARMS, QUALITY, charts, compare_arms, difference_rows, html_report

REPORT_HTML, RESULT_JSON, RECORDS_JSONL = "report.html", "result.json", "records.jsonl"
CHART_NAMES = ("quality", "cost")
REPORT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,150}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
SUMMARY_HEADERS = ["arm", *(label for _, label in QUALITY), "s / answer", "first token s", "peak RSS MB"]
ANSWER_SHARE = 0.95  # of the job's progress bar; the rest is writing the report


def reports_dir(settings: StorageSettings) -> Path:
    return settings.home / "reports"


def report_name(collection: str, when: datetime | None = None) -> str:
    """`20260102T030405Z-<collection>`: sorts by time; the collection part is made file-name safe."""
    stamp = (when or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    safe = _UNSAFE.sub("-", collection).strip(".-")[:60] or "collection"
    return f"{stamp}-{safe}"


def new_report_folder(settings: Settings, collection: str, when: datetime | None = None) -> Path:
    """A fresh, empty folder under `reports_dir` (a suffix when two runs finish in the same second)."""
    root = reports_dir(settings)
    root.mkdir(parents=True, exist_ok=True)
    base = report_name(collection, when)
    for n in range(1, 1000):
        folder = root / (base if n == 1 else f"{base}-{n}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise FileExistsError(f"no free report folder name for {base} in {root}")


def write_report(folder: Path, outcome: dict[str, Any], mpl_config_dir: Path, *, qa: Path | None = None) -> Path:
    """report.html, result.json (the summary, plus the QA file's name and the time), records.jsonl (every
    answer) and quality.png / cost.png into `folder` (created when missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    result = {**outcome["result"], "qa": qa.name if qa else None,
              "created_at": datetime.now(UTC).isoformat(timespec="seconds")}
    figures = charts(result, mpl_config_dir)
    try:
        (folder / REPORT_HTML).write_text(html_report(result, outcome["records"], figures), encoding="utf-8")
        for name, figure in figures.items():
            figure.savefig(folder / f"{name}.png")
    finally:
        import matplotlib.pyplot as plt

        for figure in figures.values():  # a long-running server must not keep every figure alive
            plt.close(figure)
    with (folder / RECORDS_JSONL).open("w", encoding="utf-8") as handle:
        for arm in ARMS:
            for record in outcome["records"][arm]:
                handle.write(json.dumps(record.to_json(), ensure_ascii=False) + "\n")
    (folder / RESULT_JSON).write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    return folder


def run_compare_report(chain: RagChain, store: Store, embedder: Embedder, settings: Settings, qa: Path, *,
                       split: str | None = "test", collection: str | None = None, adapter: str | None = None,
                       limit: int | None = None, progress: bool = True,
                       on_progress: Callable[[int, int], None] | None = None) -> Path:
    """Run the 2×2 and save its report folder (created only once every answer is in); returns the folder."""
    collection = collection or settings.collection
    outcome = compare_arms(chain, store, embedder, settings, qa, split=split, collection=collection, adapter=adapter,
                           limit=limit, progress=progress, on_progress=on_progress)
    folder = new_report_folder(settings, collection)
    return write_report(folder, outcome, settings.home / "cache" / "matplotlib", qa=qa)


def check_compare(generators: Generators, qa: Path, split: str | None, adapter: str | None) -> int:
    """Fail before queueing what would fail at once: the QA file and split, the adapter. Returns the pairs."""
    from training.dataset import load_qa

    pairs = load_qa(qa, split)
    generators.resolve(f"finetuned:{adapter}" if adapter else "finetuned")
    return len(pairs)


@task("evaluation")
def evaluation_task(services: Any, progress: Progress, qa: str, split: str | None, collection: str,
                    adapter: str | None, limit: int | None, questions: int) -> dict[str, Any]:
    """The job: the 2×2 on `collection`, saved as a report folder (named in the result)."""
    progress(0.0, f"loading the models for {questions} question(s) × {len(ARMS)} arms")

    def answered(done: int, total: int) -> None:
        progress(ANSWER_SHARE * done / max(total, 1), f"answer {done}/{total}")

    folder = run_compare_report(services.chain, services.store, services.embedder, services.settings, Path(qa),
                                split=split, collection=collection, adapter=adapter, limit=limit, progress=False,
                                on_progress=answered)
    result = json.loads((folder / RESULT_JSON).read_text(encoding="utf-8"))
    return {"report": folder.name, "path": str(folder), "n": result["n"], "best_arm_by_f1": result["best_arm_by_f1"]}


def submit_compare(jobs: JobQueue, generators: Generators, settings: Settings, qa: Path, *, queued_by: str,
                   split: str | None = "test", collection: str | None = None, adapter: str | None = None,
                   limit: int | None = None) -> JobRecord:
    """Queue the 2×2 as a job; its result names the report folder. Raises `DatasetError` /
    `GeneratorUnavailable` at once for a bad QA file, split or adapter."""
    collection = collection or settings.collection
    pairs = check_compare(generators, qa, split, adapter)
    questions = min(pairs, limit) if limit else pairs
    title = f"2×2 on '{collection}': {qa.name}, split {split or 'all'}, {questions} question(s)"
    return jobs.submit("evaluation", title, {"qa": str(qa), "split": split, "collection": collection,
                                             "adapter": adapter, "limit": limit, "questions": questions},
                       queued_by=queued_by)


# --- reading reports back ------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    name: str
    path: Path
    result: dict[str, Any]

    def file(self, name: str) -> Path | None:
        path = self.path / name
        return path if path.is_file() else None

    @property
    def charts(self) -> list[Path]:
        return [p for p in (self.path / f"{n}.png" for n in CHART_NAMES) if p.is_file()]


def load_report(settings: Settings, name: str) -> Report | None:
    """A report folder by name (only plain names directly under `reports_dir`); None when absent or unreadable."""
    if not name or not REPORT_NAME.match(name):
        return None
    path = reports_dir(settings) / name
    try:
        result = json.loads((path / RESULT_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return Report(name, path, result) if isinstance(result, dict) else None


def list_reports(settings: Settings) -> list[Report]:
    """Complete report folders (with a readable result.json), newest first."""
    root = reports_dir(settings)
    if not root.is_dir():
        return []
    reports = (load_report(settings, p.name) for p in root.iterdir() if p.is_dir())
    return sorted((r for r in reports if r is not None), key=lambda r: r.name, reverse=True)


def _number(value: Any, digits: int) -> Any:
    return round(value, digits) if isinstance(value, int | float) else None


def summary_rows(result: dict[str, Any]) -> list[list[Any]]:
    """One row per arm, in `SUMMARY_HEADERS` order."""
    arms = result.get("arms") or {}
    rows = []
    for arm in ARMS:
        values = arms.get(arm) or {}
        rows.append([arm, *(_number(values.get(key), 3) for key, _ in QUALITY),
                     _number(values.get("seconds_per_answer"), 2), _number(values.get("first_token_seconds"), 2),
                     values.get("peak_rss_mb")])
    return rows


def detail_rows(result: dict[str, Any]) -> list[list[Any]]:
    """What the run was: (field, value) rows."""
    retrieval = (result.get("costs") or {}).get("retrieval") or {}
    fields = [
        ("collection", result.get("collection")), ("QA file", result.get("qa")), ("split", result.get("split")),
        ("questions", result.get("n")), ("adapter", result.get("adapter")),
        ("best arm by token F1", result.get("best_arm_by_f1")),
        ("win rates of finetuned+rag (ROUGE-L)", json.dumps(result.get("win_rates_rougeL") or {})),
        *((f"{key}: F1, ROUGE-L difference (95 % bootstrap)", f"{f1}; {rouge}")
          for key, f1, rouge in difference_rows(result)),
        ("chunks in the collection", retrieval.get("chunks")), ("run seconds", result.get("seconds")),
        ("finished (UTC)", result.get("created_at")),
    ]
    return [[k, "" if v is None else str(v)] for k, v in fields]
