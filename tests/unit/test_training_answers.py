"""`ragbot eval answers` end to end over a stand-in chain: three arms, the summary, torch's thread count kept."""

from __future__ import annotations

import json
from types import SimpleNamespace

import torch

from chatbot.chain import Answer
from chatbot.settings import Settings
from training.answers import evaluate_answers


class EchoChain:
    """Base answers with the gold answer, the fine-tuned arm with half of it; no adapters to resolve."""

    generators = SimpleNamespace()

    def invoke(self, question: str, *, generator: str, collection: str, use_retrieval: bool) -> Answer:
        text = "the hub resets in ten seconds" if generator == "base" else "the hub resets"
        return Answer(text=text, generator=generator, question=question, search_query=question, seconds=0.1)


def test_evaluate_answers_scores_three_arms_and_gives_the_thread_count_back(tmp_path):
    qa = tmp_path / "qa.jsonl"
    qa.write_text("\n".join(json.dumps({"question": f"q{i}", "answer": "the hub resets in ten seconds",
                                        "split": "test"}) for i in range(3)), encoding="utf-8")
    before = torch.get_num_threads()
    settings = Settings(torch_threads=1 if before != 1 else 2, eval_concurrency=1, _env_file=None)
    run = evaluate_answers(EchoChain(), settings, qa, progress=False)
    assert torch.get_num_threads() == before
    result = run["result"]
    assert result["n"] == 3 and result["generators"] == {"base": "base", "finetuned": "finetuned",
                                                         "extractive": "extractive"}
    assert result["base"]["f1"] == 1.0 and result["finetuned"]["f1"] < 1.0
    assert result["finetuned_win_rate"] == 0.0 and result["comparison"]["losses"] == 3
    assert [len(run["records"][arm]) for arm in ("base", "finetuned", "extractive")] == [3, 3, 3]
