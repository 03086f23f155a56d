"""The registry is the one truth: a second replica, with a RAGBOT_HOME of its own (no adapter files on its disk),
serves an adapter from the registry, follows a replacement and a deletion made by the first within 2 s, and
then answers as for an unknown adapter, listing the generators."""

from __future__ import annotations

import shutil
import time

import pytest

from chatbot.generators import Generators, GeneratorUnavailable

NAME = "shared-lora"
QUESTION = [("user", "How do I reset the hub?")]


def lora(settings, target, seed: int) -> None:
    """A random (not zero) LoRA adapter, different for each seed."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from chatbot.models import base_model_location

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base_model_location(settings), local_files_only=True)
    config = LoraConfig(r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False,
                        task_type="CAUSAL_LM")
    get_peft_model(model, config).save_pretrained(target)


def answer(generators: Generators, name: str) -> str:
    return generators.chat_model(name).model_copy(update={"max_new_tokens": 12}).invoke(QUESTION).content


def within(seconds: float, check) -> float:
    """Seconds until `check()` holds; fails after `seconds`."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds, f"not within {seconds} s"
        time.sleep(0.05)
    return time.monotonic() - started


@pytest.fixture
def replica_b(settings, services, tmp_path):
    """A second replica's generators: same database, its own home (only the models are shared)."""
    (tmp_path / "models").symlink_to(settings.models_dir.resolve(), target_is_directory=True)
    return Generators(settings.model_copy(update={"home": tmp_path}), registry=lambda: services.adapter_registry)


def test_replica_follows_activation_replacement_and_deletion(services, settings, replica_b, tmp_path_factory):
    from chatbot.storage.adapter_registry import delete_adapter, use_adapter

    registry, a = services.adapter_registry, services.generators
    folder = settings.adapters_dir / NAME
    lora(settings, folder, seed=1)
    use_adapter(registry, settings.adapters_dir, NAME)  # registers the files with it, then activates
    assert within(2.0, lambda: f"finetuned:{NAME}" in replica_b.names())
    first = answer(replica_b, "finetuned")  # the active one, unpacked from the registry on B's disk
    assert first == answer(a, f"finetuned:{NAME}")
    [loaded] = [m for m in replica_b.backend._models.values() if NAME in m.adapters]
    use_adapter(registry, replica_b.settings.adapters_dir, NAME)  # B has no files of it: the registry's do

    staged = tmp_path_factory.mktemp("replacement") / NAME
    lora(settings, staged, seed=2)
    shutil.rmtree(folder)
    shutil.copytree(staged, folder)
    registry.register(NAME, folder, {})  # replaced on A: a new version
    seconds = within(2.0, lambda: replica_b.names() and NAME not in loaded.adapters)  # B dropped the old weights
    assert seconds < 2.0
    second = answer(replica_b, f"finetuned:{NAME}")
    assert second != first and second == answer(a, f"finetuned:{NAME}")

    delete_adapter(registry, settings.adapters_dir, settings.home / "runs", NAME)
    within(2.0, lambda: f"finetuned:{NAME}" not in replica_b.names())
    assert NAME not in loaded.adapters
    with pytest.raises(GeneratorUnavailable, match=rf"adapter '{NAME}' not found \(choose from: base, extractive"):
        replica_b.chat_model(f"finetuned:{NAME}")
