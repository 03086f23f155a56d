"""The configured local embedder against the same model behind an embeddings server (`RAGBOT_EMBEDDER_URL`, e.g. a
`ragbot serve`): whole-ingest and encode throughput, query latency, interleaved in one run (medians), and the
cosine between the two paths' vectors.

    python -m benchmarks.remote_embedder http://127.0.0.1:7861/v1 [--data examples/docs] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.ingest import _ingest, _query_p50_ms
from chatbot.embeddings import Embedder, load_embedder
from chatbot.services import Services


def run_remote_benchmark(services: Services, url: str, data: Path, repeats: int = 3) -> dict[str, Any]:
    """`local` (the configured backend) and `remote` (`url`), each ingest run fresh, alternating."""
    from chatbot.precision import cpu_report

    embedders: dict[str, Embedder] = {
        "local": load_embedder(services.settings),
        "remote": load_embedder(services.settings.model_copy(update={"embedder_url": url.rstrip("/")})),
    }
    ingests: dict[str, list[float]] = {name: [] for name in embedders}
    encodes: dict[str, list[float]] = {name: [] for name in embedders}
    texts: list[str] = []
    for _ in range(repeats):
        for name, embedder in embedders.items():
            collection = f"bench-embedder-{name}"
            report = _ingest(services.store, services.chunker, services.settings.max_upload_bytes, embedder, data,
                             collection, None)
            texts = texts or services.store.texts_in_document_order(collection)
            ingests[name].append(report.chunks_added / report.seconds)
            started = time.perf_counter()
            embedder.encode(texts)
            encodes[name].append(len(texts) / (time.perf_counter() - started))
            services.store.delete_collection(collection)
    cosine = np.sum(embedders["local"].encode(texts) * embedders["remote"].encode(texts), axis=1)
    results = {name: {"chunks_per_s": round(statistics.median(ingests[name]), 2),
                      "encode_chunks_per_s": round(statistics.median(encodes[name]), 2),
                      "query_p50_ms": _query_p50_ms(embedder)} for name, embedder in embedders.items()}
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
