"""The NF4 base under each answer of the precision policy: float32 compute where bf16 is not native, for serving
and for training alike (emulated bf16 was measured 2.4× slower to generate and 17× slower to train)."""

from __future__ import annotations

import pytest
import torch

from chatbot import precision
from chatbot.local_model import LocalModel
from chatbot.models import base_model_location

pytestmark = pytest.mark.integration


@pytest.fixture
def no_native_bf16(settings):
    return settings.model_copy(update={"cpu_bf16": "emulated"})


def test_the_served_nf4_base_computes_in_float32_without_native_bf16(no_native_bf16):
    local = LocalModel(base_model_location(no_native_bf16), no_native_bf16, "nf4")
    assert (local.precision.name, local.precision.reason) == ("float32", "RAGBOT_CPU_BF16=emulated")
    assert {p.dtype for p in local.model.parameters()} == {torch.float32}
    assert "".join(local.stream([{"role": "user", "content": "Say hello."}], max_new_tokens=4)).strip()


def test_the_served_nf4_base_computes_in_bf16_where_native(settings):
    native = settings.model_copy(update={"cpu_bf16": "native"})
    local = LocalModel(base_model_location(native), native, "nf4")
    assert local.precision.name == "bfloat16"
    assert {p.dtype for p in local.model.parameters()} == {torch.bfloat16}


def test_the_training_nf4_base_computes_in_float32_without_native_bf16(no_native_bf16):
    import bitsandbytes as bnb
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    from training.train import load_base

    chosen = precision.resolve(no_native_bf16)
    model = load_base(base_model_location(no_native_bf16), "nf4", chosen)
    assert model.config.quantization_config.bnb_4bit_compute_dtype == torch.float32
    quantized = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert quantized and {m.compute_dtype for m in quantized} == {torch.float32}
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj"], task_type="CAUSAL_LM"))
    ids = torch.randint(0, 1000, (1, 16))
    output = model(input_ids=ids, labels=ids)
    output.loss.backward()
    assert output.logits.dtype == torch.float32
    grads = [p.grad for n, p in model.named_parameters() if "lora_" in n and p.requires_grad]
    assert grads and all(g is not None and g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads)
