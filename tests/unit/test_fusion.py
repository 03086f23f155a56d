from chatbot.fusion_calibration import document_ranking
from chatbot.retriever import Hit, fuse, lexical_text


def hit(chunk_id: int, source: str = "") -> Hit:
    return Hit(chunk_id, chunk_id, "text", {}, source or f"doc{chunk_id}", "", "c", 0.0)


def test_fusion_weights_run_from_the_vector_ranking_to_the_lexical_one():
    vector = [(hit(1), 0.9), (hit(2), 0.8), (hit(3), 0.1)]
    lexical = [(hit(3), 12.0), (hit(4), 6.0)]
    assert [h.chunk_id for h, _ in fuse(vector, lexical, 0.0)][:3] == [1, 2, 3]
    assert fuse(vector, lexical, 1.0)[0][0].chunk_id == 3
    mixed = dict((h.chunk_id, s) for h, s in fuse(vector, lexical, 0.5))
    assert mixed[3] == 0.5 and mixed[1] == 0.5 and mixed[4] == 0.0  # min-max: each arm's last scores 0


def test_fusion_rewards_agreement_and_survives_an_empty_arm():
    vector = [(hit(1), 0.9), (hit(2), 0.85), (hit(3), 0.5)]
    lexical = [(hit(2), 9.0), (hit(5), 8.0), (hit(1), 1.0)]
    assert fuse(vector, lexical, 0.3)[0][0].chunk_id == 2  # near the top of both
    assert [h.chunk_id for h, _ in fuse(vector, [], 0.3)] == [1, 2, 3]
    assert fuse([], [], 0.3) == []


def test_documents_rank_at_their_best_chunk():
    hits = [(hit(1, "a"), 3.0), (hit(2, "b"), 2.0), (hit(3, "a"), 1.0), (hit(4, "c"), 0.5)]
    assert document_ranking(hits) == ["a", "b", "c"]
    assert document_ranking(hits, k=2) == ["a", "b"]


def test_lexical_text_keeps_words_and_drops_operators():
    assert lexical_text("How do I reset the hub?") == "how do i reset the hub"
    assert lexical_text("'; DROP TABLE chunks; --") == "drop table chunks"
    assert lexical_text("\"quoted\" -minus OR this & !that") == "quoted minus or this that"
    assert lexical_text("???") == ""


def test_calibration_takes_the_smallest_weight_within_the_tolerance_of_the_best():
    from chatbot.fusion_calibration import TOLERANCE, pick_weight

    scores = {0.0: 0.48, 0.1: 0.50, 0.2: 0.512, 0.3: 0.519, 0.4: 0.5187, 0.5: 0.50}
    assert pick_weight(scores) == 0.2  # 0.512 is within 0.01 of 0.519; 0.50 is not
    assert pick_weight({**scores, 0.2: 0.519 - TOLERANCE - 0.001}) == 0.3
    assert pick_weight({0.0: 0.3, 0.5: 0.3}) == 0.0  # a tie: the smaller weight


def test_score_based_fusions_keep_the_ends_and_scale_each_arm():
    vector = [(hit(1), 0.9), (hit(2), 0.8), (hit(3), 0.1)]
    lexical = [(hit(3), 12.0), (hit(4), 6.0), (hit(5), 0.0)]
    for method in ("zscore", "dbsf"):
        assert [h.chunk_id for h, _ in fuse(vector, lexical, 0.0, method)][:3] == [1, 2, 3], method
        assert fuse(vector, lexical, 1.0, method)[0][0].chunk_id == 3, method
    z = dict((h.chunk_id, s) for h, s in fuse(vector, lexical, 0.5, "zscore"))
    assert z[3] > z[1] > z[4]  # 3 is far above the lexical mean; 4 is missing from the vector arm: its floor
    flat = [(hit(6), 2.0), (hit(7), 2.0)]
    assert dict((h.chunk_id, s) for h, s in fuse([], flat, 1.0, "dbsf")) == {6: 0.5, 7: 0.5}


def test_the_prior_rule_keeps_the_weight_nearest_the_prior_the_titles_cannot_rule_out():
    from chatbot.fusion_calibration import PRIOR_WEIGHT, nearest_to_prior

    saturated = {0.0: 0.98, 0.1: 0.995, 0.2: 1.0, 0.3: 1.0, 0.4: 1.0, 0.5: 1.0}
    assert nearest_to_prior(saturated, PRIOR_WEIGHT) == 0.3  # the titles say nothing: the prior stands
    lexical_hurts = {0.0: 0.70, 0.1: 0.702, 0.2: 0.69, 0.3: 0.68, 0.4: 0.66}
    assert nearest_to_prior(lexical_hurts, PRIOR_WEIGHT) == 0.1  # 0.3 costs more than the tolerance
    lexical_helps = {0.0: 0.37, 0.3: 0.417, 0.4: 0.428, 0.5: 0.429, 0.6: 0.432, 0.7: 0.415}
    assert nearest_to_prior(lexical_helps, PRIOR_WEIGHT) == 0.4
    assert nearest_to_prior({0.2: 0.5, 0.4: 0.5}, PRIOR_WEIGHT) == 0.2  # equally near: the smaller weight


def test_the_shipped_rule_is_score_based_and_records_its_method():
    from chatbot.fusion_calibration import RULE, RULES, pick_fusion

    assert RULE in RULES
    source = "a"
    arms = ([("a", 1, 0.9), ("b", 2, 0.8)], [("a", 1, 7.0), ("c", 3, 2.0)])
    choice = pick_fusion([(source, arms)] * 3, RULE)
    assert choice.method == "zscore" and choice.weight == 0.3  # every weight ranks "a" first: the prior
