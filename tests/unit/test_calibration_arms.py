"""The calibration memo: one fetch per query, and only what the calibrations read is kept."""

from chatbot.calibration_arms import CalibrationArms
from chatbot.retriever import Hit


class CountingRetriever:
    collection = "docs"

    def __init__(self) -> None:
        self.calls = 0

    def arms(self, query: str):
        self.calls += 1
        hit = Hit(7, 3, "a long chunk text " * 50, {"heading": "Install"}, "guide.md", "Guide", "docs", 0.61)
        return [(hit, 0.58)], [(hit, 4.2)]


def test_arms_are_fetched_once_per_query_and_kept_without_texts():
    retriever = CountingRetriever()
    memo = CalibrationArms(retriever)  # type: ignore[arg-type]
    first = memo.arms("how do I install it")
    again = memo.arms("how do I install it")
    memo.arms("another question")
    assert retriever.calls == 2
    assert first is again
    (vector_hit, vector_score), = first[0]
    (lexical_hit, lexical_score), = first[1]
    assert (vector_hit.source, vector_hit.chunk_id, vector_hit.similarity, vector_score) == ("guide.md", 7, 0.61, 0.58)
    assert (lexical_hit.source, lexical_score) == ("guide.md", 4.2)
    assert vector_hit.text == "" and vector_hit.metadata == {}
    assert memo.collection == "docs"
