"""`ragbot eval abstain`: how often the chain answers questions its collection covers (a QA file's) and refuses
out-of-domain ones (another QA file's), with the collection's current threshold. Only the chain's coverage
check runs (retrieval, no generation): it is what decides to abstain before any generator is asked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chatbot.chain import RagChain
from chatbot.qa_files import QAFileError, qa_rows

SPLITS = ("all", "train", "test")


def read_questions(path: Path, split: str = "all") -> list[str]:
    """The questions of a QA file (JSONL with question and answer), only those of `split` unless "all";
    QAFileError names the file and the problem."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise QAFileError(f"{path}: cannot read it ({exc})") from exc
    questions = [str(row["question"]).strip() for _, row in qa_rows(lines, str(path))
                 if split == "all" or row.get("split") == split]
    if not questions:
        raise QAFileError(f"{path}: no questions" + ("" if split == "all" else f" in split '{split}'"))
    return questions


def answered(chain: RagChain, question: str, collection: str) -> bool:
    """Whether the chain would answer `question` from `collection` (its coverage check passes)."""
    return chain.covered(chain.retrieve(question, collection), collection)


def _rate(count: int, total: int) -> float | None:
    return round(count / total, 4) if total else None


def evaluate_abstention(chain: RagChain, collection: str, answerable: list[str],
                        out_of_domain: list[str]) -> dict[str, Any]:
    """Counts and rates: `answered_rate` over `answerable`, `abstained_ood_rate` over `out_of_domain`, and the
    threshold the chain applies to `collection`, with the questions it got wrong."""
    missed = [q for q in answerable if not answered(chain, q, collection)]
    leaked = [q for q in out_of_domain if answered(chain, q, collection)]
    abstained = len(out_of_domain) - len(leaked)
    return {"collection": collection, "threshold": round(chain.threshold_for(collection), 4),
            "answerable": len(answerable), "answered": len(answerable) - len(missed),
            "answered_rate": _rate(len(answerable) - len(missed), len(answerable)),
            "ood": len(out_of_domain), "abstained_ood": abstained,
            "abstained_ood_rate": _rate(abstained, len(out_of_domain)),
            "not_answered": missed, "ood_answered": leaked}
