"""One local causal LM in memory, with its LoRA adapters switched per request under a lock."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from transformers import LogitsProcessor, LogitsProcessorList

from chatbot.settings import Settings

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class GeneratedNgramBlocker(LogitsProcessor):
    """Forbid repeating any n-gram *of the answer itself* (prompt excluded, so copying sources stays
    allowed). Stops the citation loops ("[4] [4] [4] …") and phrase loops small models fall into."""

    def __init__(self, prompt_length: int, n: int = 6) -> None:
        self.prompt_length = prompt_length
        self.n = n

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        for row in range(input_ids.shape[0]):
            generated = input_ids[row, self.prompt_length:].tolist()
            if len(generated) < self.n:
                continue
            prefix = tuple(generated[-(self.n - 1):])
            banned = {
                generated[i + self.n - 1]
                for i in range(len(generated) - self.n + 1)
                if tuple(generated[i: i + self.n - 1]) == prefix
            }
            if banned:
                scores[row, list(banned)] = float("-inf")
        return scores


def inference_threads(settings: Settings) -> int:
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

    `quant="nf4"|"int8"` loads the base through bitsandbytes instead (the copy QLoRA adapters are served on)."""

    def __init__(self, location: str, settings: Settings, quant: str = "none") -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from chatbot.quantization import quantization_config, torch_device

        self.location = location
        self.quant = quant
        self.tokenizer = AutoTokenizer.from_pretrained(location, local_files_only=True)
        qconfig = quantization_config(quant)
        if qconfig is None:
            self.model: Any = AutoModelForCausalLM.from_pretrained(
                location, dtype=_DTYPES[settings.dtype], local_files_only=True)
        else:
            cuda = torch_device() == "cuda"
            self.model = AutoModelForCausalLM.from_pretrained(
                location, quantization_config=qconfig, dtype=torch.bfloat16, local_files_only=True,
                device_map={"": 0} if cuda else "cpu")
        self.model.eval()
        self.max_new_tokens = settings.max_new_tokens
        self.adapters: dict[str, Path] = {}
        self._lock = threading.Lock()

    def load_adapter(self, name: str, path: Path) -> None:
        """Attach a PEFT LoRA adapter under `name` (idempotent)."""
        from peft import PeftModel

        with self._lock:
            if name in self.adapters:
                return
            if isinstance(self.model, PeftModel):
                self.model.load_adapter(str(path), adapter_name=name)
            else:
                self.model = PeftModel.from_pretrained(self.model, str(path), adapter_name=name)
                self.model.eval()
            self.adapters[name] = path

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def chat_inputs(self, messages: list[dict[str, str]]) -> dict[str, torch.Tensor]:
        inputs = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        device = self.model.device
        return {k: v.to(device) for k, v in inputs.items()}

    def stream(self, messages: list[dict[str, str]], adapter: str | None = None,
               max_new_tokens: int | None = None) -> Iterator[str]:
        """Yield text pieces as they are generated (greedy). `adapter=None` → the bare base model."""
        from transformers import TextIteratorStreamer

        if adapter is not None and adapter not in self.adapters:
            raise KeyError(f"adapter '{adapter}' is not loaded")
        inputs = self.chat_inputs(messages)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        prompt_length = inputs["input_ids"].shape[1]
        kwargs = dict(
            **inputs,
            streamer=streamer,
            max_new_tokens=max_new_tokens or self.max_new_tokens,
            do_sample=False,
            logits_processor=LogitsProcessorList([GeneratedNgramBlocker(prompt_length)]),
            pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
        )
        failure: list[BaseException] = []

        def run() -> None:
            try:
                with self._lock, torch.inference_mode():
                    self._generate_with(adapter, kwargs)
            except BaseException as exc:  # surfaced to the consumer below
                failure.append(exc)
                streamer.end()

        thread = threading.Thread(target=run, name="ragbot-generate", daemon=True)
        thread.start()
        yield from (piece for piece in streamer if piece)
        thread.join()
        if failure:
            raise failure[0]

    def _generate_with(self, adapter: str | None, kwargs: dict[str, Any]) -> None:
        if not self.adapters:
            self.model.generate(**kwargs)
        elif adapter is None:
            with self.model.disable_adapter():
                self.model.generate(**kwargs)
        else:
            self.model.set_adapter(adapter)
            self.model.generate(**kwargs)
