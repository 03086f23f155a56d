"""Questions written from chunks by the bundled generator (doc2query / Promptagator style), for tuning the
embedder without labels: each chunk is shown to the model, which writes one short question it answers.

Two worked examples (few-shot, as Promptagator) precede each chunk. Greedy, short, batched (left-padded
`generate`) on the CPU; a passage is cut to `PASSAGE_TOKENS` tokens so a
batch's cost stays bounded. What comes back is cleaned to one line ending in '?' (else dropped).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

PASSAGE_TOKENS = 96
MAX_NEW_TOKENS = 20
BATCH = 16
INSTRUCTION = "What question does this text answer? Write only the question."
PREFILL = "Question:"
# Two worked examples from outside any corpus: without them the 135M model mostly echoes the instruction
# (measured on 16 git-docs chunks: 3 questions of 16 before, 16 of 16 with them).
SHOTS = (
    ("The kettle switches itself off when the water boils. To descale it, fill it with equal parts vinegar and "
     "water, boil, and rinse twice.", "How do I descale my kettle?"),
    ("Passwords must be at least 12 characters long. An account is locked for 15 minutes after five failed "
     "logins.", "What happens after too many failed logins?"),
)
_LEAD = re.compile(r"^\s*(question\s*\d*\s*[:.)-]|q\s*[:.)-]|\d+\s*[.)-])\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Written:
    passage: str
    question: str


def clean_question(text: str) -> str | None:
    """The first line of the output as a question ('Question:' and numbering removed), or None when it is not
    one: no '?', fewer than 3 words, or longer than 30 words."""
    line = next((ln.strip() for ln in text.strip().splitlines() if ln.strip()), "")
    line = _LEAD.sub("", line).strip().strip('"').strip()
    if "?" not in line:
        return None
    line = line[: line.index("?") + 1]
    words = line.split()
    return line if 3 <= len(words) <= 30 else None


class QuestionWriter:
    """The bundled (or configured) base generator, loaded once, writing questions in greedy batches."""

    def __init__(self, location: str) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(location, local_files_only=True, padding_side="left")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model: Any = AutoModelForCausalLM.from_pretrained(location, local_files_only=True, device_map="cpu")
        self.model.eval()

    def _prompt(self, passage: str) -> str:
        ids = self.tokenizer(passage, add_special_tokens=False)["input_ids"][:PASSAGE_TOKENS]
        cut = self.tokenizer.decode(ids)
        chat = []
        for text, question in SHOTS:
            chat += [{"role": "user", "content": f"Text: {text}\n\n{INSTRUCTION}"},
                     {"role": "assistant", "content": f"{PREFILL} {question}"}]
        chat.append({"role": "user", "content": f"Text: {cut}\n\n{INSTRUCTION}"})
        return str(self.tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)) + PREFILL

    def write(self, passages: Sequence[str], on_batch: Callable[[int, int], None] | None = None) -> list[Written]:
        """One question per passage (those whose output is not a question are left out)."""
        import torch

        written: list[Written] = []
        for start in range(0, len(passages), BATCH):
            batch = list(passages[start:start + BATCH])
            inputs = self.tokenizer([self._prompt(p) for p in batch], return_tensors="pt", padding=True,
                                    add_special_tokens=False)
            with torch.inference_mode():
                output = self.model.generate(**inputs, max_new_tokens=MAX_NEW_TOKENS, do_sample=False,
                                             pad_token_id=self.tokenizer.pad_token_id)
            texts = self.tokenizer.batch_decode(output[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
            for passage, text in zip(batch, texts, strict=True):
                question = clean_question(PREFILL + text)
                if question:
                    written.append(Written(passage, question))
            if on_batch is not None:
                on_batch(min(start + BATCH, len(passages)), len(passages))
        return written
