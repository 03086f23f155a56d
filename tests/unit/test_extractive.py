"""The extractive builder with a bag-of-words encoder: passages, choice, source order, citations, whole blocks."""

from __future__ import annotations

import re

import numpy as np
from langchain_core.documents import Document

from chatbot.extractive import Extractor, passages, split_passages
from chatbot.prompts import citations_valid, cited_numbers
from training.evaluate import groundedness

VOCABULARY: dict[str, int] = {}


class BagOfWords:
    """Normalized word-count vectors: similarity is word overlap."""

    def encode(self, texts: list[str]) -> np.ndarray:
        rows = []
        for text in texts:
            row = np.zeros(512)
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                row[VOCABULARY.setdefault(word, len(VOCABULARY) % 512)] += 1
            rows.append(row / (np.linalg.norm(row) or 1.0))
        return np.stack(rows)


RESET = """Factory reset
-------------

A factory reset erases every setting. To reset the hub to factory settings:
1. Keep the hub plugged in.
2. Hold the reset button for 15 seconds.
3. Release it when the ring blinks white.
The hub restarts in about two minutes."""
BILLING = "Invoices are sent by email each month. You can pay by card or bank transfer. Billing is monthly."
CODE = """Users are often surprised by results like this:
>>> 1.2 - 1.0
0.19999999999999996
and think it is a bug in Python. It is not a bug."""


def doc(text: str, similarity: float = 0.5) -> Document:
    return Document(page_content=text, metadata={"similarity": similarity})


def test_lists_code_and_tables_stay_whole_with_their_introduction_and_headings_are_dropped():
    kinds = split_passages(RESET)
    assert kinds[0] == ("sentence", "A factory reset erases every setting.")
    kind, text = kinds[1]
    assert kind == "list" and text.startswith("To reset the hub to factory settings:\n1. Keep")
    assert text.endswith("3. Release it when the ring blinks white.")
    assert kinds[2] == ("sentence", "The hub restarts in about two minutes.")
    assert all("Factory reset\n" not in t and "---" not in t for _, t in kinds)
    code = split_passages(CODE)
    assert code[0] == ("code", "Users are often surprised by results like this:\n>>> 1.2 - 1.0\n0.19999999999999996")
    table = split_passages("Hold it      What happens\n5 seconds    Network reset\n15 seconds   Factory reset")
    assert [k for k, _ in table] == ["table"]
    markdown = split_passages("It shows one of these codes:\n\n| Code | Meaning |\n|---|---|\n| FW-201 | Cut. |\n")
    assert markdown == [("table", "It shows one of these codes:\n| Code | Meaning |\n|---|---|\n| FW-201 | Cut. |")]


def test_a_table_keeps_its_rows_and_is_cited_on_its_introduction():
    text = "The app shows one of these error codes:\n\n| Code | Meaning |\n|---|---|\n| FW-201 | Download cut. |"
    answer = Extractor(BagOfWords()).answer("What does error code FW-201 mean?", [doc(text)])
    assert answer == ("The app shows one of these error codes: [1]\n\n"  # a table starts a block of its own
                      "| Code | Meaning |\n|---|---|\n| FW-201 | Download cut. |")


def test_overlapping_chunks_and_a_leading_fragment_give_each_passage_once():
    found = passages([doc("ends here. The hub restarts in about two minutes."),
                      doc("The hub restarts in about two minutes. Then it is ready.")])
    assert [p.text for p in found] == ["The hub restarts in about two minutes.", "Then it is ready."]
    assert [p.source for p in found] == [1, 2]


def test_the_answer_quotes_the_best_source_in_order_with_valid_citations():
    documents = [doc(BILLING, 0.4), doc(RESET, 0.6)]
    answer = Extractor(BagOfWords(), max_words=40, margin=0.2).answer(
        "How do I reset the hub to factory settings?", documents)
    assert "Hold the reset button for 15 seconds." in answer and "[2]" in answer
    assert "Invoices" not in answer
    assert cited_numbers(answer) == [2] and citations_valid(answer, len(documents))
    assert groundedness(answer, [d.page_content for d in documents]) == 1.0
    lines = answer.splitlines()
    assert lines.index("1. Keep the hub plugged in.") < lines.index("2. Hold the reset button for 15 seconds.")


def test_passages_keep_source_order_and_each_is_cited_and_code_is_fenced():
    documents = [doc(CODE, 0.5), doc(BILLING, 0.5)]
    answer = Extractor(BagOfWords(), max_words=200, margin=2.0).answer("Is 1.2 - 1.0 a bug? How do I pay?",
                                                                       documents)
    assert answer.index("```\n>>> 1.2 - 1.0") < answer.index("Invoices")
    assert "like this: [1]\n\n```" in answer
    assert cited_numbers(answer) == [1, 2] and citations_valid(answer, 2)
    assert "each month. [2] You can pay by card or bank transfer. [2] Billing is monthly. [2]" in answer


def test_the_length_budget_keeps_at_least_the_best_passage():
    answer = Extractor(BagOfWords(), max_words=1, margin=0.0).answer("bank transfer", [doc(BILLING)])
    assert answer == "You can pay by card or bank transfer. [1]"


def test_a_csv_row_with_lower_case_headers_answers_without_its_labels_or_its_question():
    row = "question: How do I reset the hub?\nanswer: Hold the reset button for 15 seconds until the ring blinks."
    assert [p.text for p in passages([doc(row)])] == ["Hold the reset button for 15 seconds until the ring blinks."]
    assert [p.text for p in passages([doc("Step 1: Open the app and choose Hub.")])] == [
        "Step 1: Open the app and choose Hub."]
