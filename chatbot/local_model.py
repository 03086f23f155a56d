"""One local causal LM in memory with its LoRA adapters; concurrent answers share its forward passes."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from langchain_core.messages import MessageLikeRepresentation, convert_to_openai_messages
from transformers.cache_utils import Cache

from chatbot.batching import ContinuousBatcher, Decoding
from chatbot.settings import GenerationSettings, Settings

log = logging.getLogger(__name__)


def inference_threads(settings: GenerationSettings) -> int:
    """Torch threads for answering: `torch_threads`, else half the available cores. The query embedder and
    the generator run on different threads, each with its own OpenMP team; when the teams together need more
    threads than there are cores, both slow down (measured on 2 cores: generation at 2 threads 14 tok/s,
    at 1 thread 19 tok/s, with a query embedded on another thread)."""
    return settings.torch_threads or max(1, len(os.sched_getaffinity(0)) // 2)


def configure_threads(settings: Settings) -> int:
    """Set the process's torch thread count for inference (before the first model runs); returns it."""
    threads = inference_threads(settings)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


class LocalModel:
    """The base model loaded once; adapters are attached to it, never a second copy of the base.

    Its dtype follows the precision policy (`chatbot.precision`: bf16 only where native). `quant="nf4"|"int8"`
    loads the base through bitsandbytes instead (the copy QLoRA adapters are served on). On a CPU those weights
    are then dequantized once to that dtype: the same values, without bitsandbytes' per-call dequantization
    (measured on 2 cores: 1.2× faster for one answer, 8 concurrent answers 2.4× faster than sequential vs 1.4×
    on the bitsandbytes layers)."""

    def __init__(self, location: str, settings: Settings, quant: str = "none") -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from chatbot import precision
        from chatbot.quantization import quantization_config

        self.location = location
        self.quant = quant
        self.precision = precision.resolve(settings)
        log.info("generator %s (%s) in %s: %s", location, quant, self.precision.name, self.precision.reason)
        dtype = self.precision.dtype
        self.tokenizer = AutoTokenizer.from_pretrained(location, local_files_only=True)
        qconfig = quantization_config(quant, dtype)
        cuda = self.precision.device == "cuda"
        self.model: Any = AutoModelForCausalLM.from_pretrained(
            location, quantization_config=qconfig, dtype=dtype, local_files_only=True,
            device_map={"": 0} if cuda else "cpu")
        if qconfig is not None and not cuda:
            self.model = self.model.dequantize(dtype=dtype)
        self.model.eval()
        self.max_new_tokens = settings.max_new_tokens
        positions = int(getattr(self.model.config, "max_position_embeddings", 0) or settings.context_window)
        self.context_window = min(settings.context_window, positions)
        self.adapters: dict[str, Path] = {}
        self._lock = threading.Lock()
        self._batcher = ContinuousBatcher(
            self._forward, lambda ids: self.tokenizer.decode(ids, skip_special_tokens=True),
            eos=self._eos_ids(), max_batch=settings.max_batch, device=self.model.device,
            decoding=Decoding(settings.no_repeat_ngram, settings.repetition_penalty))

    def _eos_ids(self) -> set[int]:
        configured = self.model.generation_config.eos_token_id
        ids = set(configured if isinstance(configured, list) else [configured])
        return {i for i in (*ids, self.tokenizer.eos_token_id) if i is not None}

    def load_adapter(self, name: str, path: Path) -> None:
        """Attach a PEFT LoRA adapter under `name` (idempotent; other files under that name replace it)."""
        from peft import PeftModel

        with self._lock:
            if self.adapters.get(name) == path:
                return
            if name in self.adapters:
                self._detach(name)
            if isinstance(self.model, PeftModel):
                self.model.load_adapter(str(path), adapter_name=name)
            else:
                self.model = PeftModel.from_pretrained(self.model, str(path), adapter_name=name)
                self.model.eval()
            self.adapters[name] = path

    def unload_adapter(self, name: str) -> None:
        """Detach adapter `name` (replaced or deleted in the registry); nothing when it is not loaded."""
        with self._lock:
            if name in self.adapters:
                self._detach(name)

    def _detach(self, name: str) -> None:
        """Under `_lock`: drop the adapter's weights; the last one leaves the bare base (no peft wrapper)."""
        if len(self.adapters) == 1:
            self.model = self.model.unload()
        else:
            self.model.delete_adapter(name)
        del self.adapters[name]
        log.info("adapter %s unloaded", name)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def prompt_cap(self, max_new_tokens: int | None = None) -> int:
        """Tokens a prompt may have: the context window less the answer's."""
        return max(1, self.context_window - (max_new_tokens or self.max_new_tokens))

    def prompt_ids(self, messages: Sequence[MessageLikeRepresentation], max_new_tokens: int | None = None) -> list[int]:
        """The chat template applied, ready for the assistant's turn, and never over `prompt_cap`: the chain fits
        its prompts (sources dropped, never the question); any other over-long prompt loses its oldest tokens
        (earlier turns, the instructions), so the question at the end and the assistant's turn stay. LangChain
        messages become role/content dicts here, where the template needs them (dicts pass as they are)."""
        chat = convert_to_openai_messages(list(messages))
        ids = self.tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_dict=True)["input_ids"]
        cap = self.prompt_cap(max_new_tokens)
        if len(ids) > cap:
            log.warning("prompt of %d tokens cut to its last %d (context window %d)", len(ids), cap,
                        self.context_window)
            ids = ids[-cap:]
        return ids

    def chat_inputs(self, messages: Sequence[MessageLikeRepresentation]) -> dict[str, torch.Tensor]:
        """`prompt_ids` as `generate` inputs on the model's device."""
        ids = torch.tensor([self.prompt_ids(messages)], device=self.model.device)
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}

    def stream(self, messages: Sequence[MessageLikeRepresentation], adapter: str | None = None,
               max_new_tokens: int | None = None) -> Iterator[str]:
        """Yield text pieces as they are generated (greedy). `adapter=None` → the bare base model."""
        if adapter is not None and adapter not in self.adapters:
            raise KeyError(f"adapter '{adapter}' is not loaded")
        new_tokens = max_new_tokens or self.max_new_tokens
        yield from self._batcher.stream(self.prompt_ids(messages, new_tokens), adapter, new_tokens)

    def _forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor,
                 cache: Cache, adapters: list[str | None]) -> torch.Tensor:
        """Next-token logits for each row; each row runs with its own adapter (peft's mixed-adapter batches)."""
        with self._lock:
            extra = {"adapter_names": [a or "__base__" for a in adapters]} if self.adapters else {}
            output = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                                cache=cache, use_cache=True, logits_to_keep=1, **extra)
        return output.logits[:, -1, :].float()
