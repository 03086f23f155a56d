"""The OpenAI-compatible server backend (vLLM, or any such server): `base` is `RAGBOT_OPENAI_MODEL_BASE`.
`finetuned` is `RAGBOT_OPENAI_MODEL_FINETUNED`, or, with `RAGBOT_OPENAI_PUBLISH_ADAPTERS` (vLLM with runtime LoRA
updating), the registry's adapters, published to the server as they are activated, replaced and deleted."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import httpx
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from chatbot.adapter_catalog import AdapterCatalog
from chatbot.backends.base import BASE, FINETUNED, GeneratorUnavailable, adapter_names, resolve_adapter
from chatbot.backends.vllm_adapters import PublishError, VllmAdapters
from chatbot.settings import Settings

log = logging.getLogger(__name__)


class OpenAIBackend:
    def __init__(self, settings: Settings, catalog: AdapterCatalog) -> None:
        self.settings = settings
        self.catalog = catalog
        self.publisher: VllmAdapters | None = None
        if settings.openai_publish_adapters:
            folder = settings.openai_adapter_dir or settings.home / "published-adapters"
            self.publisher = VllmAdapters(str(settings.openai_base_url), settings.openai_api_key.get_secret_value(),
                                          folder, catalog)
            catalog.on_change(self._follow_registry)

    def precision(self) -> None:
        return None

    def finetuned_names(self) -> list[str]:
        if self.publisher is not None:
            return adapter_names(self.catalog)
        return [FINETUNED] if self.settings.openai_model_finetuned else []

    def missing_finetuned_hint(self) -> str:
        if self.publisher is not None:
            return "no adapter is registered yet: train one with `ragbot train --qa FILE`"
        return "no fine-tuned generator: set `RAGBOT_OPENAI_MODEL_FINETUNED` to the server's fine-tuned model"

    def chat_model(self, name: str) -> BaseChatModel:
        from langchain_openai import ChatOpenAI

        s = self.settings
        model = self._server_model(name)
        if not model:
            raise GeneratorUnavailable(
                f"no server model is configured for '{name}': set RAGBOT_OPENAI_MODEL_{name.upper()}")
        return ChatOpenAI(base_url=s.openai_base_url, api_key=s.openai_api_key, model=model,
                          temperature=0, max_tokens=s.max_new_tokens, streaming=True, timeout=120)

    def _server_model(self, name: str) -> str | None:
        if name == BASE:
            return self.settings.openai_model_base
        if self.publisher is None:
            return name.partition(":")[2] or self.settings.openai_model_finetuned
        adapter = resolve_adapter(self.catalog, self.settings.adapter, name)
        try:
            return self.publisher.publish(adapter)
        except (KeyError, PublishError, httpx.HTTPError) as exc:
            raise GeneratorUnavailable(str(exc.args[0] if exc.args else exc)) from exc

    def _follow_registry(self) -> None:
        """After a change to the registry: unload what was replaced or deleted, publish the active adapter."""
        adapters = self.catalog.adapters()
        try:
            self.publisher.withdraw_stale(adapters)
            active = self.catalog.active()
            if active:
                self.publisher.publish(next(a for a in adapters if a.name == active))
        except (httpx.HTTPError, KeyError, PublishError, StopIteration) as exc:  # the next use tries again
            log.warning("could not follow the adapter registry on %s: %s", self.settings.openai_base_url, exc)

    def count_tokens(self, text: str) -> int:
        """A 4-characters-per-token estimate (the server's tokenizer is not here)."""
        return len(text) // 4 + 1

    def prompt_tokens(self, messages: Sequence[BaseMessage]) -> int:
        """The server's template: 8 tokens a message, estimated."""
        return sum(self.count_tokens(str(m.content)) + 8 for m in messages)

    def context_window(self) -> int:
        return self.settings.context_window
