"""What every generator backend offers, and the generator names and errors they share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from chatbot.adapter_catalog import AdapterCatalog
from chatbot.adapters import AdapterInfo
from chatbot.precision import Precision

BASE = "base"
FINETUNED = "finetuned"
EXTRACTIVE = "extractive"
TRAIN_HINT = ("no fine-tuned generator yet: train an adapter in Admin → Fine-tuning, or with "
              "`ragbot train --qa examples/qa.jsonl`")


class GeneratorUnavailable(RuntimeError):
    """A generator that cannot answer here; the message says how to fix it."""


class GeneratorBackend(Protocol):
    """Where `base` and `finetuned[:adapter]` answer: chat models, token counts and the context window."""

    def finetuned_names(self) -> list[str]:
        """`finetuned` and `finetuned:<adapter>` names this backend can answer with now ([] when none)."""
        ...

    def missing_finetuned_hint(self) -> str:
        """How to get a fine-tuned generator where there is none."""
        ...

    def chat_model(self, name: str) -> BaseChatModel:
        """`base` or `finetuned[:adapter]` as a chat model; `GeneratorUnavailable` saying why not."""
        ...

    def count_tokens(self, text: str) -> int: ...

    def prompt_tokens(self, messages: Sequence[BaseMessage]) -> int:
        """A prompt's tokens with the chat template."""
        ...

    def context_window(self) -> int: ...

    def precision(self) -> Precision | None:
        """The dtype a local model computes in, and why (None for a server)."""
        ...


def adapter_names(catalog: AdapterCatalog) -> list[str]:
    """`finetuned` and `finetuned:<name>` for each adapter the catalog knows; [] when there is none."""
    adapters = [f"{FINETUNED}:{a.name}" for a in catalog.adapters()]
    return [FINETUNED, *adapters] if adapters else []


def resolve_adapter(catalog: AdapterCatalog, configured: str | None, name: str) -> AdapterInfo:
    """The adapter `finetuned[:adapter]` answers with: the named one, else `configured`, else the registry's
    active one, else the newest. An unknown name's message lists the generators that can answer."""
    try:
        adapter = catalog.select(name.partition(":")[2] or configured or None)
    except KeyError as exc:
        choices = ", ".join([BASE, EXTRACTIVE, *adapter_names(catalog)])
        raise GeneratorUnavailable(f"{exc.args[0]} (choose from: {choices})") from exc
    if adapter is None:
        raise GeneratorUnavailable(f"{TRAIN_HINT} (or pick `base` or `extractive`)")
    return adapter


def unknown_generator(name: str, names: Sequence[str]) -> GeneratorUnavailable:
    return GeneratorUnavailable(f"unknown generator '{name}' (choose from: {', '.join(names)})")
