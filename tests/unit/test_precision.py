"""The precision policy: an explicit dtype wins; CUDA by its bf16 support; a CPU by its flags, then a cached probe."""

from __future__ import annotations

import json

import pytest
import torch

from chatbot import precision
from chatbot.settings import Settings


@pytest.fixture(autouse=True)
def fresh_policy():
    precision._cpu_bf16.cache_clear()
    yield
    precision._cpu_bf16.cache_clear()


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path, _env_file=None)


def fake_cpu(monkeypatch, flags: set[str], timings: tuple[float, float] | None = None) -> list[int]:
    """Fake CPU flags and probe timings (float32 s, bfloat16 s); returns a list counting probe calls."""
    calls: list[int] = []

    def probe():
        if timings is None:
            raise AssertionError("the probe must not run")
        calls.append(1)
        return timings

    monkeypatch.setattr(precision, "cpu_flags", lambda: flags)
    monkeypatch.setattr(precision, "probe", probe)
    return calls


def test_auto_is_the_default(settings):
    assert settings.dtype == "auto" and settings.cpu_bf16 == "auto"


@pytest.mark.parametrize("name", ["float32", "bfloat16", "float16"])
def test_an_explicit_dtype_wins(monkeypatch, tmp_path, name):
    fake_cpu(monkeypatch, {"avx2"})
    chosen = precision.resolve(Settings(home=tmp_path, dtype=name, _env_file=None), "cpu")
    assert (chosen.name, chosen.dtype) == (name, precision.DTYPES[name])
    assert chosen.reason == f"RAGBOT_DTYPE={name}"


def test_a_cpu_without_bf16_flags_computes_in_float32_without_probing(monkeypatch, settings):
    fake_cpu(monkeypatch, {"avx2", "fma", "avx512f"})
    chosen = precision.resolve(settings, "cpu")
    assert chosen.name == "float32"
    assert "avx512_bf16" in chosen.reason and "emulated" in chosen.reason


@pytest.mark.parametrize("flag", ["avx512_bf16", "amx_bf16"])
def test_bf16_flags_are_confirmed_by_the_probe(monkeypatch, settings, flag):
    fake_cpu(monkeypatch, {"avx2", flag}, timings=(0.005, 0.001))
    chosen = precision.resolve(settings, "cpu")
    assert chosen.name == "bfloat16" and "native" in chosen.reason


def test_flags_that_lie_are_caught_by_the_probe(monkeypatch, settings):
    """A VM advertising avx512_bf16, or oneDNN capped below it: bf16 measured slower → float32."""
    fake_cpu(monkeypatch, {"avx512_bf16"}, timings=(0.005, 0.019))
    chosen = precision.resolve(settings, "cpu")
    assert chosen.name == "float32" and "emulated" in chosen.reason


def test_the_probe_runs_once_per_cpu_and_is_cached_in_home(monkeypatch, settings):
    calls = fake_cpu(monkeypatch, {"avx512_bf16"}, timings=(0.005, 0.001))
    assert precision.resolve(settings, "cpu").name == "bfloat16"
    precision._cpu_bf16.cache_clear()  # a new process
    assert precision.resolve(settings, "cpu").name == "bfloat16"
    assert len(calls) == 1
    cached = json.loads((settings.home / "cache" / "cpu-bf16.json").read_text())
    assert [entry["native"] for entry in cached.values()] == [True]


def test_an_isa_override_is_a_different_cpu(monkeypatch, settings):
    calls = fake_cpu(monkeypatch, {"avx512_bf16"}, timings=(0.005, 0.001))
    first = precision.cpu_fingerprint()
    precision.resolve(settings, "cpu")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "SSE41")  # a cap the environment does not already set
    precision._cpu_bf16.cache_clear()
    assert precision.cpu_fingerprint() != first
    precision.resolve(settings, "cpu")
    assert len(calls) == 2


def test_a_corrupt_cache_is_measured_again(monkeypatch, settings):
    calls = fake_cpu(monkeypatch, {"avx512_bf16"}, timings=(0.005, 0.001))
    (settings.home / "cache").mkdir()
    (settings.home / "cache" / "cpu-bf16.json").write_text("{not json")
    assert precision.resolve(settings, "cpu").name == "bfloat16"
    assert len(calls) == 1


@pytest.mark.parametrize("forced, expected", [("native", "bfloat16"), ("emulated", "float32")])
def test_the_cpu_answer_can_be_forced(monkeypatch, tmp_path, forced, expected):
    fake_cpu(monkeypatch, {"avx512_bf16"} if forced == "emulated" else {"avx2"})
    chosen = precision.resolve(Settings(home=tmp_path, cpu_bf16=forced, _env_file=None), "cpu")
    assert chosen.name == expected and chosen.reason == f"RAGBOT_CPU_BF16={forced}"


@pytest.mark.parametrize("supported, expected", [(True, "bfloat16"), (False, "float16")])
def test_cuda_uses_bf16_where_supported_else_fp16(monkeypatch, settings, supported, expected):
    fake_cpu(monkeypatch, set())
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: supported)
    assert precision.resolve(settings, "cuda").name == expected


def test_the_real_probe_times_both_dtypes():
    float32_s, bfloat16_s = precision.probe(rows=32, width=128, repeats=3)
    assert float32_s > 0 and bfloat16_s > 0


def test_the_cpu_report_names_capability_and_bf16(monkeypatch, settings):
    fake_cpu(monkeypatch, {"avx2"})
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    report = precision.cpu_report(settings)
    assert report["capability"] == torch.backends.cpu.get_cpu_capability()
    assert report["native_bf16"] is False and report["aten_cpu_capability"] == "avx2"
