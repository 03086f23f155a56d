"""Generation through the chain's streaming path vs raw `model.generate` on the same prompt, the memory
cost of serving base and fine-tuned side by side (a QLoRA adapter on its quantized base, as served), and the
streaming speed of each dtype the precision policy could choose."""

from __future__ import annotations

import gc
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import torch
from langchain_core.documents import Document
from langchain_core.messages import convert_to_messages

from chatbot import precision
from chatbot.backends.local import LocalChatModel
from chatbot.corpus import RetrieverFactory
from chatbot.local_model import LocalModel
from chatbot.models import base_model_location
from chatbot.services import Services

QUESTION = "How do I factory reset the hub, and what happens to my data?"
FILLER = ("The hub keeps its settings in encrypted flash storage. A reset returns every option to its factory "
          "value, removes paired devices and clears automations, but the cloud backup remains available. ")


def context_documents(retriever_for: RetrieverFactory, collection: str, k: int = 5) -> list[Document]:
    """The top-k chunks for the question, or k synthetic ~150-token chunks when the collection is empty."""
    documents = retriever_for(collection, k=k).invoke(QUESTION)
    if len(documents) >= k:
        return documents[:k]
    return [Document(page_content=FILLER * 4, metadata={"title": f"Manual part {i}", "similarity": 1.0})
            for i in range(1, k + 1)]


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 1048576


def _untrained_adapter(local: Any, folder: Path) -> Path:
    """A freshly initialised LoRA adapter (r=16, all linear layers) for measuring memory when none is trained."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM")
    from transformers import AutoModelForCausalLM

    scratch = AutoModelForCausalLM.from_pretrained(local.location, dtype=torch.float32, local_files_only=True)
    get_peft_model(scratch, config).save_pretrained(folder)
    del scratch
    return folder


def run_generate_benchmark(services: Services, collection: str, new_tokens: int = 48,
                           repeats: int = 3) -> dict[str, Any]:
    local = services.generators.backend.local(services.generators.backend.base_quant())  # the model `base` answers with
    documents = context_documents(services.retriever, collection)
    messages, fitted = services.chain.build_messages(QUESTION, documents)
    inputs = local.chat_inputs(messages)
    prompt_tokens = int(inputs["input_ids"].shape[1])
    model = LocalChatModel(local=local, max_new_tokens=new_tokens)

    # Decode rates exclude the first token (prefill) on both sides, so an answer that ends early at EOS
    # is compared fairly with the forced-length raw run; the first token is reported on its own.
    raw_rates, raw_ttft, chain_rates, chain_ttft = [], [], [], []
    list(local.stream(messages, max_new_tokens=2))  # warm-up (lazy init, allocator)
    for _ in range(repeats):
        with torch.inference_mode():
            started = time.perf_counter()
            local.model.generate(**inputs, max_new_tokens=1, do_sample=False)
            first = time.perf_counter() - started
            raw_ttft.append(first)
            started = time.perf_counter()
            out = local.model.generate(**inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                                       do_sample=False)
            raw_rates.append((out.shape[1] - prompt_tokens - 1) / (time.perf_counter() - started - first))
        started = time.perf_counter()
        first, pieces = None, []
        for chunk in model.stream(convert_to_messages(messages)):
            if first is None:
                first = time.perf_counter() - started
            pieces.append(chunk.content)
        elapsed = time.perf_counter() - started
        chain_ttft.append(first or elapsed)
        chain_rates.append((local.count_tokens("".join(pieces)) - 1) / max(elapsed - (first or 0.0), 1e-9))

    base_rss = rss_mb()
    chat = convert_to_messages(messages)
    adapters = [a for a in services.generators.names() if a.startswith("finetuned:")]
    with tempfile.TemporaryDirectory() as tmp:
        if adapters:  # served as in the product: a QLoRA adapter runs on the base quantized as it was trained
            tuned = services.generators.chat_model(adapters[0]).model_copy(update={"max_new_tokens": 8})
            adapter_name = adapters[0]
        else:
            local.load_adapter("bench-untrained", _untrained_adapter(local, Path(tmp) / "adapter"))
            tuned = LocalChatModel(local=local, adapter="bench-untrained", max_new_tokens=8)
            adapter_name = "bench-untrained (fresh LoRA r=16, all linear)"
        list(tuned.stream(chat))
        list(model.model_copy(update={"max_new_tokens": 8}).stream(chat))
        both_rss = rss_mb()

    median = statistics.median
    return {
        "cpu": precision.cpu_report(services.settings), "precision": local.precision.to_json(),
        "model": local.location, "base_quant": local.quant,
        "threads": torch.get_num_threads(),
        "context_chunks": len(fitted), "prompt_tokens": prompt_tokens, "new_tokens": new_tokens,
        "raw_tokens_per_s": round(median(raw_rates), 2), "chain_tokens_per_s": round(median(chain_rates), 2),
        "ratio": round(median(chain_rates) / median(raw_rates), 3),
        "raw_first_token_s": round(median(raw_ttft), 3), "chain_first_token_s": round(median(chain_ttft), 3),
        "rss_base_mb": round(base_rss), "rss_base_plus_adapter_mb": round(both_rss), "adapter": adapter_name,
        "rss_ratio": round(both_rss / base_rss, 3),
    }


def stream_rates(local: LocalModel, messages: list[dict[str, str]], new_tokens: int,
                 repeats: int) -> dict[str, float]:
    """Medians over `repeats` streamed answers: tokens/s over the whole answer (prefill included, as a user
    waits for it), seconds to the first token, and decode tokens/s after it."""
    rates, firsts, decodes = [], [], []
    list(local.stream(messages, max_new_tokens=2))  # warm-up (lazy init, oneDNN kernels)
    for _ in range(repeats):
        started = time.perf_counter()
        first, pieces = None, []
        for piece in local.stream(messages, max_new_tokens=new_tokens):
            first = first if first is not None else time.perf_counter() - started
            pieces.append(piece)
        elapsed = time.perf_counter() - started
        tokens = local.count_tokens("".join(pieces))
        firsts.append(first or elapsed)
        rates.append(tokens / elapsed)
        decodes.append((tokens - 1) / max(elapsed - (first or 0.0), 1e-9))
    median = statistics.median
    return {"tok_s": round(median(rates), 2), "first_token_s": round(median(firsts), 3),
            "decode_tok_s": round(median(decodes), 2)}


def run_dtype_benchmark(services: Services, collection: str, dtypes: list[str], new_tokens: int = 48,
                        repeats: int = 3) -> dict[str, Any]:
    """Streaming speed per dtype (`auto`: what the policy chose), each on the model `base` answers with, one
    loaded at a time; `auto_ratio` = auto's tok/s over the fastest explicit dtype's."""
    quant = services.generators.backend.base_quant()
    documents = context_documents(services.retriever, collection)
    figures: dict[str, dict[str, Any]] = {}
    for name in dtypes:
        local = LocalModel(base_model_location(services.settings), services.settings.model_copy(update={"dtype": name}),
                           quant)
        messages, _ = services.chain.build_messages(QUESTION, documents)
        figures[name] = stream_rates(local, messages, new_tokens, repeats)
        if name == "auto":
            figures[name].update(chose=local.precision.name, reason=local.precision.reason)
        del local
        gc.collect()
    explicit = [f["tok_s"] for name, f in figures.items() if name != "auto"]
    result: dict[str, Any] = {"cpu": precision.cpu_report(services.settings), "base_quant": quant,
                              "new_tokens": new_tokens, "repeats": repeats, "dtypes": figures}
    if "auto" in figures and explicit:
        result["auto_ratio"] = round(figures["auto"]["tok_s"] / max(explicit), 3)
    return result
