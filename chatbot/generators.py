"""Generators behind one interface, each a LangChain chat model: `base`, `finetuned[:name]`, or a server; and
`extractive`, which answers with the retrieved sources' own sentences (`chatbot.extractive`, run by the chain)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from functools import cached_property
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, convert_to_openai_messages
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict

from chatbot.adapters import AdapterInfo, list_adapters, select_adapter
from chatbot.local_model import LocalModel
from chatbot.models import base_model_location
from chatbot.precision import Precision
from chatbot.precision import resolve as resolve_precision
from chatbot.quantization import adapter_quant
from chatbot.settings import Settings

BASE = "base"
FINETUNED = "finetuned"
EXTRACTIVE = "extractive"
TRAIN_HINT = ("no fine-tuned generator yet: train an adapter in Admin → Fine-tuning, or with "
              "`ragbot train --qa examples/qa.jsonl`")


class GeneratorUnavailable(RuntimeError):
    """A generator that cannot answer here; the message says how to fix it."""


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


class Generators:
    """Resolves generator names to chat models. The local base is loaded once, on first use. A QLoRA adapter is
    served on the base quantized as it was trained (measured: F1 0.319 on the NF4 base vs 0.257 on the fp32
    one), and by default `base` answers from that same model with the adapter off. The default `finetuned`
    adapter: `settings.adapter`, else the registry's active one, else the newest."""

    def __init__(self, settings: Settings, active_adapter: Callable[[], str | None] | None = None) -> None:
        self.settings = settings
        self.active_adapter = active_adapter
        self._models: dict[str, LocalModel] = {}
        self._lock = threading.Lock()

    @property
    def remote(self) -> bool:
        return bool(self.settings.openai_base_url)

    def local(self, quant: str = "none") -> LocalModel:
        """The base model loaded as `quant` (`none`: the configured dtype)."""
        with self._lock:
            if quant not in self._models:
                self._models[quant] = LocalModel(base_model_location(self.settings), self.settings, quant)
            return self._models[quant]

    def precision(self) -> Precision | None:
        """The dtype the local generator computes in, and why (None with a remote server)."""
        return None if self.remote else resolve_precision(self.settings)

    def has_finetuned(self) -> bool:
        """Whether `finetuned` can answer: an adapter on disk, or a server model configured for it."""
        if self.remote:
            return bool(self.settings.openai_model_finetuned)
        return bool(list_adapters(self.settings.adapters_dir))

    def names(self) -> list[str]:
        """The generators that can answer here: `base`, `extractive`, and `finetuned` with `finetuned:<adapter>`
        for each adapter on disk only once one exists (or a server model is configured for it)."""
        if self.remote:
            return [BASE, EXTRACTIVE, *([FINETUNED] if self.has_finetuned() else [])]
        adapters = [f"{FINETUNED}:{a.name}" for a in list_adapters(self.settings.adapters_dir)]
        return [BASE, EXTRACTIVE, *([FINETUNED, *adapters] if adapters else [])]

    def base_quant(self) -> str:
        """The quantization `base` answers with: configured, or ('auto') that of the default adapter, so that
        base and fine-tuned share one loaded model (measured: a second copy costs ~1.5× the memory)."""
        if self.settings.base_quant != "auto":
            return self.settings.base_quant
        try:
            return adapter_quant(self.resolve(FINETUNED))
        except GeneratorUnavailable:
            return "none"

    def resolve(self, name: str) -> AdapterInfo:
        """The adapter a `finetuned[:name]` generator answers with."""
        wanted = name.partition(":")[2] or self.settings.adapter or (self.active_adapter and self.active_adapter())
        try:
            adapter = select_adapter(self.settings.adapters_dir, wanted or None)
        except KeyError as exc:
            raise GeneratorUnavailable(str(exc.args[0])) from exc
        if adapter is None:
            raise GeneratorUnavailable(f"{TRAIN_HINT} (or pick `base` or `extractive`)")
        return adapter

    def chat_model(self, name: str) -> BaseChatModel:
        """The chat model `name` answers with; `GeneratorUnavailable` (saying how to fix it) when it cannot here."""
        if self.remote:
            return self._remote_model(name)
        if name == EXTRACTIVE:
            raise GeneratorUnavailable("`extractive` runs no model: the chain builds its answers")
        if name == BASE:
            return LocalChatModel(local=self.local(self.base_quant()))
        if name == FINETUNED or name.startswith(f"{FINETUNED}:"):
            adapter = self.resolve(name)
            local = self.local(adapter_quant(adapter))
            local.load_adapter(adapter.name, adapter.path)
            return LocalChatModel(local=local, adapter=adapter.name)
        raise GeneratorUnavailable(f"unknown generator '{name}' (choose from: {', '.join(self.names())})")

    def _remote_model(self, name: str) -> BaseChatModel:
        from langchain_openai import ChatOpenAI

        s = self.settings
        if name == BASE:
            model = s.openai_model_base
        elif name == FINETUNED:
            model = s.openai_model_finetuned
        elif name.startswith(f"{FINETUNED}:"):
            model = name.partition(":")[2]
        else:
            raise GeneratorUnavailable(f"unknown generator '{name}' (choose from: {', '.join(self.names())})")
        if not model:
            raise GeneratorUnavailable(
                f"no server model is configured for '{name}': set RAGBOT_OPENAI_MODEL_{name.upper()}"
            )
        return ChatOpenAI(base_url=s.openai_base_url, api_key=s.openai_api_key, model=model,
                          temperature=0, max_tokens=s.max_new_tokens, streaming=True, timeout=120)

    @cached_property
    def _tokenizer(self) -> Any:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(base_model_location(self.settings), local_files_only=True)

    def count_tokens(self, text: str) -> int:
        """Tokens as the generator counts them (a 4-characters-per-token estimate for a remote server)."""
        if self.remote:
            return len(text) // 4 + 1
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def prompt_tokens(self, messages: Sequence[BaseMessage]) -> int:
        """A prompt's tokens with the chat template (a server's template: 8 tokens a message, estimated)."""
        if self.remote:
            return sum(self.count_tokens(str(m.content)) + 8 for m in messages)
        return len(self._tokenizer.apply_chat_template(convert_to_openai_messages(messages),
                                                       add_generation_prompt=True, return_dict=True)["input_ids"])

    @cached_property
    def _local_window(self) -> int:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(base_model_location(self.settings), local_files_only=True)
        return min(self.settings.context_window, int(getattr(config, "max_position_embeddings", 0) or 2048))

    def context_window(self) -> int:
        return self.settings.context_window if self.remote else self._local_window
