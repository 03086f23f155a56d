"""Writing a built corpus in the BEIR layout that `ingestion.beir` reads (shared by the corpus builders)."""

from __future__ import annotations

import json
from pathlib import Path


def write_beir(data: dict[str, list[dict]], out: Path, readme: str) -> None:
    """Write corpus.jsonl, queries.jsonl, qrels/test.tsv, qa.jsonl and README.md (`readme`) under `out`."""
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    for name in ("corpus", "queries", "qa"):
        with (out / f"{name}.jsonl").open("w", encoding="utf-8") as handle:
            for row in data[name]:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    lines = ["query-id\tcorpus-id\tscore"] + [f"{r['query-id']}\t{r['corpus-id']}\t{r['score']}" for r in data["qrels"]]
    (out / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "README.md").write_text(readme, encoding="utf-8")
