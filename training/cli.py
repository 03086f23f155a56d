"""`ragbot train`, `ragbot adapters list|use|delete|retrain` and `ragbot eval answers`.

Registered in `chatbot/cli.py`; also runnable alone as `python -m training ...`. Heavy imports (torch, TRL,
the models) happen inside the commands so that `ragbot --help` stays fast.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

from chatbot.adapter_staleness import stale_summary
from chatbot.cli_services import open_services
from chatbot.tables import print_table
from training.config import TrainConfig

if TYPE_CHECKING:
    from chatbot.settings import Settings

app = typer.Typer(help="Fine-tuning: RAFT-style examples, QLoRA training, adapters, answer evaluation.",
                  no_args_is_help=True)
adapters_app = typer.Typer(help="Trained LoRA adapters (RAGBOT_HOME/adapters, registered in Postgres).",
                           no_args_is_help=True)
app.add_typer(adapters_app, name="adapters")

err = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
CollectionOpt = Annotated[str | None, typer.Option("--collection", "-c", help="Collection (default: settings).")]


def _expected_errors() -> tuple[type[BaseException], ...]:
    from chatbot.generators import GeneratorUnavailable
    from chatbot.models import ModelError
    from chatbot.storage.adapter_registry import RegistryError
    from chatbot.storage.db import DatabaseError
    from training.dataset import DatasetError
    from training.train import TrainingError

    return DatasetError, TrainingError, RegistryError, GeneratorUnavailable, DatabaseError, ModelError


def _fail(message: str, as_json: bool = False) -> typer.Exit:
    if as_json:
        typer.echo(json.dumps({"error": message}))
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(1)


@contextlib.contextmanager
def _command_services(as_json: bool) -> Iterator[Any]:
    """Services for one command, closed after it; an expected error ends the command with its message."""
    services = open_services()
    try:
        yield services
    except _expected_errors() as exc:
        raise _fail(str(exc), as_json) from exc
    finally:
        services.close()


# --- train ---------------------------------------------------------------------------------------


def _default(name: str) -> str:
    """`\\[default: …]` for a `TrainConfig` field, from the dataclass itself (the help must not drift from it)."""
    value = next(f.default for f in dataclasses.fields(TrainConfig) if f.name == name)
    if isinstance(value, bool):
        value = "on" if value else "off"
    elif isinstance(value, float):
        value = f"{value:g}"
    return f"\\[default: {value}]"


@app.command()
def train(
    qa: Annotated[Path | None, typer.Option(help="QA pairs (JSONL: question, answer, split, source).")] = None,
    split: Annotated[str | None, typer.Option(help=f"Split to train on {_default('split')}.")] = None,
    collection: CollectionOpt = None,
    name: Annotated[str | None, typer.Option(help="Adapter name \\[default: <collection>-<UTC time>].")] = None,
    quant: Annotated[str | None, typer.Option(
        help=f"Base quantization: nf4, int8 or none {_default('quant')}.")] = None,
    epochs: Annotated[float | None, typer.Option(help=f"Epochs {_default('epochs')}.")] = None,
    max_steps: Annotated[int | None, typer.Option(help="Optimizer steps (overrides --epochs).")] = None,
    lr: Annotated[float | None, typer.Option(help=f"Learning rate {_default('lr')}.")] = None,
    lora_r: Annotated[int | None, typer.Option(help=f"LoRA rank {_default('lora_r')}.")] = None,
    lora_alpha: Annotated[int | None, typer.Option(help=f"LoRA alpha {_default('lora_alpha')}.")] = None,
    target_modules: Annotated[str | None, typer.Option(
        help=f"Comma-separated module names, or all-linear {_default('target_modules')}.")] = None,
    batch_size: Annotated[int | None, typer.Option(
        help=f"Examples per optimizer step {_default('batch_size')}.")] = None,
    k: Annotated[int | None, typer.Option(help="Sources per prompt \\[default: settings top_k].")] = None,
    oracle_p: Annotated[float | None, typer.Option(help="Probability the oracle chunks are kept "
                                                        f"{_default('oracle_p')}.")] = None,
    save_steps: Annotated[int | None, typer.Option(help="Checkpoint, and validation loss, every N steps "
                                                        f"{_default('save_steps')}.")] = None,
    redraw: Annotated[bool | None, typer.Option("--redraw/--no-redraw", help="Each epoch draws its own sources "
                                                "per pair (oracle kept or not, where it goes) "
                                                f"{_default('redraw')}.")] = None,
    source_order: Annotated[str | None, typer.Option(help="Sources in a prompt: 'ranked' (the retriever's "
                                                     "order, oracles where it ranked them) or 'shuffled' "
                                                     f"(RAFT) {_default('source_order')}.")] = None,
    seed: Annotated[int | None, typer.Option(help=f"Seed for examples, split and training {_default('seed')}.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run (--name, else the latest) "
                                                          "from its last checkpoint.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only build and write the examples.")] = False,
    if_missing: Annotated[bool, typer.Option("--if-missing", help="Do nothing when an adapter named --name "
                                                                  "exists already (for scripts).")] = False,
    out: Annotated[Path | None, typer.Option(help="With --dry-run: where to write the JSONL.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Fine-tune the base generator (QLoRA) on RAFT-style examples built from QA pairs and the store."""
    given: dict[str, Any] = {
        "qa": str(qa) if qa else None, "split": split, "collection": collection, "name": name, "quant": quant,
        "epochs": epochs, "max_steps": max_steps, "lr": lr, "lora_r": lora_r, "lora_alpha": lora_alpha,
        "target_modules": _modules(target_modules) if target_modules else None, "batch_size": batch_size,
        "k": k, "oracle_p": oracle_p, "save_steps": save_steps, "redraw": redraw,
        "source_order": source_order, "seed": seed,
    }
    _train({key: value for key, value in given.items() if value is not None}, resume=resume, dry_run=dry_run,
           if_missing=if_missing, out=out, as_json=as_json)


def _train(given: dict[str, Any], *, resume: bool, dry_run: bool, if_missing: bool, out: Path | None,
           as_json: bool) -> None:
    """`ragbot train` with the options given (those left out take the resumed run's, else the defaults)."""
    from training.train import dry_run as build_only
    from training.train import resumable_run
    from training.train import train as run_training

    name = given.get("name")
    with _command_services(as_json) as services:
        if if_missing and name and (services.settings.adapters_dir / name / "adapter_config.json").is_file():
            typer.echo(f"adapter '{name}' exists already: kept")
            return
        base: dict[str, Any] = {}
        if resume:
            run_name, base = resumable_run(services.settings, name)
            base["name"] = run_name
        if "qa" not in given and "qa" not in base:
            raise _fail("--qa FILE is required", as_json)
        config = TrainConfig(**{**base, **given})
        if dry_run:
            _print_dry_run(build_only(services.corpus, services.settings, config, out), as_json)
            return
        with contextlib.redirect_stdout(sys.stderr):  # the trainer's progress logs must not reach stdout
            result = run_training(services.corpus, services.adapter_registry, services.settings, config, resume=resume,
                                  on_data=_announcer(services.settings, config))
    _print_trained(result, as_json)


def _announcer(settings: Settings, config: TrainConfig) -> Callable[[Any], None]:
    """Tell stderr what is about to be trained, and in which precision."""
    from chatbot.precision import resolve as resolve_precision
    from training.train import estimate_steps

    def announce(data: Any) -> None:
        chosen = resolve_precision(settings)
        err.print(f"{len(data.train)} training + {len(data.validation)} validation examples "
                  f"(oracle kept in {data.stats.oracle_present}/{data.stats.examples}); "
                  f"~{estimate_steps(data, config)} steps in {chosen.name} ({chosen.reason})", highlight=False)

    return announce


def _print_dry_run(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False))
        return
    first = summary.pop("first")
    for key, value in summary.items():
        typer.echo(f"{key:>22}: {value}")
    if first:
        typer.echo("\nfirst example:")
        for message in first["messages"]:
            typer.echo(f"--- {message['role']} ---\n{message['content']}")


def _print_trained(result: Any, as_json: bool) -> None:
    metrics = result.manifest["metrics"]
    if as_json:
        summary = {"name": result.name, "path": str(result.path), "quant": result.manifest["quant"],
                   **{k: v for k, v in metrics.items() if k != "loss_curve"}}
        typer.echo(json.dumps(summary))
        return
    typer.echo(f"adapter '{result.name}' saved to {result.path} and registered")
    typer.echo(f"steps {metrics['steps']}, {metrics['seconds']:.0f} s ({metrics['seconds_per_step']} s/step); "
               f"train loss {metrics['train_loss']}, validation loss {metrics['eval_loss_before']} → "
               f"{metrics['eval_loss']}")
    typer.echo(f"use it: ragbot adapters use {result.name}   (or --generator finetuned:{result.name})")


def _modules(value: str) -> list[str] | str:
    names = [part.strip() for part in value.split(",") if part.strip()]
    return names[0] if names == ["all-linear"] else names


# --- adapters ------------------------------------------------------------------------------------


@adapters_app.command("list")
def adapters_list(as_json: JsonOpt = False) -> None:
    """Adapters on disk and in the registry, newest first; the active one is the fine-tuned default."""
    from chatbot.storage.adapter_registry import adapter_entries

    services = open_services()
    try:
        entries = adapter_entries(services.adapter_registry, services.settings.adapters_dir)
    except _expected_errors() as exc:
        raise _fail(str(exc), as_json) from exc
    finally:
        services.close()
    if as_json:
        typer.echo(json.dumps({"adapters": entries}))
        return
    if not entries:
        typer.echo("no adapters yet: train one with `ragbot train --qa FILE`")
        return
    names = Column("name", no_wrap=True, min_width=max(len(e["name"]) for e in entries))  # whole: it is typed
    table = Table("", names, "quant", "created", "steps", "eval loss", "collection", "state", "stale")
    for e in entries:
        state = "ok" if e["on_disk"] and e["registered"] else ("files only" if e["on_disk"] else "files missing")
        table.add_row("*" if e["active"] else "", e["name"], str(e["quant"]), e["created_at"][:19],
                      str(e["steps"]), str(e["eval_loss"]), escape(str(e["collection"])), state,
                      escape(stale_summary(e)))
    print_table(table)


@adapters_app.command("use")
def adapters_use(name: Annotated[str, typer.Argument(help="Adapter name.")]) -> None:
    """Make an adapter the active one: the default `finetuned` generator."""
    from chatbot.storage.adapter_registry import use_adapter

    services = open_services()
    try:
        use_adapter(services.adapter_registry, services.settings.adapters_dir, name)
    except _expected_errors() as exc:
        raise _fail(str(exc)) from exc
    finally:
        services.close()
    typer.echo(f"active adapter: {name}")


@adapters_app.command("retrain")
def adapters_retrain(name: Annotated[str, typer.Argument(help="Adapter name.")]) -> None:
    """Queue a training job with the adapter's recorded settings (QA file, collection, hyperparameters) on the
    documents as they are now, under a new name; a worker (`ragbot worker`) runs it."""
    from chatbot.queue.records import JobRefused
    from training.retrain import submit_retraining

    expected: tuple[type[BaseException], ...] = (*_expected_errors(), JobRefused)
    services = open_services()
    try:
        job = submit_retraining(services.jobs, services.adapter_registry, services.settings, name,
                                queued_by="cli")
    except expected as exc:
        raise _fail(str(exc)) from exc
    finally:
        services.close()
    typer.echo(f"queued job {job.id}: {job.title}")


@adapters_app.command("delete")
def adapters_delete(name: Annotated[str, typer.Argument(help="Adapter name.")]) -> None:
    """Delete an adapter: its files, its checkpoints and its registry row."""
    from chatbot.storage.adapter_registry import delete_adapter
    from training.train import runs_dir

    services = open_services()
    try:
        deleted = delete_adapter(services.adapter_registry, services.settings.adapters_dir,
                                 runs_dir(services.settings), name)
    except _expected_errors() as exc:
        raise _fail(str(exc)) from exc
    finally:
        services.close()
    if not deleted:
        raise _fail(f"adapter '{name}' not found")
    typer.echo(f"deleted adapter '{name}'")


# --- eval answers --------------------------------------------------------------------------------


@app.command("answers")
def answers(
    qa: Annotated[Path, typer.Option(help="QA pairs (JSONL) with gold answers.")],
    split: Annotated[str, typer.Option(help="Split to evaluate ('all' for every pair).")] = "test",
    collection: CollectionOpt = None,
    adapter: Annotated[str | None, typer.Option(help="Adapter \\[default: the active one, else the newest].")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N questions.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Write a grouped bar chart (PNG).")] = None,
    report: Annotated[Path | None, typer.Option(help="Write a Markdown report with every answer.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Base vs fine-tuned through the full chain (extractive answers beside them): token F1, ROUGE-L, citation
    validity, groundedness, win rate."""
    from training.answers import evaluate_answers
    from training.evaluate import markdown_report, plot_summary

    with _command_services(as_json) as services:
        with contextlib.redirect_stdout(sys.stderr):
            run = evaluate_answers(services.chain, services.settings, qa, split=None if split == "all" else split,
                                   collection=collection, adapter=adapter, limit=limit)
        result = run["result"]
        if plot:
            plot_summary(result, plot, services.settings.home / "cache" / "matplotlib")
        if report:
            report.parent.mkdir(parents=True, exist_ok=True)
            report.write_text(markdown_report(result, run["records"]), encoding="utf-8")
    if as_json:
        typer.echo(json.dumps(result))
        return
    table = Table("generator", "token F1", "ROUGE-L", "valid citations", "grounded", "s/answer")
    for arm in ("base", "finetuned", "extractive"):
        s = result[arm]
        table.add_row(f"{arm} ({result['generators'][arm]})", f"{s['f1']:.3f}", f"{s['rougeL']:.3f}",
                      f"{s['citation_valid']:.0%}", f"{(s['grounded'] or 0):.3f}", f"{s['seconds_per_answer']:.1f}")
    print_table(table)
    c = result["comparison"]
    typer.echo(f"n={result['n']}; fine-tuned ROUGE-L win rate {result['finetuned_win_rate']:.1%} "
               f"({c['wins']} wins, {c['ties']} ties counted half, {c['losses']} losses); F1 ratio {c['f1_ratio']}")


# --- eval loops ----------------------------------------------------------------------------------


@app.command("loops")
def loops(
    qa: Annotated[Path, typer.Option(help="QA pairs (JSONL) with gold answers.")],
    split: Annotated[str, typer.Option(help="Split to answer ('all' for every pair).")] = "test",
    collection: CollectionOpt = None,
    generator: Annotated[list[str] | None, typer.Option(
        help="Generator(s) to answer with, with retrieval (repeat the option) \\[default: base].")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N questions.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Share of answers that loop (a line or an 8-word span said 3 times) under the configured decoding
    (RAGBOT_NO_REPEAT_NGRAM, RAGBOT_REPETITION_PENALTY, RAGBOT_STOP_ON_LOOP), with token F1 and ROUGE-L."""
    from training.loop_eval import evaluate_loops

    with _command_services(as_json) as services, contextlib.redirect_stdout(sys.stderr):
        result = evaluate_loops(services.chain, services.settings, qa, split=None if split == "all" else split,
                                collection=collection, generators=generator or ["base"], limit=limit)
    if as_json:
        typer.echo(json.dumps(result))
        return
    cpu, decoding = result["cpu"], result["decoding"]
    typer.echo(f"CPU: {cpu['model']} ({cpu['capability']}, bf16 {'native' if cpu['native_bf16'] else 'emulated'})")
    typer.echo("decoding: " + ", ".join(f"{k} {v}" for k, v in decoding.items()))
    table = Table("generator", "answers", "looping", "token F1", "ROUGE-L", "valid citations", "s/answer")
    for name, s in result["generators"].items():
        table.add_row(name, str(s["n"]), f"{s['loops']} ({s['loop_share']:.0%})", f"{s['f1']:.3f}",
                      f"{s['rougeL']:.3f}", f"{s['citation_valid']:.0%}", f"{s['seconds_per_answer']:.1f}")
    print_table(table)
    for name, s in result["generators"].items():
        for loop in s["looping"]:
            typer.echo(f"{name} loops on {loop['question_id']}: {loop['repeat']!r}")
