"""Small helpers for reporting latency distributions."""

from __future__ import annotations

import numpy as np


def summary_ms(seconds: list[float]) -> dict[str, float]:
    """p50 / p95 (linear interpolation) / mean in milliseconds; zeros for no values."""
    if not seconds:
        return {"p50_ms": 0.0, "p95_ms": 0.0, "mean_ms": 0.0}
    ms = np.asarray(seconds, dtype=float) * 1000
    p50, p95 = np.percentile(ms, [50, 95])
    return {"p50_ms": round(float(p50), 2), "p95_ms": round(float(p95), 2), "mean_ms": round(float(ms.mean()), 2)}
