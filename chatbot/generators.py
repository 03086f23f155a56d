"""Generators behind one interface, each a LangChain chat model: `base`, `finetuned[:name]`, answered by the
backend chosen once at composition (`chatbot.backends`: the local model or an OpenAI-compatible server); and
`extractive`, which answers with the retrieved sources' own sentences (`chatbot.extractive`, run by the chain)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from chatbot.adapter_catalog import AdapterCatalog
from chatbot.adapters import AdapterInfo
from chatbot.backends import backend_for
from chatbot.backends.base import (
    BASE,
    EXTRACTIVE,
    FINETUNED,
    TRAIN_HINT,
    GeneratorBackend,
    GeneratorUnavailable,
    resolve_adapter,
    unknown_generator,
)
from chatbot.precision import Precision
from chatbot.settings import Settings
from chatbot.storage.adapter_registry import AdapterRegistry

__all__ = ["BASE", "EXTRACTIVE", "FINETUNED", "TRAIN_HINT", "GeneratorUnavailable", "Generators"]


class Generators:
    """Resolves generator names to chat models. The default `finetuned` adapter: `settings.adapter`, else the
    registry's active one, else the newest. Without a registry, only the adapters on this disk are known."""

    def __init__(self, settings: Settings, registry: Callable[[], AdapterRegistry] | None = None,
                 backend: GeneratorBackend | None = None) -> None:
        self.settings = settings
        self.catalog = AdapterCatalog(settings.adapters_dir, registry)
        self.backend = backend or backend_for(settings, self.catalog)

    def precision(self) -> Precision | None:
        """The dtype the local generator computes in, and why (None with a remote server)."""
        return self.backend.precision()

    def has_finetuned(self) -> bool:
        """Whether `finetuned` can answer: an adapter, or a server model configured for it."""
        return bool(self.backend.finetuned_names())

    def finetuned_hint(self) -> str:
        """How to get a fine-tuned generator here ('' once there is one)."""
        return "" if self.has_finetuned() else self.backend.missing_finetuned_hint()

    def names(self) -> list[str]:
        """The generators that can answer here: `base`, `extractive`, and `finetuned` with `finetuned:<adapter>`
        for each adapter only once one exists (or a server model is configured for it)."""
        return [BASE, EXTRACTIVE, *self.backend.finetuned_names()]

    def resolve(self, name: str) -> AdapterInfo:
        """The adapter a `finetuned[:name]` generator answers with."""
        return resolve_adapter(self.catalog, self.settings.adapter, name)

    def chat_model(self, name: str) -> BaseChatModel:
        """The chat model `name` answers with; `GeneratorUnavailable` (saying how to fix it) when it cannot here."""
        if name == EXTRACTIVE:
            raise GeneratorUnavailable("`extractive` runs no model: the chain builds its answers")
        if name in (BASE, FINETUNED) or name.startswith(f"{FINETUNED}:"):
            return self.backend.chat_model(name)
        raise unknown_generator(name, self.names())

    def count_tokens(self, text: str) -> int:
        """Tokens as the generator counts them (a 4-characters-per-token estimate for a remote server)."""
        return self.backend.count_tokens(text)

    def prompt_tokens(self, messages: Sequence[BaseMessage]) -> int:
        """A prompt's tokens with the chat template (a server's template: 8 tokens a message, estimated)."""
        return self.backend.prompt_tokens(messages)

    def context_window(self) -> int:
        return self.backend.context_window()
