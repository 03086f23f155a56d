from chatbot.retriever import all_words_query, any_word_query, reciprocal_rank_fusion


def test_rrf_rewards_agreement_and_respects_weights():
    scores = reciprocal_rank_fusion([[1, 2, 3], [3, 4]], [1.0, 1.0], k=60)
    assert max(scores, key=scores.get) == 3  # ranked by both lists
    assert scores[1] > scores[2] == scores[4]  # same rank in one list each
    weighted = reciprocal_rank_fusion([[1, 2], [2, 1]], [1.0, 0.1], k=60)
    assert weighted[1] > weighted[2]


def test_rrf_empty_rankings():
    assert reciprocal_rank_fusion([[], []], [1.0, 1.0], k=60) == {}


def test_full_text_queries_keep_words_and_drop_operators():
    assert all_words_query("How do I reset the hub?") == "how do i reset the hub"
    assert any_word_query("How do I reset the hub?") == "how or do or i or reset or the or hub"
    assert all_words_query("'; DROP TABLE chunks; --") == "drop table chunks"
    assert all_words_query("\"quoted\" -minus OR this") == "quoted minus this"
    assert all_words_query("???") == any_word_query("???") == ""
