"""bitsandbytes quantization shared by training (QLoRA) and serving (an adapter runs on the base it was trained on).

Measured (DESIGN.md): an NF4-trained adapter scores token F1 0.319 on the NF4 base and 0.257 on the fp32 base.
"""

from __future__ import annotations

from typing import Any, Literal

from chatbot.adapters import AdapterInfo

Quant = Literal["nf4", "int8", "none"]
QUANTS: tuple[str, ...] = ("nf4", "int8", "none")
QUANTIZED: tuple[str, ...] = ("nf4", "int8")


def torch_device() -> str:
    """`cuda` when a GPU is present, else `cpu`."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def quantization_config(quant: Quant | str) -> Any:
    """The `BitsAndBytesConfig` for `nf4` (bf16 compute) or `int8`; None for `none`."""
    import torch
    from transformers import BitsAndBytesConfig

    if quant == "nf4":
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                  bnb_4bit_compute_dtype=torch.bfloat16)
    if quant == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    return None


def adapter_quant(adapter: AdapterInfo) -> str:
    """The base quantization an adapter should be served on: one of QUANTIZED, else `none` (also for
    adapters without a manifest)."""
    manifest = adapter.manifest or {}
    quant = str(manifest.get("serve_on") or manifest.get("quant") or "none")
    return quant if quant in QUANTIZED else "none"
