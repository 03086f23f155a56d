from chatbot.prompts import (
    NOT_COVERED,
    citations_valid,
    cited_numbers,
    format_sources,
    rag_messages,
    source_header,
)


def test_sources_are_numbered_in_order_with_page_or_heading():
    text = format_sources([("alpha", {"title": "Guide", "page": 3}), ("beta", {"title": "FAQ", "heading": "A > B"})])
    assert text.startswith("[1] Guide (page 3)\nalpha")
    assert "[2] FAQ (A > B)\nbeta" in text


def test_header_falls_back_to_source_then_untitled():
    assert source_header(4, {"source": "/x/y.txt"}) == "[4] /x/y.txt"
    assert source_header(1, {}) == "[1] untitled"


def test_rag_messages_hold_question_sources_and_citation_instruction():
    messages = rag_messages("  How long is the warranty? ", [("24 months", {"title": "Warranty"})])
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "[1]" in messages[0]["content"] and "square brackets" in messages[0]["content"]
    assert messages[1]["content"].endswith("Question: How long is the warranty?")
    assert "[1] Warranty\n24 months" in messages[1]["content"]


def test_cited_numbers_handles_groups_and_duplicates():
    assert cited_numbers("A [2]. B [1, 3]. C [2][4]. D [x] [ 5 ]") == [2, 1, 3, 4]


def test_citation_validity():
    assert citations_valid("It is 24 months [1].", 2)
    assert not citations_valid("It is 24 months [3].", 2)
    assert not citations_valid("It is 24 months.", 2)
    assert not citations_valid("[0] is no source", 2)


def test_not_covered_reply_is_one_sentence_citing_nothing_and_offering_a_person():
    assert NOT_COVERED.endswith(".") and NOT_COVERED.count(". ") == 0 and "documents" in NOT_COVERED
    assert "Talk to a person" in NOT_COVERED and not cited_numbers(NOT_COVERED)
