"""The 2×2: base or fine-tuned, with or without retrieval — and the extractive generator (retrieval alone, no
model) as a fifth arm: quality and cost on the user's own data."""

from __future__ import annotations

import base64
import html
import io
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from chatbot.ab_stats import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, paired_bootstrap
from chatbot.chain import RagChain
from chatbot.embeddings import Embedder
from chatbot.settings import Settings
from chatbot.storage.store import Store
from training.arms import finetuned_generator, questions, run_arms
from training.evaluate import Condition, Record, summarize, win_rate

ARMS = ("base", "finetuned", "base+rag", "finetuned+rag", "extractive")
QUALITY = (("f1", "token F1"), ("rougeL", "ROUGE-L"), ("grounded", "grounded"), ("citation_valid", "valid citations"))


def _folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def retrieval_costs(store: Store, embedder: Embedder, collection: str) -> dict[str, Any]:
    """Index size in Postgres (the collection's share of the chunks table and its indexes) and the one-off
    ingest time, estimated from the embedder's measured rate on a sample of the collection's chunks."""
    footprint = store.index_footprint(collection)
    sample = store.sample_texts(collection, 64)
    rate = None
    if sample:
        started = time.perf_counter()
        embedder.encode(sample)
        rate = len(sample) / (time.perf_counter() - started)
    chunks = footprint.chunks
    share = chunks / footprint.total_chunks if footprint.total_chunks else 0.0
    return {"chunks": chunks, "index_bytes": int(footprint.table_bytes * share),
            "hnsw_bytes": int(footprint.hnsw_bytes),
            "estimated_ingest_seconds": round(chunks / rate, 1) if rate else None}


def finetuning_costs(adapter_path: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    metrics = manifest.get("metrics") or {}
    return {"adapter": adapter_path.name, "adapter_bytes": _folder_bytes(adapter_path),
            "training_seconds": metrics.get("seconds_all_runs") or metrics.get("seconds"),
            "training_steps": metrics.get("steps"), "quant": manifest.get("quant")}


def compare_arms(chain: RagChain, store: Store, embedder: Embedder, settings: Settings, qa: Path, *,
                 split: str | None = "test", collection: str | None = None, adapter: str | None = None,
                 limit: int | None = None, progress: bool = True,
                 on_progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Every question five ways; `{"result": JSON summary, "records": {arm: [Record]}}`; the retrieval costs
    are measured with the store and `embedder`.

    `progress` draws a tqdm bar on stderr (the CLI); `on_progress(done, total)` is called after each answer
    (the admin UI's background job)."""
    pairs = questions(qa, split, limit)
    collection = collection or settings.collection
    tuned, info = finetuned_generator(chain, adapter)
    conditions = [Condition("base", "base", False), Condition("finetuned", tuned, False),
                  Condition("base+rag", "base", True), Condition("finetuned+rag", tuned, True),
                  Condition("extractive", "extractive", True)]
    peak: dict[str, float] = dict.fromkeys(ARMS, 0.0)
    process = psutil.Process()
    total, done = len(pairs) * len(conditions), 0

    def tick(record: Record) -> None:
        nonlocal done
        done += 1
        peak[record.condition] = max(peak[record.condition], process.memory_info().rss / 1048576)
        if on_progress is not None:
            on_progress(done, total)

    started = time.perf_counter()
    records = run_arms(chain, pairs, conditions, collection, concurrency=settings.eval_concurrency,
                       progress=progress, desc="arms", on_record=tick)
    arms = arm_summaries(records, peak)
    result = {
        "n": len(pairs), "split": split, "collection": collection, "adapter": info.name, "arms": arms,
        "win_rates_rougeL": hybrid_win_rates(records),
        "differences": hybrid_differences(records),
        "costs": {"retrieval": retrieval_costs(store, embedder, collection),
                  "finetuning": finetuning_costs(info.path, info.manifest or {})},
        "best_arm_by_f1": max(ARMS, key=lambda a: arms[a]["f1"] or 0.0),
        "seconds": round(time.perf_counter() - started, 1),
    }
    return {"result": result, "records": records}


def arm_summaries(records: dict[str, list[Record]], peak_rss_mb: dict[str, float]) -> dict[str, Any]:
    """Per arm: the means of `summarize`, the mean seconds to the first token and the peak memory."""
    arms: dict[str, Any] = {}
    for arm in ARMS:
        summary = summarize(records[arm])
        ttft = [r.first_token_seconds for r in records[arm] if r.first_token_seconds is not None]
        summary["first_token_seconds"] = round(sum(ttft) / len(ttft), 3) if ttft else None
        summary["peak_rss_mb"] = round(peak_rss_mb[arm])
        arms[arm] = summary
    return arms


def hybrid_win_rates(records: dict[str, list[Record]]) -> dict[str, float]:
    """finetuned+rag's ROUGE-L win rate over each other arm."""
    hybrid = [r.scores.rougeL for r in records["finetuned+rag"]]
    return {f"finetuned+rag_vs_{arm}": round(win_rate(hybrid, [r.scores.rougeL for r in records[arm]])[0], 4)
            for arm in ARMS if arm != "finetuned+rag"}


def hybrid_differences(records: dict[str, list[Record]]) -> dict[str, Any]:
    """finetuned+rag minus each other arm, in token F1 and ROUGE-L: the mean paired difference with its 95 %
    percentile bootstrap interval (questions resampled with replacement, a fixed seed)."""
    hybrid = records["finetuned+rag"]
    differences: dict[str, Any] = {"resamples": BOOTSTRAP_RESAMPLES, "seed": BOOTSTRAP_SEED, "confidence": 0.95}
    for arm in ARMS:
        if arm != "finetuned+rag":
            differences[f"finetuned+rag_vs_{arm}"] = {
                metric: paired_bootstrap([getattr(r.scores, metric) for r in hybrid],
                                         [getattr(r.scores, metric) for r in records[arm]]).to_json()
                for metric in ("f1", "rougeL")}
    return differences


def difference_rows(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(comparison, F1 difference, ROUGE-L difference) as text: 'mean [low, high]'; none for older reports."""
    rows = []
    for key, value in (result.get("differences") or {}).items():
        if isinstance(value, dict):
            rows.append((key, *(f"{value[m]['mean']:+.3f} [{value[m]['low']:+.3f}, {value[m]['high']:+.3f}]"
                                for m in ("f1", "rougeL"))))
    return rows


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def charts(result: dict[str, Any], mpl_config_dir: Path) -> dict[str, Any]:
    """Matplotlib figures: quality per arm, quality vs cost."""
    mpl_config_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MPLCONFIGDIR", str(mpl_config_dir))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = result["arms"]
    quality, ax = plt.subplots(figsize=(8, 4.2), dpi=110)
    width = 0.8 / len(ARMS)
    for i, arm in enumerate(ARMS):
        values = [arms[arm].get(key) or 0.0 for key, _ in QUALITY]
        bars = ax.bar([x + (i - (len(ARMS) - 1) / 2) * width for x in range(len(QUALITY))], values, width, label=arm)
        ax.bar_label(bars, labels=[f"{v:.2f}" for v in values], fontsize=7, padding=1)
    ax.set_xticks(range(len(QUALITY)), [label for _, label in QUALITY])
    ax.set_ylim(0, 1.1)
    ax.set_title(f"Quality per arm (n={result['n']})", fontsize=10)
    ax.legend(fontsize=8, ncols=len(ARMS), loc="upper center")
    ax.grid(axis="y", alpha=0.3)
    quality.tight_layout()

    cost, ax2 = plt.subplots(figsize=(6, 4.2), dpi=110)
    for arm in ARMS:
        ax2.scatter(arms[arm]["seconds_per_answer"] or 0.0, arms[arm]["f1"] or 0.0, s=80)
        ax2.annotate(arm, (arms[arm]["seconds_per_answer"] or 0.0, arms[arm]["f1"] or 0.0),
                     textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax2.set_xlabel("seconds per answer")
    ax2.set_ylabel("token F1")
    ax2.set_title("Quality vs cost", fontsize=10)
    ax2.grid(alpha=0.3)
    cost.tight_layout()
    return {"quality": quality, "cost": cost}


def html_report(result: dict[str, Any], records: dict[str, list[Record]], figures: dict[str, Any]) -> str:
    """One self-contained HTML page: summary table, both charts (embedded PNGs), every question five ways."""
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(arm)}</td>" + "".join(
            f"<td>{(result['arms'][arm].get(key) or 0):.3f}</td>" for key, _ in QUALITY)
        + f"<td>{result['arms'][arm]['seconds_per_answer'] or 0:.2f}</td>"
        f"<td>{result['arms'][arm]['first_token_seconds'] or 0:.2f}</td>"
        f"<td>{result['arms'][arm]['peak_rss_mb']}</td></tr>"
        for arm in ARMS)
    questions = []
    for i, group in enumerate(zip(*(records[a] for a in ARMS), strict=True), start=1):
        cells = "".join(f"<td><b>{e(r.condition)}</b> (F1 {r.scores.f1:.2f})<br>{e(r.text)}</td>" for r in group)
        questions.append(f"<tr><td>{i}. {e(group[0].question)}<br><i>gold:</i> {e(group[0].gold)}</td>{cells}</tr>")
    costs = result["costs"]
    differences = "".join(f"<tr><td>{e(key)}</td><td>{e(f1)}</td><td>{e(rouge)}</td></tr>"
                          for key, f1, rouge in difference_rows(result))
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>ragbot 2x2</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top;font-size:13px}}</style></head><body>
<h1>Fine-tuning vs retrieval on {e(result['collection'])}</h1>
<p>{result['n']} questions (split {e(str(result['split']))}); adapter <code>{e(result['adapter'])}</code>;
best arm by token F1: <b>{e(result['best_arm_by_f1'])}</b>.</p>
<table><tr><th>arm</th>{''.join(f'<th>{e(label)}</th>' for _, label in QUALITY)}<th>s / answer</th>
<th>first token s</th><th>peak RSS MB</th></tr>{rows}</table>
<p>Win rates of finetuned+rag by ROUGE-L (ties half): {e(str(result['win_rates_rougeL']))}</p>
<p>Differences of finetuned+rag from each arm: mean [95 % paired bootstrap interval, {BOOTSTRAP_RESAMPLES:,}
resamples of the questions]; an interval that leaves out 0 is a difference the sample supports.</p>
<table><tr><th>comparison</th><th>token F1</th><th>ROUGE-L</th></tr>{differences}</table>
<p>One-off costs — retrieval: {e(str(costs['retrieval']))}; fine-tuning: {e(str(costs['finetuning']))}</p>
<img alt="quality per arm" src="data:image/png;base64,{_png(figures['quality'])}">
<img alt="quality vs cost" src="data:image/png;base64,{_png(figures['cost'])}">
<h2>Every question, five ways</h2><table>{''.join(questions)}</table></body></html>
"""
