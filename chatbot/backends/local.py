"""The local backend: the base model in this process (transformers; the batcher shares its forward passes) with
the registry's LoRA adapters attached through peft. Each replica has its own model and batcher by design."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from functools import cached_property
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, convert_to_openai_messages
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict

from chatbot.adapter_catalog import AdapterCatalog
from chatbot.backends.base import BASE, FINETUNED, TRAIN_HINT, GeneratorUnavailable, adapter_names, resolve_adapter
from chatbot.local_model import LocalModel
from chatbot.models import base_model_location
from chatbot.precision import Precision
from chatbot.precision import resolve as resolve_precision
from chatbot.quantization import adapter_quant
from chatbot.settings import Settings


class LocalChatModel(BaseChatModel):
    """A `LocalModel` as a LangChain chat model; `adapter=None` answers with the bare base."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    local: LocalModel
    adapter: str | None = None
    max_new_tokens: int | None = None

    @property
    def _llm_type(self) -> str:
        return "ragbot-local"

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        text = "".join(chunk.message.content for chunk in self._stream(messages, stop, run_manager, **kwargs))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        for piece in self.local.stream(messages, adapter=self.adapter, max_new_tokens=self.max_new_tokens):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk


class LocalBackend:
    """The base loaded once per quantization, on first use. A QLoRA adapter is served on the base quantized as it
    was trained (measured: F1 0.319 on the NF4 base vs 0.257 on the fp32 one), and by default `base` answers from
    that same model with the adapter off. Registered adapters are unpacked under `RAGBOT_HOME/adapter-cache`; one
    replaced or deleted in the registry is dropped from the loaded models when the catalog notices."""

    def __init__(self, settings: Settings, catalog: AdapterCatalog) -> None:
        self.settings = settings
        self.catalog = catalog
        self._models: dict[str, LocalModel] = {}
        self._lock = threading.Lock()
        catalog.on_change(self._drop_stale)

    def local(self, quant: str = "none") -> LocalModel:
        """The base model loaded as `quant` (`none`: the configured dtype)."""
        with self._lock:
            if quant not in self._models:
                self._models[quant] = LocalModel(base_model_location(self.settings), self.settings, quant)
            return self._models[quant]

    def precision(self) -> Precision:
        return resolve_precision(self.settings)

    def finetuned_names(self) -> list[str]:
        return adapter_names(self.catalog)

    def missing_finetuned_hint(self) -> str:
        return TRAIN_HINT

    def base_quant(self) -> str:
        """The quantization `base` answers with: configured, or ('auto') that of the default adapter, so that
        base and fine-tuned share one loaded model (measured: a second copy costs ~1.5× the memory)."""
        if self.settings.base_quant != "auto":
            return self.settings.base_quant
        try:
            return adapter_quant(resolve_adapter(self.catalog, self.settings.adapter, FINETUNED))
        except GeneratorUnavailable:
            return "none"

    def chat_model(self, name: str) -> BaseChatModel:
        if name == BASE:
            return LocalChatModel(local=self.local(self.base_quant()))
        adapter = resolve_adapter(self.catalog, self.settings.adapter, name)
        try:
            files = self.catalog.files(adapter, self.settings.home / "adapter-cache")
        except KeyError as exc:
            raise GeneratorUnavailable(str(exc.args[0])) from exc
        local = self.local(adapter_quant(adapter))
        local.load_adapter(adapter.name, files)
        return LocalChatModel(local=local, adapter=adapter.name)

    def _drop_stale(self) -> None:
        """Unload adapters whose files are no longer the catalog's (replaced or deleted elsewhere)."""
        current = {a.name: a for a in self.catalog.adapters()}
        with self._lock:
            models = list(self._models.values())
        for model in models:
            for name, path in list(model.adapters.items()):
                adapter = current.get(name)
                if adapter is None or (adapter.sha256 and not path.name.endswith(adapter.sha256[:12])):
                    model.unload_adapter(name)

    @cached_property
    def _tokenizer(self) -> Any:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(base_model_location(self.settings), local_files_only=True)

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def prompt_tokens(self, messages: Sequence[BaseMessage]) -> int:
        return len(self._tokenizer.apply_chat_template(convert_to_openai_messages(messages),
                                                       add_generation_prompt=True, return_dict=True)["input_ids"])

    @cached_property
    def _window(self) -> int:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(base_model_location(self.settings), local_files_only=True)
        return min(self.settings.context_window, int(getattr(config, "max_position_embeddings", 0) or 2048))

    def context_window(self) -> int:
        return self._window
