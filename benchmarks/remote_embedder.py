"""The configured local embedder against the same model behind an embeddings server (`RAGBOT_EMBEDDER_URL`, e.g. a
`ragbot serve`): whole-ingest and encode throughput, query latency, interleaved in one run (medians), and the
cosine between the two paths' vectors.

    python -m benchmarks.remote_embedder http://127.0.0.1:7861/v1 [--data examples/docs] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.ingest import interleaved_runs
from chatbot.embeddings import Embedder, load_embedder
from chatbot.services import Services


def run_remote_benchmark(services: Services, url: str, data: Path, repeats: int = 3) -> dict[str, Any]:
    """`interleaved_runs` of `local` (the configured backend) and `remote` (`url`), their ratios and cosines."""
    from chatbot.precision import cpu_report

    embedders: dict[str, Embedder] = {
        "local": load_embedder(services.settings),
        "remote": load_embedder(services.settings.model_copy(update={"embedder_url": url.rstrip("/")})),
    }
    results, texts, _ = interleaved_runs(services, embedders, data, repeats=repeats)
    cosine = np.sum(embedders["local"].encode(texts) * embedders["remote"].encode(texts), axis=1)
    return {"cpu": cpu_report(services.settings), "data": str(data), "chunks": len(texts), "repeats": repeats,
            "embedders": {name: str(e.identity) for name, e in embedders.items()}, **results,
            "remote_vs_local": {key: round(results["remote"][key] / results["local"][key], 2)
                                for key in ("chunks_per_s", "encode_chunks_per_s", "query_p50_ms")},
            "cosine": {"mean": round(float(cosine.mean()), 6), "min": round(float(cosine.min()), 6)}}


def main(argv: list[str] | None = None) -> None:
    from chatbot.settings import configure_environment, get_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="The embeddings server's base URL (…/v1).")
    parser.add_argument("--data", type=Path, default=Path("examples/docs"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    configure_environment()
    services = Services(get_settings())
    try:
        print(json.dumps(run_remote_benchmark(services, args.url, args.data, args.repeats), indent=2))
    finally:
        services.close()


if __name__ == "__main__":
    main()
