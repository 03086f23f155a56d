"""`ragbot embedder tune | use | list | drop`: an embedder tuned on the store, and which one each collection uses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from chatbot.cli_services import open_services
from chatbot.embedder_admin import EmbedderAdmin, heldout_text
from chatbot.embedder_registry import BASE, EmbedderRegistryError
from chatbot.storage import db
from chatbot.tables import print_table
from training.embedder_pairs import SENTENCE_SHARE
from training.embedder_tune import DEFAULT_LEARNING_RATE, DEFAULT_MIX, DEFAULT_QUESTIONS

embedder_app = typer.Typer(help="Embedders tuned on the store; which one each collection's vectors come from.",
                           no_args_is_help=True)
err = Console(stderr=True)

CollectionOpt = Annotated[str | None, typer.Option("--collection", "-c", help="Collection (default: settings).")]


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(1)


@embedder_app.command("tune")
def tune(
    collection: CollectionOpt = None,
    name: Annotated[str | None, typer.Option(help="The new embedder's name (default: <collection>-<time>).")] = None,
    qa: Annotated[Path | None, typer.Option(help="Also QA pairs (JSONL): each question → its gold chunks.")] = None,
    split: Annotated[str, typer.Option(help="Which QA split to train on.")] = "train",
    max_pairs: Annotated[int, typer.Option(min=1, help="Training pairs at most (QA pairs all kept).")] = 3000,
    epochs: Annotated[float, typer.Option(min=0.01, help="Passes over the pairs.")] = 1.0,
    batch_size: Annotated[int, typer.Option(min=2, help="Pairs per batch (the others are each one's negatives).")] = 32,
    lr: Annotated[float, typer.Option(help="Learning rate.")] = DEFAULT_LEARNING_RATE,
    max_seq_length: Annotated[int, typer.Option(min=16, help="Tokens of a passage while training.")] = 256,
    max_steps: Annotated[int | None, typer.Option(min=1, help="Stop after N steps.")] = None,
    seed: Annotated[int, typer.Option(help="Sampling and training seed.")] = 0,
    questions: Annotated[int, typer.Option(min=0, help="Chunks the bundled generator writes a question for; "
                                           "without --qa, half of them are the held-out check (0: none, and "
                                           "then no check without --qa).")] = DEFAULT_QUESTIONS,
    agree_k: Annotated[int, typer.Option(min=1, help="Train on a generated question when the retriever ranks "
                                         "its chunk in this top k.")] = 3,
    sentence_share: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of the store pairs that are a "
                                                  "chunk's sentence → the rest of it (the others: its heading or "
                                                  "title → it).")] = SENTENCE_SHARE,
    mix: Annotated[float, typer.Option(min=0.01, max=1.0, help="Share of the tuned weights in the saved model, "
                                       "the rest the base's (WiSE-FT; 1: the tuned weights as trained).")
                   ] = DEFAULT_MIX,
    hard_negatives: Annotated[bool, typer.Option(help="Give each pair a hard negative (a chunk of another "
                                                 "document the base embedder ranks high) and train with "
                                                 "GISTEmbedLoss guided by the base; about twice the training "
                                                 "time. Best with --mix 1.")] = False,
    use: Annotated[bool, typer.Option("--use", help="Then switch the collection to it.")] = False,
) -> None:
    """Tune the embedder on (heading/title → chunk, sentence → rest of its chunk) pairs and generated questions
    from the collection, plus QA pairs when given; checked before and after on held-out QA (with --qa) or
    generated questions."""
    from datetime import UTC, datetime

    from training.dataset import DatasetError
    from training.embedder_tune import TuneConfig
    from training.embedder_tune import tune as run_tune

    services = open_services()
    target = collection or services.settings.collection
    try:
        config = TuneConfig(target, name or f"{target}-{datetime.now(UTC):%Y%m%d-%H%M%S}", str(qa) if qa else None,
                            split, max_pairs, epochs, batch_size, lr, max_seq_length=max_seq_length,
                            max_steps=max_steps, seed=seed, questions=questions, agree_k=agree_k,
                            sentence_share=sentence_share, mix=mix, hard_negatives=hard_negatives)
        result = run_tune(services.corpus, services.settings, config,
                          on_data=lambda pairs: err.print(f"pairs: {pairs.counts()}"))
        typer.echo(f"tuned embedder '{result.name}' in {result.path}")
        typer.echo(json.dumps(result.manifest["metrics"]))
        if use:
            _switch(services.embedder_admin, result.name, target)
    except (ValueError, DatasetError, EmbedderRegistryError, db.DatabaseError) as exc:
        raise _fail(str(exc)) from exc
    finally:
        services.close()


def _switch(admin: EmbedderAdmin, name: str, collection: str) -> None:
    result = admin.use_embedder(name, collection)
    typer.echo(f"'{collection}' now queries with {result.current} ({result.chunks} chunks; "
               f"the vectors of {result.previous} are kept until `ragbot embedder drop`)")


@embedder_app.command("use")
def use(
    name: Annotated[str, typer.Argument(help=f"A tuned embedder, or '{BASE}' for the configured one.")],
    collection: CollectionOpt = None,
) -> None:
    """Switch a collection to another embedder: its chunks are encoded (unless kept from before), then the vectors
    switch in one transaction; the previous ones are kept until `ragbot embedder drop`."""
    services = open_services()
    try:
        _switch(services.embedder_admin, name, collection or services.settings.collection)
    except (ValueError, EmbedderRegistryError, db.DatabaseError) as exc:
        raise _fail(str(exc)) from exc
    finally:
        services.close()


@embedder_app.command("list")
def list_embedders(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """The embedders, the collections that query with each, the vectors kept of each."""
    services = open_services()
    try:
        embedders = services.embedder_admin.embedder_rows()
    finally:
        services.close()
    if as_json:
        typer.echo(json.dumps([row.to_json() for row in embedders]))
        return
    table = Table("name", "used by", "vectors kept", "pairs (qa)", "steps", "held-out MRR before → after")
    for row in embedders:
        r, mrr = row.to_json(), heldout_text(row.manifest.get("metrics", {}))
        pairs = f"{r['pairs']} ({r['qa_pairs']})" if r["pairs"] is not None else ""
        table.add_row(r["name"], ", ".join(r["used_by"]), ", ".join(r["kept_in"]), pairs, str(r["steps"] or ""), mrr)
    print_table(table)


@embedder_app.command("drop")
def drop(
    name: Annotated[str, typer.Argument(help=f"A tuned embedder, or '{BASE}' for the configured one's kept vectors.")],
    collection: Annotated[str | None, typer.Option("--collection", "-c", help="Only the vectors kept here.")] = None,
) -> None:
    """Delete an embedder's kept vectors (and a tuned one's files, unless --collection); refused while in use."""
    services = open_services()
    try:
        vectors, files = services.embedder_admin.drop_vectors(name, collection)
    except (EmbedderRegistryError, db.DatabaseError) as exc:
        raise _fail(str(exc)) from exc
    finally:
        services.close()
    if not vectors and not files:
        raise _fail(f"nothing to drop for '{name}'" + (f" in '{collection}'" if collection else ""))
    typer.echo(f"dropped {vectors} kept vectors of '{name}'" + (" and its files" if files else ""))
