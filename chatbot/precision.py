"""One precision policy for every model load: the dtype a generator computes in, chosen per device.

`RAGBOT_DTYPE=auto` (the default) picks bf16 only where it is native: on CUDA where the GPU supports it (else
fp16); on a CPU where a short probe measures a bf16 linear layer faster than a float32 one. Without AVX512-BF16
or AMX, bf16 is emulated: measured on a 2-core AMD EPYC with AVX2, `generate` 2.4× and a training step 17–27×
slower than float32. The probe (~0.1 s) runs once per CPU, torch version and ISA override, cached in
`RAGBOT_HOME/cache/cpu-bf16.json`; CPU flags alone can lie in VMs and do not see `ONEDNN_MAX_CPU_ISA`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from chatbot.settings import Settings

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
# Native bf16 when a bf16 linear layer takes under this share of float32's time (measured: 0.2 native, 3.7 emulated).
NATIVE_RATIO = 0.8
ISA_VARIABLES = ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY")


@dataclass(frozen=True)
class Precision:
    """The dtype models compute in on `device`, and why it was chosen."""

    name: str
    device: str
    reason: str

    @property
    def dtype(self) -> torch.dtype:
        return DTYPES[self.name]

    def to_json(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class CpuBf16:
    """Whether bf16 matmuls are native on this CPU, and the evidence."""

    native: bool
    reason: str
    float32_s: float | None = None
    bfloat16_s: float | None = None


def torch_device() -> str:
    """`cuda` when a GPU is present, else `cpu`."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve(settings: Settings, device: str | None = None) -> Precision:
    """The dtype to load and compute in: `RAGBOT_DTYPE` when explicit, else per device (see the module doc)."""
    device = device or torch_device()
    if settings.dtype != "auto":
        return Precision(settings.dtype, device, f"RAGBOT_DTYPE={settings.dtype}")
    if device == "cuda":
        if torch.cuda.is_bf16_supported():
            return Precision("bfloat16", device, "CUDA device supports bf16")
        return Precision("float16", device, "CUDA device without bf16")
    bf16 = cpu_bf16(settings)
    return Precision("bfloat16" if bf16.native else "float32", device, bf16.reason)


def cpu_bf16(settings: Settings) -> CpuBf16:
    """`RAGBOT_CPU_BF16` when forced, else no when the CPU lacks the flags, else the cached measured probe."""
    return _cpu_bf16(settings.cpu_bf16, settings.home)


@lru_cache
def _cpu_bf16(forced: str, home: Path) -> CpuBf16:
    if forced != "auto":
        return CpuBf16(forced == "native", f"RAGBOT_CPU_BF16={forced}")
    flags = cpu_flags()
    if flags and not any(flag in flags for flag in BF16_FLAGS):
        return CpuBf16(False, f"no {' or '.join(BF16_FLAGS)} in the CPU flags: bf16 would be emulated")
    return _cached_probe(home / "cache" / "cpu-bf16.json")


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="ignore")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.partition(":")[2].split())
    return set()


def cpu_fingerprint() -> str:
    """What the probe's answer depends on: the CPU, its flags, torch and the ISA overrides."""
    parts = [platform.processor() or platform.machine(), cpu_model(), " ".join(sorted(cpu_flags())),
             torch.__version__, torch.backends.cpu.get_cpu_capability(),
             *(f"{name}={os.environ.get(name, '')}" for name in ISA_VARIABLES)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="ignore").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cached_probe(cache_file: Path) -> CpuBf16:
    key = cpu_fingerprint()
    try:
        cached = json.loads(cache_file.read_text()).get(key)
    except (OSError, ValueError, AttributeError):
        cached = None
    if isinstance(cached, dict) and {"native", "reason"} <= cached.keys():
        return CpuBf16(**cached)
    float32_s, bfloat16_s = probe()
    ratio = bfloat16_s / float32_s
    verdict = "native" if ratio < NATIVE_RATIO else "emulated"
    result = CpuBf16(ratio < NATIVE_RATIO, f"probe: a bf16 linear layer took {ratio:.2f}× float32's time ({verdict})",
                     round(float32_s, 5), round(bfloat16_s, 5))
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        staged = cache_file.with_name(f".{cache_file.name}.{os.getpid()}")
        previous = json.loads(cache_file.read_text()) if cache_file.is_file() else {}
        staged.write_text(json.dumps({**previous, key: asdict(result)}, indent=1))
        staged.replace(cache_file)
    except (OSError, ValueError) as exc:
        log.warning("could not cache the bf16 probe in %s: %s", cache_file, exc)
    return result


def probe(rows: int = 256, width: int = 1024, repeats: int = 5) -> tuple[float, float]:
    """Median seconds of one linear layer's forward in float32 and in bf16, interleaved, on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        layers = {dtype: torch.nn.Linear(width, width).to(dtype) for dtype in (torch.float32, torch.bfloat16)}
        inputs = {dtype: torch.randn(rows, width).to(dtype) for dtype in layers}
        times: dict[torch.dtype, list[float]] = {dtype: [] for dtype in layers}
        with torch.inference_mode():
            for dtype, layer in layers.items():  # warm-up: oneDNN builds its kernels on first use
                layer(inputs[dtype])
            for _ in range(repeats):
                for dtype, layer in layers.items():
                    started = time.perf_counter()
                    layer(inputs[dtype])
                    times[dtype].append(time.perf_counter() - started)
    finally:
        torch.set_num_threads(threads)
    return statistics.median(times[torch.float32]), statistics.median(times[torch.bfloat16])


def cpu_report(settings: Settings) -> dict[str, Any]:
    """The CPU as every benchmark prints it: torch's kernel capability and whether bf16 is native (and why)."""
    bf16 = cpu_bf16(settings)
    return {"model": cpu_model(), "capability": torch.backends.cpu.get_cpu_capability(), "native_bf16": bf16.native,
            "reason": bf16.reason, **{name.lower(): os.environ[name] for name in ISA_VARIABLES if name in os.environ}}
