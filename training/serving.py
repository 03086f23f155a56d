"""Serving a QLoRA adapter on the base quantized the way it was trained (its manifest's `quant`).

Measured (DESIGN.md): an NF4-trained adapter scores F1 0.319 on the NF4 base and 0.257 on the fp32 base.
`QuantAwareGenerators` is `chatbot.generators.Generators` with that rule: `base` stays the plain base,
`finetuned[:name]` runs on a second copy of the base loaded in NF4 (~100 MB) when the adapter says so.
The evaluation uses it now; the report proposes moving it into `chatbot/` for the product.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from chatbot.adapters import AdapterInfo, select_adapter
from chatbot.generators import FINETUNED, Generators, GeneratorUnavailable, LocalChatModel
from chatbot.local_model import LocalModel
from chatbot.models import base_model_location
from chatbot.settings import Settings

QUANTIZED = ("nf4", "int8")


def adapter_quant(adapter: AdapterInfo) -> str:
    """The base quantization an adapter should be served on (`none` for adapters without a manifest)."""
    manifest = adapter.manifest or {}
    return str(manifest.get("serve_on") or manifest.get("quant") or "none")


class QuantizedLocalModel(LocalModel):
    """`LocalModel` whose base is loaded through bitsandbytes (NF4 or int8) instead of in `settings.dtype`."""

    def __init__(self, location: str, settings: Settings, quant: str) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from training.train import quantization_config, training_device

        if settings.torch_threads:
            torch.set_num_threads(settings.torch_threads)
        device = training_device()
        self.location = location
        self.quant = quant
        self.tokenizer = AutoTokenizer.from_pretrained(location)
        self.model: Any = AutoModelForCausalLM.from_pretrained(
            location, quantization_config=quantization_config(quant), dtype=torch.bfloat16,
            device_map={"": 0} if device == "cuda" else "cpu",
        )
        self.model.eval()
        self.max_new_tokens = settings.max_new_tokens
        self.context_window = min(settings.context_window, self._model_max_length())
        self.adapters: dict[str, Path] = {}
        self._lock = threading.Lock()

    def chat_inputs(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        inputs = super().chat_inputs(messages)
        device = next(self.model.parameters()).device
        return {k: v.to(device) for k, v in inputs.items()}


class QuantAwareGenerators(Generators):
    """`Generators` that serves each adapter on the base quantized as its manifest says; the default
    fine-tuned adapter is `settings.adapter`, else the registry's active one, else the newest."""

    def __init__(self, settings: Settings, active_adapter: Callable[[], str | None] | None = None) -> None:
        super().__init__(settings)
        self.active_adapter = active_adapter
        self._quantized: dict[str, LocalModel] = {}

    def quantized(self, quant: str) -> LocalModel:
        with self._lock:
            if quant not in self._quantized:
                self._quantized[quant] = QuantizedLocalModel(base_model_location(self.settings), self.settings, quant)
            return self._quantized[quant]

    def resolve(self, name: str) -> AdapterInfo:
        wanted = name.partition(":")[2] or self.settings.adapter or (self.active_adapter and self.active_adapter())
        try:
            adapter = select_adapter(self.settings.adapters_dir, wanted or None)
        except KeyError as exc:
            raise GeneratorUnavailable(str(exc.args[0])) from exc
        if adapter is None:
            raise GeneratorUnavailable("no fine-tuned adapter exists yet: train one with `ragbot train --qa FILE`")
        return adapter

    def chat_model(self, name: str) -> BaseChatModel:
        if self.remote or not (name == FINETUNED or name.startswith(f"{FINETUNED}:")):
            return super().chat_model(name)
        adapter = self.resolve(name)
        quant = adapter_quant(adapter)
        local = self.quantized(quant) if quant in QUANTIZED else self.local()
        local.load_adapter(adapter.name, adapter.path)
        return LocalChatModel(local=local, adapter=adapter.name)
