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


def test_the_training_nf4_base_computes_in_float32_without_native_bf16(no_native_bf16, tmp_path):
    """On a CPU the trained base holds the NF4 values as served (dequantized once), LoRA weights in float32 (TRL
    would cast a quantized model's to bf16), and a training step runs in float32 with finite gradients."""
    from transformers import AutoTokenizer

    from training.dataset import BuildStats, Example
    from training.train import PreparedData, TrainConfig, load_base, make_trainer

    chosen = precision.resolve(no_native_bf16)
    location = base_model_location(no_native_bf16)
    model = load_base(location, "nf4", chosen)
    served = LocalModel(location, no_native_bf16, "nf4").model
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert torch.equal(model.model.layers[0].self_attn.q_proj.weight, served.model.layers[0].self_attn.q_proj.weight)

    messages = [{"role": "user", "content": "Where is the reset button?"},
                {"role": "assistant", "content": "On the underside of the hub [1]."}]
    data = PreparedData([Example(messages=messages, question_id="q")], [], BuildStats(), [], "", "")
    tokenizer = AutoTokenizer.from_pretrained(location)
    trainer = make_trainer(model, tokenizer, TrainConfig(qa="unused", max_steps=1, lora_r=4), data, tmp_path, 256,
                           chosen)
    trainable = [p for p in trainer.model.parameters() if p.requires_grad]
    assert trainable and {p.dtype for p in trainable} == {torch.float32}
    assert not trainer.args.bf16 and not trainer.args.fp16
    trainer.train()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in trainable)
    assert trainer.state.global_step == 1 and trainer.state.log_history[0]["loss"] > 0
