"""Answer evaluation: the full chain (same retrieval) per generator, scored against the gold answers.

Scoring is split from running so that other designs reuse it (e.g. a 2×2 of base/fine-tuned × with/without
retrieval is four `Condition`s through `run_conditions`, then `summarize` and `win_rate`):

- token F1: SQuAD-style (lower case, punctuation and articles removed, whitespace split), citations removed;
- ROUGE-L: `rouge_score` F-measure (Porter stemming), citations removed;
- citation validity: `chatbot.prompts.citations_valid(text, number of sources in the prompt)` (no citation = invalid);
- groundedness: share of the answer's normalised tokens that occur in the retrieved context (None without one);
- win rate of A over B: share of questions where A's ROUGE-L beats B's, ties counting half.
"""

from __future__ import annotations

import os
import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatbot.generators import EXTRACTIVE
from chatbot.prompts import citations_valid

if TYPE_CHECKING:
    from chatbot.chain import RagChain
    from training.dataset import QAPair

METRICS = ("f1", "rougeL", "citation_valid", "grounded")
_CITATION_MARK = re.compile(r"\[\s*\d+(?:\s*,\s*\d+)*\s*\]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans(dict.fromkeys(string.punctuation, " "))


# --- scoring (pure) ------------------------------------------------------------------------------


def strip_citations(text: str) -> str:
    return _CITATION_MARK.sub(" ", text)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation (punctuation becomes a space, so `list.index()` → `list index`)."""
    text = text.lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def answer_tokens(text: str) -> list[str]:
    return normalize_answer(strip_citations(text)).split()


def token_f1(prediction: str, gold: str) -> float:
    pred, ref = answer_tokens(prediction), answer_tokens(gold)
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


@lru_cache(maxsize=1)
def _rouge():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def rouge_l(prediction: str, gold: str) -> float:
    prediction, gold = strip_citations(prediction).strip(), gold.strip()
    if not prediction or not gold:
        return float(prediction == gold)
    return float(_rouge().score(gold, prediction)["rougeL"].fmeasure)


def groundedness(prediction: str, contexts: Sequence[str]) -> float | None:
    """Share of the answer's tokens found in the retrieved context; None when there is no context."""
    if not contexts:
        return None
    tokens = answer_tokens(prediction)
    if not tokens:
        return 0.0
    vocabulary = set(normalize_answer(" ".join(contexts)).split())
    return sum(token in vocabulary for token in tokens) / len(tokens)


def closest_source(text: str, contexts: Sequence[str]) -> tuple[int, float] | None:
    """The number (from 1) of the source most like `text` by ROUGE-L, with that ROUGE-L; None when no source
    shares a word with it."""
    scores = [rouge_l(text, context) for context in contexts] if text.strip() else []
    best = max(range(len(scores)), key=scores.__getitem__, default=None)
    return (best + 1, scores[best]) if best is not None and scores[best] > 0 else None


@lru_cache(maxsize=1024)
def _gold_source(gold: str, contexts: tuple[str, ...]) -> tuple[int, float] | None:
    return closest_source(gold, contexts)  # the same for every arm of a question: computed once


@dataclass(frozen=True)
class Scores:
    f1: float
    rougeL: float
    citation_valid: bool
    grounded: float | None
    closest_source: int | None = None  # the source the answer is most like
    gold_source: int | None = None  # the source the gold answer is most like
    gold_source_rougeL: float | None = None  # that source, answered verbatim, against the gold answer


def score_answer(prediction: str, gold: str, contexts: Sequence[str]) -> Scores:
    """All the per-answer metrics; `contexts` are the texts of the sources numbered in the prompt."""
    closest, gold_source = closest_source(prediction, contexts), _gold_source(gold, tuple(contexts))
    return Scores(
        f1=token_f1(prediction, gold),
        rougeL=rouge_l(prediction, gold),
        citation_valid=citations_valid(prediction, len(contexts)),
        grounded=groundedness(prediction, contexts),
        closest_source=closest[0] if closest else None,
        gold_source=gold_source[0] if gold_source else None,
        gold_source_rougeL=gold_source[1] if gold_source else None,
    )


def mean(values: Sequence[float | None]) -> float | None:
    present = [float(v) for v in values if v is not None]
    return sum(present) / len(present) if present else None


def win_rate(a: Sequence[float], b: Sequence[float]) -> tuple[float, dict[str, int]]:
    """Share of pairs where a > b, ties counting half; with the win/tie/loss counts."""
    if len(a) != len(b):
        raise ValueError("win_rate needs paired scores")
    wins = sum(x > y for x, y in zip(a, b, strict=True))
    ties = sum(x == y for x, y in zip(a, b, strict=True))
    losses = len(a) - wins - ties
    rate = (wins + 0.5 * ties) / len(a) if a else 0.0
    return rate, {"wins": wins, "ties": ties, "losses": losses}


# --- running the chain ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """One arm of an evaluation: a generator name, with or without retrieval."""

    label: str
    generator: str
    use_retrieval: bool = True


@dataclass
class Record:
    question_id: str
    question: str
    gold: str
    condition: str
    text: str
    sources: int
    not_covered: bool
    seconds: float
    first_token_seconds: float | None
    scores: Scores
    retrieved_ids: list[Any] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["scores"] = asdict(self.scores)
        return data


def run_conditions(chain: RagChain, pairs: Sequence[QAPair], conditions: Sequence[Condition], collection: str,
                   on_record: Callable[[Record], None] | None = None, concurrency: int = 1) -> dict[str, list[Record]]:
    """Every question through every condition, interleaved per question (so that machine load hits each
    arm alike); records per condition label, in question order. `concurrency` > 1 answers that many at once (a
    local model batches them: faster overall, but each answer's seconds then include sharing the model)."""

    def answer(job: tuple[QAPair, Condition]) -> Record:
        pair, condition = job
        reply = chain.invoke(pair.question, generator=condition.generator, collection=collection,
                             use_retrieval=condition.use_retrieval)
        contexts = [d.page_content for d in reply.retrieved] if condition.use_retrieval else []
        return Record(
            question_id=pair.id, question=pair.question, gold=pair.answer, condition=condition.label,
            text=reply.text, sources=len(reply.retrieved), not_covered=reply.not_covered,
            seconds=round(reply.seconds, 3),
            first_token_seconds=round(reply.first_token_seconds, 3) if reply.first_token_seconds else None,
            scores=score_answer(reply.text, pair.answer, contexts),
            retrieved_ids=[d.metadata.get("chunk_id") for d in reply.retrieved],
        )

    records: dict[str, list[Record]] = {c.label: [] for c in conditions}
    jobs = [(pair, condition) for pair in pairs for condition in conditions]
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="ragbot-eval") as pool:
        for record in pool.map(answer, jobs):
            records[record.condition].append(record)
            if on_record is not None:
                on_record(record)
    return records


def summarize(records: Sequence[Record]) -> dict[str, float | None]:
    """The mean of each metric (citation validity as a share), and seconds per answer."""
    summary = {
        "f1": mean([r.scores.f1 for r in records]),
        "rougeL": mean([r.scores.rougeL for r in records]),
        "citation_valid": mean([float(r.scores.citation_valid) for r in records]),
        "grounded": mean([r.scores.grounded for r in records]),
        "seconds_per_answer": mean([r.seconds for r in records]),
    }
    return {k: round(v, 4) if v is not None else None for k, v in summary.items()}


def source_choice(base: Sequence[Record], tuned: Sequence[Record]) -> dict[str, Any]:
    """Which source each arm's answers follow: the share of questions (with sources) where the answer is most
    like the source the gold answer is most like, and what answering with that source verbatim would score
    (the ceiling of a generator that copies the right source) and win over base."""
    pairs = [(b, t) for b, t in zip(base, tuned, strict=True) if b.scores.gold_source is not None]

    def picked(records: Sequence[Record]) -> float | None:
        return mean([float(r.scores.closest_source == r.scores.gold_source) for r in records])

    ceiling = [b.scores.gold_source_rougeL or 0.0 for b, _ in pairs]
    rounded = {
        "base_picked": picked([b for b, _ in pairs]),
        "finetuned_picked": picked([t for _, t in pairs]),
        "gold_source_rougeL": mean(ceiling),
        "gold_source_win_rate": win_rate(ceiling, [b.scores.rougeL for b, _ in pairs])[0] if pairs else None,
    }
    return {"questions": len(pairs), **{k: round(v, 4) if v is not None else None for k, v in rounded.items()}}


# --- outputs -------------------------------------------------------------------------------------


def plot_summary(result: dict[str, Any], path: Path, mpl_config_dir: Path) -> Path:
    """A grouped bar chart (metric × generator) as a PNG."""
    mpl_config_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MPLCONFIGDIR", str(mpl_config_dir))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = ["token F1", "ROUGE-L", "valid citations", "grounded"]
    arms = [(arm, color) for arm, color in (("base", "#8c8c8c"), ("finetuned", "#1f77b4"), (EXTRACTIVE, "#2ca02c"))
            if arm in result]
    width = 0.8 / len(arms)
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    for i, (arm, color) in enumerate(arms):
        values = [result[arm].get(m) or 0.0 for m in METRICS]
        xs = [x + (i - (len(arms) - 1) / 2) * width for x in range(len(METRICS))]
        bars = ax.bar(xs, values, width, label=arm, color=color)
        ax.bar_label(bars, labels=[f"{v:.2f}" for v in values], padding=2, fontsize=8)
    ax.set_xticks(range(len(METRICS)), labels)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("mean over questions")
    ax.set_title(f"Answers: base vs fine-tuned (n={result['n']}, fine-tuned ROUGE-L win rate "
                 f"{result['finetuned_win_rate']:.0%})", fontsize=10)
    ax.legend(loc="upper right")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _quote(text: str) -> str:
    return "\n".join("> " + line if line.strip() else ">" for line in (text.strip() or "(empty)").splitlines())


def markdown_report(result: dict[str, Any], records: dict[str, list[Record]]) -> str:
    """The summary table, then each question with its gold answer and both answers with their scores."""
    lines = [
        f"# Answer evaluation: {result['generators']['finetuned']} vs base",
        "",
        f"{result['n']} questions (split `{result['split']}`, collection `{result['collection']}`); "
        f"fine-tuned ROUGE-L win rate **{result['finetuned_win_rate']:.1%}** (ties count half: "
        f"{result['comparison']['wins']} wins, {result['comparison']['ties']} ties, "
        f"{result['comparison']['losses']} losses); token F1 ratio {result['comparison']['f1_ratio']}.",
        "",
        "| generator | token F1 | ROUGE-L | valid citations | grounded | s / answer |",
        "|---|---|---|---|---|---|",
    ]
    for arm in ("base", "finetuned", EXTRACTIVE):
        if arm not in result:
            continue
        s = result[arm]
        lines.append(f"| {arm} | {s['f1']:.3f} | {s['rougeL']:.3f} | {s['citation_valid']:.1%} | "
                     f"{(s['grounded'] or 0):.3f} | {s['seconds_per_answer']:.1f} |")
    choice = result.get("source_choice") or {}
    if choice.get("questions"):
        lines += ["", f"Source choice ({choice['questions']} questions with sources): the answer follows the source "
                  f"most like the gold answer in {choice['finetuned_picked']:.0%} (fine-tuned) and "
                  f"{choice['base_picked']:.0%} (base) of them; that source answered verbatim would score ROUGE-L "
                  f"{choice['gold_source_rougeL']:.3f} and win {choice['gold_source_win_rate']:.0%} over base."]
    lines.append("")
    for i, (base, tuned) in enumerate(zip(records["base"], records["finetuned"], strict=True), start=1):
        mark = "fine-tuned wins" if tuned.scores.rougeL > base.scores.rougeL else (
            "tie" if tuned.scores.rougeL == base.scores.rougeL else "base wins")
        lines += [f"## {i}. {base.question}", "", f"*{base.question_id} — {mark} (ROUGE-L)*", "", "**Gold**", "",
                  _quote(base.gold), ""]
        for label, record in (("Base", base), ("Fine-tuned", tuned)):
            sc = record.scores
            grounded = f"{sc.grounded:.2f}" if sc.grounded is not None else "n/a"
            lines += [f"**{label}** — F1 {sc.f1:.2f}, ROUGE-L {sc.rougeL:.2f}, citations "
                      f"{'valid' if sc.citation_valid else 'invalid'} ({record.sources} sources), grounded {grounded}, "
                      f"{record.seconds:.1f} s", "", _quote(record.text), ""]
    return "\n".join(lines) + "\n"
