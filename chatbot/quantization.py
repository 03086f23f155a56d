"""bitsandbytes quantization shared by training (QLoRA) and serving (an adapter runs on the base it was trained on).

Measured (DESIGN.md): an NF4-trained adapter scores token F1 0.319 on the NF4 base and 0.257 on the fp32 base.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from chatbot.adapters import AdapterInfo

if TYPE_CHECKING:
    import torch

Quant = Literal["nf4", "int8", "none"]
QUANTS: tuple[str, ...] = ("nf4", "int8", "none")
QUANTIZED: tuple[str, ...] = ("nf4", "int8")


def quantization_config(quant: Quant | str, compute_dtype: torch.dtype) -> Any:
    """The `BitsAndBytesConfig` for `nf4` (computing in `compute_dtype`, see `chatbot.precision`) or `int8`;
    None for `none`."""
    from transformers import BitsAndBytesConfig

    if quant == "nf4":
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute_dtype)
    if quant == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    return None


def adapter_quant(adapter: AdapterInfo) -> str:
    """The base quantization an adapter should be served on: one of QUANTIZED, else `none` (also for
    adapters without a manifest)."""
    manifest = adapter.manifest or {}
    quant = str(manifest.get("serve_on") or manifest.get("quant") or "none")
    return quant if quant in QUANTIZED else "none"
