"""The `ragbot` command line: database, models, ingestion, benchmarks."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from chatbot.cli_services import load_settings, open_services
from chatbot.settings import configure_environment
from chatbot.storage import db
from chatbot.tables import print_table

if TYPE_CHECKING:
    from chatbot.services import Services
    from ingestion.langchain_loaders import LoaderSpec
    from ingestion.pipeline import IngestReport

T = TypeVar("T")

app = typer.Typer(help="ragbot: a support chatbot fed and taught by your own documents.", no_args_is_help=True)
db_app = typer.Typer(help="The embedded PostgreSQL + pgvector server.", no_args_is_help=True)
models_app = typer.Typer(help="The bundled models.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks: figures and ratios measured in one run.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(models_app, name="models")
app.add_typer(bench_app, name="bench")

err = Console(stderr=True)

CollectionOpt = Annotated[str | None, typer.Option("--collection", "-c", help="Collection (default: settings).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]


def _print_version(value: bool) -> None:
    if value:
        from chatbot.version import ragbot_version

        typer.echo(f"ragbot {ragbot_version()}")
        raise typer.Exit()


@app.callback()
def _configure(
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
    _version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                           help="Print the version and exit.")] = False,
) -> None:
    configure_environment()
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # bitsandbytes warns at import that an optional CPU kernel package is absent; it is not needed here.
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(1)


# --- database ------------------------------------------------------------------------------------


@db_app.command("start")
def db_start() -> None:
    """Start (or reattach to) the embedded database and apply migrations."""
    settings = load_settings()
    if settings.database_url:
        raise _fail("DATABASE_URL is set: ragbot uses that server, not the embedded one")
    services = open_services()
    try:
        services.pool  # noqa: B018 — starts the server and migrates
    except db.DatabaseError as exc:
        raise _fail(str(exc)) from exc
    finally:
        services.close()
    typer.echo(f"running: {services.url}")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded database (data is kept)."""
    typer.echo("stopped" if db.stop_embedded(load_settings()) else "not running")


@db_app.command("status")
def db_status() -> None:
    """Say which database is used and whether it is up; exit 1 when down."""
    settings = load_settings()
    if settings.database_url:
        try:
            db.connect(settings.database_url.get_secret_value(), vector=False).close()
        except db.DatabaseError as exc:
            raise _fail(str(exc)) from exc
        typer.echo("external (DATABASE_URL): reachable")
        return
    if not db.embedded_running(settings):
        typer.echo(f"embedded: stopped ({settings.pgdata})")
        raise typer.Exit(1)
    typer.echo(f"embedded: running ({settings.pgdata})")


@db_app.command("url")
def db_url() -> None:
    """Print the connection URL (starts the embedded server if needed)."""
    try:
        typer.echo(db.database_url(load_settings()))
    except db.DatabaseError as exc:
        raise _fail(str(exc)) from exc


@db_app.command("backup")
def db_backup(file: Annotated[Path, typer.Argument(help="Backup file to write (pg_dump custom format).")]) -> None:
    """Back up the whole database (documents, chunks, conversations, votes) to FILE."""
    from chatbot.storage.backup import BackupError, backup

    try:
        result = backup(load_settings(), file)
    except (BackupError, db.DatabaseError) as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"backed up to {result.path} ({result.bytes / 1048576:.1f} MB)")


@db_app.command("restore")
def db_restore(
    file: Annotated[Path, typer.Argument(help="A file written by `ragbot db backup`.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Replace the database's contents with FILE's, in one transaction (stop `ragbot serve` first)."""
    from chatbot.storage.backup import BackupError, restore

    if not yes:
        typer.confirm(f"Replace the database's contents with {file}?", abort=True)
    try:
        restore(load_settings(), file)
    except (BackupError, db.DatabaseError) as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"restored from {file}")


# --- models --------------------------------------------------------------------------------------


@models_app.command("prepare")
def models_prepare() -> None:
    """Convert the bundled generator to safetensors and export the embedder to ONNX (once each); check both load."""
    from chatbot.embeddings import load_embedder, resolve_backend
    from chatbot.models import ModelError, base_model_location, embedder_location
    from chatbot.onnx_export import prepare_onnx_embedder
    from chatbot.precision import resolve as resolve_precision

    settings = load_settings()
    try:
        base = base_model_location(settings)
        exports = prepare_onnx_embedder(settings)
        backend, reason = resolve_backend(settings)
        embedder = load_embedder(settings, backend)
    except ModelError as exc:
        raise _fail(str(exc)) from exc
    chosen = resolve_precision(settings)
    typer.echo(f"generator: {base}")
    typer.echo(f"precision: {chosen.name} on {chosen.device} ({chosen.reason})")
    typer.echo(f"embedder:  {embedder_location(settings)} ({embedder.dimension}-d, {embedder.max_tokens} tokens)")
    typer.echo(f"embedder backend: {backend} ({reason}); ONNX exports in {exports}")


# --- documents -----------------------------------------------------------------------------------


@app.command()
def ingest(
    targets: Annotated[list[str] | None, typer.Argument(
        help="Files, folders (recursive) and websites: a sitemap URL or a start page crawled within its host and "
        "path prefix.", show_default=False)] = None,
    collection: CollectionOpt = None,
    prune: Annotated[bool, typer.Option(help="Remove documents whose files left these folders, whose pages left "
                                        "the sitemap or answer 404/410, or that a loader no longer yields.")] = False,
    max_pages: Annotated[int, typer.Option(min=1, help="Website: pages fetched at most.")] = 500,
    depth: Annotated[int, typer.Option(min=0, help="Website crawl: links followed from the start page.")] = 3,
    include: Annotated[list[str] | None, typer.Option(help="Website: only pages whose URL or path matches this "
                                                      "glob (repeatable), e.g. '/help/*'.", show_default=False)] = None,
    exclude: Annotated[list[str] | None, typer.Option(help="Website: never pages matching this glob "
                                                      "(repeatable).", show_default=False)] = None,
    delay: Annotated[float, typer.Option(min=0.0, help="Website: seconds between requests (robots.txt's "
                                         "Crawl-delay wins when longer).")] = 0.5,
    concurrency: Annotated[int, typer.Option(min=1, max=16, help="Website: requests at once.")] = 4,
    loader: Annotated[str | None, typer.Option(help="A LangChain document loader, package.module:Class.",
                                               show_default=False)] = None,
    loader_arg: Annotated[list[str] | None, typer.Option(help="key=value for --loader (repeatable; JSON values "
                                                         "such as 3 or true are read as such).",
                                                         show_default=False)] = None,
    loader_config: Annotated[Path | None, typer.Option(help="YAML/JSON list of {loader, args} to run.",
                                                       show_default=False)] = None,
    as_json: JsonOpt = False,
) -> None:
    """Ingest documents, websites and LangChain loaders' output: unchanged ones are skipped, changed ones
    replaced, bad ones reported (a page by its URL)."""
    from ingestion.langchain_loaders import ingest_loader
    from ingestion.pipeline import IngestReport
    from ingestion.web_crawl import CrawlOptions

    urls = [t for t in targets or [] if "://" in t]
    paths = [Path(t) for t in targets or [] if "://" not in t]
    specs = _loader_specs(loader, loader_arg, loader_config)
    if not (urls or paths or specs):
        raise _fail("give files, folders or URLs to ingest, or --loader / --loader-config")
    options = CrawlOptions(max_pages=max_pages, depth=depth, include=tuple(include or ()),
                           exclude=tuple(exclude or ()), delay=delay, concurrency=concurrency)
    services = open_services()
    name = collection or services.settings.collection
    reports: list[IngestReport] = []
    try:
        if paths:
            reports.append(services.ingestor.ingest_paths(paths, name, prune=prune))
        reports += [services.web_sync.sync(url, name, options, prune=prune) for url in urls]
        reports += [ingest_loader(services.ingestor, spec, name, prune=prune) for spec in specs]
    except db.DatabaseError as exc:
        if as_json:
            typer.echo(json.dumps({"error": str(exc)}))
        raise _fail(str(exc)) from exc
    finally:
        services.close()
    report = IngestReport.combined(reports)
    _print_ingest_report(report, as_json)
    raise typer.Exit(report.exit_code)


def _loader_specs(loader: str | None, loader_arg: list[str] | None, loader_config: Path | None) -> list[LoaderSpec]:
    """The LangChain loaders to run: those of --loader-config, then --loader with its --loader-arg."""
    from ingestion.langchain_loaders import LoaderSpec, parse_loader_args, read_loader_config

    try:
        specs = read_loader_config(loader_config) if loader_config else []
        if loader:
            specs.append(LoaderSpec(loader, parse_loader_args(loader_arg or [])))
        elif loader_arg:
            raise ValueError("--loader-arg needs --loader")
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    return specs


def _print_ingest_report(report: IngestReport, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(report.to_json()))
        return
    for failure in report.files_failed:
        err.print(f"[yellow]skipped[/yellow] {escape(failure.path)}: {escape(failure.error)}", highlight=False)
    typer.echo(
        f"{report.files_ok} files/pages ok, {len(report.files_failed)} failed; documents "
        f"+{report.documents_added} ~{report.documents_updated} ={report.documents_unchanged}"
        f" -{report.documents_removed}; chunks +{report.chunks_added} -{report.chunks_removed};"
        f" {report.seconds:.1f} s"
    )


@app.command()
def delete(
    source: Annotated[str | None, typer.Option(help="Delete the document ingested from this file or page URL.")
                      ] = None,
    collection: Annotated[str | None, typer.Option(help="With --source: its collection; alone: delete it.")] = None,
) -> None:
    """Delete one document (--source PATH) or a whole collection (--collection NAME)."""
    from ingestion.pipeline import source_for_path

    if source is None and collection is None:
        raise _fail("give --source PATH or --collection NAME")
    services = open_services()
    try:
        if source is not None:
            name = collection or services.settings.collection
            key = source if "://" in source else source_for_path(Path(source))
            removed = services.store.delete_source(name, key)
            typer.echo(f"deleted {removed} document(s) from '{name}'")
        else:
            removed = services.store.delete_collection(collection)
            typer.echo(f"deleted collection '{collection}' ({removed} documents)")
    finally:
        services.close()


def _print_listing(rows: Sequence[T], as_json: bool, to_json: Callable[[T], dict[str, Any]],
                   columns: tuple[str, ...], to_row: Callable[[T], tuple[str, ...]]) -> None:
    """A list command's output: one JSON array, or a table."""
    if as_json:
        typer.echo(json.dumps([to_json(row) for row in rows]))
        return
    table = Table(*columns)
    for row in rows:
        table.add_row(*to_row(row))
    print_table(table)


def _fetch(read: Callable[[Services], list[T]]) -> list[T]:
    """`read` with services opened for it and closed after."""
    services = open_services()
    try:
        return read(services)
    finally:
        services.close()


@app.command("documents")
def documents(collection: CollectionOpt = None, as_json: JsonOpt = False) -> None:
    """List stored documents with their chunk counts."""
    _print_listing(
        _fetch(lambda services: services.store.list_documents(collection)), as_json,
        lambda d: {"id": d.id, "collection": d.collection, "source": d.source, "title": d.title, "chunks": d.chunks,
                   "ingested_at": d.ingested_at.isoformat()},
        ("id", "collection", "title", "chunks", "source"),
        lambda d: (str(d.id), d.collection, d.title, str(d.chunks), d.source))


sources_app = typer.Typer(help="Websites ingested with `ragbot ingest URL` (re-run it to sync one).",
                          no_args_is_help=True)
app.add_typer(sources_app, name="sources")


@sources_app.command("list")
def sources_list(collection: CollectionOpt = None, as_json: JsonOpt = False) -> None:
    """Each website source: its kind (sitemap or crawl), documents, last sync and what it did."""
    _print_listing(
        _fetch(lambda services: services.web_sources.list_sources(collection)), as_json,
        lambda s: {"collection": s.collection, "url": s.url, "kind": s.kind, "documents": s.documents,
                   "last_sync_at": s.last_sync_at.isoformat(), "last_report": s.last_report, "options": s.options},
        ("collection", "url", "kind", "documents", "last sync", "last result"),
        lambda s: (s.collection, s.url, s.kind or "?", str(s.documents), s.last_sync_at.strftime("%Y-%m-%d %H:%M"),
                   _sync_result(s.last_report)))


def _sync_result(r: dict[str, Any]) -> str:
    return (f"{r.get('files_ok', 0)} ok, {r.get('files_failed', 0)} failed; +{r.get('documents_added', 0)}"
            f" ~{r.get('documents_updated', 0)} ={r.get('documents_unchanged', 0)}"
            f" -{r.get('documents_removed', 0)}")


@app.command()
def reembed(collection: CollectionOpt = None) -> None:
    """Re-encode every chunk of a collection with the configured embedder, in one transaction, and record it."""
    services = open_services()
    name = collection or services.settings.collection
    try:
        count = services.ingestor.reembed(name)
    except (ValueError, db.DatabaseError) as exc:
        raise _fail(str(exc)) from exc
    finally:
        services.close()
    typer.echo(f"re-embedded {count} chunks of '{name}' with {services.embedder.identity}")


@app.command("gaps")
def gaps(
    collection: Annotated[str | None, typer.Option("--collection", "-c", help="Only this collection "
                                                   "(default: every collection with gap questions).")] = None,
    days: Annotated[int, typer.Option(min=1, help="Whole UTC days, ending today.")] = 30,
    as_json: JsonOpt = False,
) -> None:
    """What the documents are missing: questions voted down, abstained on or handed off, grouped by topic (most
    asked first), each retrieved again now: 'covered now' or 'still missing', with the closest documents."""
    try:
        clusters = _fetch(lambda services: services.gap_finder.report(days, collection))
    except db.DatabaseError as exc:  # the database is away, or a collection's vectors are another embedder's
        raise _fail(str(exc)) from exc
    _print_listing(
        clusters, as_json, lambda c: c.to_json(),
        ("count", "status", "topic", "questions", "last seen (UTC)", "collection", "closest document"),
        lambda c: (str(c.count), c.status, escape(c.label), str(len(c.questions)),
                   c.last_seen.strftime("%Y-%m-%d %H:%M"), escape(c.collection),
                   escape(f"{c.sources[0].title} ({c.sources[0].similarity:.2f})") if c.sources else "-"))


# --- benchmarks ----------------------------------------------------------------------------------


@bench_app.command("ingest")
def bench_ingest(
    data: Annotated[Path, typer.Option(help="Documents (files, folders) or a BEIR folder with corpus.jsonl.")] = Path(
        "examples/docs"),
    backends: Annotated[str, typer.Option(help="Embedder backends to compare.")] = "torch,onnx,onnx-int8",
    limit: Annotated[int | None, typer.Option(help="Only the first N documents.")] = None,
    repeats: Annotated[int, typer.Option(min=1, help="Runs per backend (medians reported).")] = 3,
    url: Annotated[str | None, typer.Option(help="Instead: a website (sitemap or start page; a local one needs "
                                            "RAGBOT_INGEST_ALLOW_PRIVATE=1): fetch + parse pages/s vs the "
                                            "embedder's pages/s on --data, a first sync and a re-sync.",
                                            show_default=False)] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=16, help="With --url: requests at once.")] = 4,
    as_json: JsonOpt = False,
) -> None:
    """Chunks/s of the whole ingest and of the embedder alone, and query-embedding p50, per embedder backend."""
    from benchmarks.ingest import run_ingest_benchmark
    from chatbot.embeddings import BACKENDS
    from chatbot.models import ModelError

    if url:
        from benchmarks.web_ingest import run_web_benchmark
        from ingestion.web_crawl import CrawlOptions

        services = open_services()
        try:
            figures = run_web_benchmark(services, url, CrawlOptions(delay=0.0, concurrency=concurrency), repeats, data)
        except (ModelError, db.DatabaseError) as exc:
            raise _fail(str(exc)) from exc
        finally:
            services.close()
        typer.echo(json.dumps(figures, indent=None if as_json else 2))
        return
    wanted = [b.strip() for b in backends.split(",") if b.strip()]
    if not wanted or any(b not in BACKENDS for b in wanted):
        raise _fail(f"unknown backend(s) in '{backends}' (choose from {', '.join(BACKENDS)})")
    if not data.exists():
        raise _fail(f"{data}: no such file or folder")
    services = open_services()
    try:
        result = run_ingest_benchmark(services, data, wanted, limit=limit, repeats=repeats)  # type: ignore[arg-type]
    except (ModelError, db.DatabaseError) as exc:
        raise _fail(str(exc)) from exc
    finally:
        services.close()
    if as_json:
        typer.echo(json.dumps(result))
    else:
        for key, value in result.items():
            typer.echo(f"{key:>24}: {value}")


# --- answering -----------------------------------------------------------------------------------


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
    generator: Annotated[str, typer.Option(help="base, extractive, finetuned or finetuned:<adapter>.")] = "base",
    collection: CollectionOpt = None,
    no_retrieval: Annotated[bool, typer.Option("--no-retrieval", help="Answer without the documents.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Answer from the documents with numbered citations, streaming to the terminal."""
    from chatbot.generators import GeneratorUnavailable
    from chatbot.limits import InputTooLong

    services = open_services()
    answer = None
    try:
        for event in services.chain.stream(question, generator=generator, collection=collection,
                                           use_retrieval=not no_retrieval):
            if event.kind == "token" and not as_json:
                typer.echo(event.text, nl=False)
            elif event.kind == "done":
                answer = event.answer
    except (GeneratorUnavailable, InputTooLong, db.DatabaseError) as exc:
        raise _fail(str(exc)) from exc
    finally:
        services.close()
    assert answer is not None
    if as_json:
        typer.echo(json.dumps({"answer": answer.text, "generator": answer.generator,
                               "sources": answer.sources_json(), "not_covered": answer.not_covered,
                               "seconds": round(answer.seconds, 3)}))
        return
    typer.echo()
    for n, doc in answer.sources:
        where = f", page {doc.metadata['page']}" if doc.metadata.get("page") else ""
        err.print(f"[dim][{n}] {doc.metadata.get('title')}{where} — {doc.metadata.get('source')}[/dim]")


eval_app = typer.Typer(help="Evaluations on real data.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")

# Fine-tuning lives in training/; its commands join this CLI (heavy imports stay inside the commands).
from training import cli as training_cli  # noqa: E402

app.command("train")(training_cli.train)
app.add_typer(training_cli.adapters_app, name="adapters")
eval_app.command("answers")(training_cli.answers)

from chatbot.embedder_cli import embedder_app  # noqa: E402
from chatbot.queue.cli import jobs_app, worker  # noqa: E402

app.add_typer(jobs_app, name="jobs")
app.command("worker")(worker)

app.add_typer(embedder_app, name="embedder")

from chatbot.votes_cli import votes  # noqa: E402

app.command("votes")(votes)

from chatbot.handoffs_cli import handoffs_app  # noqa: E402

app.add_typer(handoffs_app, name="handoffs")
eval_app.command("loops")(training_cli.loops)


@eval_app.command("retrieval")
def eval_retrieval(
    beir: Annotated[Path, typer.Option(help="A BEIR folder: corpus.jsonl, queries.jsonl, qrels/test.tsv.")],
    mode: Annotated[str, typer.Option(help="Comma-separated: hybrid, vector, fts, bm25-reference (bm25s over the "
                                      "same chunks), or all.")] = "hybrid",
    k: Annotated[int, typer.Option(help="Documents per query.")] = 10,
    split: Annotated[str, typer.Option(help="all, or only the queries qa.jsonl marks train or test.")] = "all",
    sweep: Annotated[bool, typer.Option(help="Also score hybrid at every lexical weight (0.0-1.0), to compare "
                                        "with the collection's label-free calibration, and vector and hybrid at every "
                                        "lead weight (0-1).")] = False,
    report: Annotated[Path | None, typer.Option(help="Write a Markdown report with the misses.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Ingest a BEIR corpus (reused when unchanged), run its queries in each mode, score with ranx."""
    from chatbot.precision import cpu_report
    from chatbot.retrieval_eval import MODES, REFERENCE, SPLITS, describe_fusion, evaluate_retrieval, misses_report

    known = (*MODES, REFERENCE)
    modes = list(known) if mode == "all" else [m.strip() for m in mode.split(",") if m.strip()]
    if not modes or any(m not in known for m in modes):
        raise _fail(f"unknown mode in '{mode}' ({', '.join(known)} or all)")
    if split not in SPLITS:
        raise _fail(f"unknown split '{split}' ({', '.join(SPLITS)})")
    services = open_services()
    try:
        evaluation = evaluate_retrieval(services.corpus, services.ingestor, services.fusion_records,
                                        services.calibrate_fusion, services.settings.home, beir, modes, k, split,
                                        sweep)
    except (FileNotFoundError, ValueError, db.DatabaseError) as exc:
        raise _fail(str(exc)) from exc
    finally:
        services.close()
    if report:
        report.write_text(misses_report(evaluation), encoding="utf-8")
    summary = {key: evaluation[key] for key in ("dataset", "split", "queries", "embedder", "lexical_weight", "fusion")}
    summary["results"] = evaluation["results"]
    if REFERENCE in modes and "fts" in modes and evaluation["results"][REFERENCE]["ndcg@10"]:
        summary["fts_vs_reference_ndcg"] = round(
            evaluation["results"]["fts"]["ndcg@10"] / evaluation["results"][REFERENCE]["ndcg@10"], 3)
    summary["cpu"] = cpu_report(services.settings)
    if as_json:
        typer.echo(json.dumps(summary))
        return
    typer.echo(f"{summary['dataset']} ({split}, {summary['queries']} queries), {summary['embedder']}")
    typer.echo(describe_fusion(summary["fusion"]))
    for name, scores in evaluation["results"].items():
        label = "hybrid (default)" if name == "hybrid" else name
        typer.echo(f"{label:>17}: " + "  ".join(f"{m} {v:.4f}" for m, v in scores.items()))
    if "fts_vs_reference_ndcg" in summary:
        typer.echo(f"fts / bm25-reference nDCG@10: {summary['fts_vs_reference_ndcg']}")


@eval_app.command("abstain")
def eval_abstain(
    qa: Annotated[Path, typer.Option(help="QA JSONL whose questions the collection covers.")],
    collection: CollectionOpt = None,
    split: Annotated[str, typer.Option(help="Which of --qa's questions: all, train or test.")] = "test",
    ood: Annotated[list[Path] | None, typer.Option(help="QA JSONL of out-of-domain questions, all asked "
                                                   "(repeatable).", show_default=False)] = None,
    as_json: JsonOpt = False,
) -> None:
    """Answered-when-answerable and abstained-when-not with the collection's abstention threshold (`ragbot
    calibrate` sets it); only the coverage check runs, no generation."""
    from chatbot.abstention_eval import SPLITS, evaluate_abstention, read_questions
    from chatbot.precision import cpu_report
    from chatbot.qa_files import QAFileError

    if split not in SPLITS:
        raise _fail(f"unknown split '{split}' ({', '.join(SPLITS)})")
    services = open_services()
    try:
        answerable = read_questions(qa, split)
        out_of_domain = [question for path in ood or [] for question in read_questions(path)]
        name = collection or services.settings.collection
        result = evaluate_abstention(services.chain, name, answerable, out_of_domain)
        result["calibration"] = (services.abstention_records.details(name) or {}).get("source", "global setting")
    except (QAFileError, db.DatabaseError) as exc:
        raise _fail(str(exc)) from exc
    finally:
        services.close()
    result["cpu"] = cpu_report(services.settings)
    if as_json:
        typer.echo(json.dumps(result))
        return
    typer.echo(f"{result['collection']}: threshold {result['threshold']} ({result['calibration']}); answered "
               f"{result['answered']}/{result['answerable']} ({result['answered_rate']}), abstained on "
               f"{result['abstained_ood']}/{result['ood']} out-of-domain ({result['abstained_ood_rate']})")


@app.command()
def calibrate(
    collection: CollectionOpt = None,
    qa: Annotated[Path | None, typer.Option(help="Calibrate the abstention threshold from this QA file's "
                                            "questions instead of the titles and headings.")] = None,
    split: Annotated[str, typer.Option(help="With --qa: which questions (all, train or test).")] = "train",
    as_json: JsonOpt = False,
) -> None:
    """Calibrate a collection's hybrid fusion and its abstention threshold now, from its own titles and headings
    (no labels); --qa: the threshold from a QA file's questions."""
    from chatbot.abstention_eval import read_questions
    from chatbot.qa_files import QAFileError

    services = open_services()
    name = collection or services.settings.collection
    try:
        questions = (qa.name, read_questions(qa, split)) if qa else None
        result = services.calibrate_fusion(name, force=True, qa=questions)
        abstention = services.abstention_records.details(name)
    except (QAFileError, db.DatabaseError) as exc:
        raise _fail(str(exc)) from exc
    finally:
        services.close()
    data = {**(asdict(result) if result else {}), "abstention": abstention}
    if abstention and not as_json:
        typer.echo(f"abstention threshold {abstention['threshold']} (from {abstention['answerable']} answerable"
                   f" questions ({abstention['source']}) and {abstention['unanswerable']} unanswerable ones)"
                   if abstention["threshold"] is not None else f"only {abstention['answerable']} answerable questions"
                   f" (< 30): the global abstention threshold ({services.settings.relevance_threshold}) stays")
    if as_json:
        typer.echo(json.dumps(data))
    elif result and result.lexical_weight is None:
        typer.echo(f"only {result.queries} titles/headings name a single document (< 30): the default weight"
                   f" ({services.settings.lexical_weight}) stays")
    elif result:
        typer.echo(f"lexical weight {result.lexical_weight} (from {result.queries} titles/headings); "
                   f"nDCG@10 by weight: {result.ndcg_by_weight}")


# --- serving -------------------------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 7860,
    no_ui: Annotated[bool, typer.Option("--no-ui", help="API only, no Gradio UI.")] = False,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="Run no job worker in this process (web "
                                            "replicas; also RAGBOT_WORKER=0): `ragbot worker` runs the jobs.")] = False,
) -> None:
    """Serve the API and the UI on one port, with one job worker in-process (admin password printed once if none
    is configured)."""
    from chatbot.cluster.admin_password import AdminPasswordRequired
    from chatbot.credentials import WeakPassword
    from chatbot.server import run_server

    services = open_services()
    try:
        run_server(services, host=host, port=port, with_ui=not no_ui, worker=not no_worker)
    except (WeakPassword, AdminPasswordRequired, db.DatabaseError) as exc:
        raise _fail(str(exc)) from exc
    finally:
        services.close()


@bench_app.command("retrieve")
def bench_retrieve(
    chunks: Annotated[int, typer.Option(help="Size of each synthetic collection.")] = 100_000,
    collections: Annotated[int, typer.Option(min=1, help="Synthetic collections (they overlap).")] = 1,
    real: Annotated[str | None, typer.Option(help="Also measure this ingested collection.")] = "python-faq",
    as_json: JsonOpt = False,
) -> None:
    """p50/p95 of the retriever (with and without the query embedding) and of its vector SQL alone, and each
    collection's HNSW recall@10 vs exact search."""
    from benchmarks.retrieve import run_retrieve_benchmark
    from chatbot.precision import cpu_report

    services = open_services()
    try:
        result = run_retrieve_benchmark(services, chunks, real, collections)
        result["cpu"] = cpu_report(services.settings)
    finally:
        services.close()
    typer.echo(json.dumps(result, indent=None if as_json else 2))


@bench_app.command("generate")
def bench_generate(
    collection: CollectionOpt = None,
    new_tokens: Annotated[int, typer.Option(help="Tokens generated per run.")] = 48,
    dtypes: Annotated[str | None, typer.Option(
        help="Instead: streaming speed per dtype, e.g. float32,bfloat16,auto (auto: the policy's choice).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Tokens/s and time to first token: chain streaming path vs raw generate; RSS base vs base+adapter."""
    from benchmarks.generate import run_dtype_benchmark, run_generate_benchmark
    from chatbot.precision import DTYPES

    wanted = [d.strip() for d in (dtypes or "").split(",") if d.strip()]
    if unknown := [d for d in wanted if d not in ("auto", *DTYPES)]:
        raise _fail(f"unknown dtype(s): {', '.join(unknown)} (choose from auto, {', '.join(DTYPES)})")
    services = open_services()
    try:
        target = collection or services.settings.collection
        result = (run_dtype_benchmark(services, target, wanted, new_tokens) if wanted
                  else run_generate_benchmark(services, target, new_tokens))
    finally:
        services.close()
    typer.echo(json.dumps(result, indent=None if as_json else 2))


@bench_app.command("extractive")
def bench_extractive(
    qa: Annotated[Path, typer.Option(help="QA pairs (JSONL) with gold answers.")],
    split: Annotated[str, typer.Option(help="Split to answer ('all' for every pair).")] = "train",
    collection: CollectionOpt = None,
    top: Annotated[int, typer.Option(help="Settings to print, best first.")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """Token F1 of extractive answers over a grid of their settings (length, margin, source weight)."""
    from benchmarks.extractive import run_extractive_benchmark

    services = open_services()
    try:
        result = run_extractive_benchmark(services, qa, None if split == "all" else split,
                                          collection or services.settings.collection)
    finally:
        services.close()
    result["settings"] = result["settings"][:top]
    typer.echo(json.dumps(result, indent=None if as_json else 2))


@bench_app.command("train")
def bench_train(
    qa: Annotated[Path, typer.Option(help="Question/answer pairs (JSONL).")] = Path("examples/qa.jsonl"),
    docs: Annotated[Path, typer.Option(help="The documents the pairs are about.")] = Path("examples/docs"),
    steps: Annotated[int, typer.Option(min=1, help="Optimizer steps of each recipe.")] = 3,
    quant: Annotated[str, typer.Option(help="The recipe's quantization (nf4, int8, none).")] = "nf4",
    as_json: JsonOpt = False,
) -> None:
    """Seconds per step of the training recipe (in the policy's dtype) vs a float32 LoRA, same examples."""
    from benchmarks.train import run_train_benchmark
    from training.train import TrainingError

    services = open_services()
    try:
        result = run_train_benchmark(services, qa, docs, steps, quant)
    except TrainingError as exc:
        raise _fail(str(exc)) from exc
    finally:
        services.close()
    typer.echo(json.dumps(result, indent=None if as_json else 2))


@bench_app.command("load")
def bench_load(
    url: Annotated[str | None, typer.Option(help="A running ragbot (default: start `ragbot serve`).")] = None,
    users: Annotated[int, typer.Option(min=1, help="Concurrent simulated users.")] = 16,
    seconds: Annotated[int, typer.Option(min=1, help="Seconds of load.")] = 120,
    retrieval_share: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of retrieval-only queries.")] = 0.25,
    generator: Annotated[str, typer.Option(help="base, finetuned or finetuned:<adapter>.")] = "base",
    collection: CollectionOpt = None,
    questions: Annotated[Path | None, typer.Option(help="One question a line, or JSONL with \"question\".")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Concurrent users (streaming chats + retrieval-only searches): latencies, busy/errors, /metrics, RSS."""
    from benchmarks.load import QUESTIONS, LoadConfig, LoadError, load_questions, report_lines, run_load_benchmark

    try:
        config = LoadConfig(users=users, seconds=seconds, retrieval_share=retrieval_share, generator=generator,
                            collection=collection, questions=load_questions(questions) if questions else QUESTIONS)
        err.print(f"load: {users} users for {seconds} s{'' if url else ' (starting ragbot serve first)'}…")
        result = run_load_benchmark(load_settings(), config, url)
    except LoadError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(json.dumps(result) if as_json else "\n".join(report_lines(result)))


feedback_app = typer.Typer(help="User votes.", no_args_is_help=True)
app.add_typer(feedback_app, name="feedback")


@feedback_app.command("export")
def feedback_export(
    out: Annotated[Path, typer.Option(help="JSONL file to write (question, answer, source, conversation_id).")],
    since: Annotated[str | None, typer.Option(help="Only votes from this date (ISO, e.g. 2026-11-01).")] = None,
    min_votes: Annotated[int | None, typer.Option(help="Distinct clients' positive votes a pair needs "
                                                  "(default: RAGBOT_MIN_VOTES).")] = None,
) -> None:
    """Turn thumbs-up answers and blind-vote winners into training pairs for `ragbot train` (review them first)."""
    from datetime import datetime

    from chatbot.storage.feedback_export import export_feedback

    try:
        since_date = datetime.fromisoformat(since) if since else None
    except ValueError as exc:
        raise _fail(f"--since: not an ISO date: {since}") from exc
    services = open_services()
    try:
        count = export_feedback(services.pool, out, since_date, min_votes or services.settings.min_votes)
    finally:
        services.close()
    typer.echo(f"wrote {count} pairs to {out}")


@eval_app.command("compare")
def eval_compare(
    qa: Annotated[Path, typer.Option(help="QA JSONL (question, answer, split).")],
    split: Annotated[str, typer.Option(help="Which split to answer.")] = "test",
    collection: CollectionOpt = None,
    adapter: Annotated[str | None, typer.Option(help="Adapter (default: active, else newest).")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N questions.")] = None,
    report: Annotated[Path | None, typer.Option(help="Self-contained HTML report.")] = None,
    plot_dir: Annotated[Path | None, typer.Option(help="Also write the charts as PNG files here.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The 2×2: base / fine-tuned × without / with retrieval, with quality and cost per arm. The report folder
    (report.html, result.json, records.jsonl, charts) is saved under RAGBOT_HOME/reports/, where the admin
    Evaluation tab lists it."""
    import shutil

    from chatbot.generators import GeneratorUnavailable
    from training.dataset import DatasetError
    from training.reports import REPORT_HTML, RESULT_JSON, run_compare_report

    services = open_services()
    try:
        folder = run_compare_report(services.chain, services.store, services.embedder, services.settings, qa,
                                    split=split, collection=collection, adapter=adapter, limit=limit)
    except (DatasetError, GeneratorUnavailable, db.DatabaseError) as exc:
        raise _fail(str(exc)) from exc
    finally:
        services.close()
    result = json.loads((folder / RESULT_JSON).read_text(encoding="utf-8"))
    if report:
        shutil.copyfile(folder / REPORT_HTML, report)
    if plot_dir:
        plot_dir.mkdir(parents=True, exist_ok=True)
        for png in folder.glob("*.png"):
            shutil.copyfile(png, plot_dir / png.name)
    err.print(f"report saved in {folder}", highlight=False)
    typer.echo(json.dumps(result, indent=None if as_json else 2))
