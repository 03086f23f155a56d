"""The A/B statistics: Wilson intervals against published values, votes needed, paired bootstrap."""

import pytest

from chatbot.ab_stats import (
    BETTER,
    NO_VOTES,
    UNDECIDED,
    WORSE,
    judge,
    paired_bootstrap,
    trials_to_exclude_half,
    wilson,
)


@pytest.mark.parametrize(("successes", "trials", "low", "high"), [
    (8, 10, 0.490, 0.943),
    (50, 100, 0.404, 0.596),
    (0, 10, 0.000, 0.278),
    (10, 10, 0.722, 1.000),
    (81, 263, 0.255, 0.366),  # Wilson (1927) / Newcombe (1998) worked example
])
def test_wilson_matches_known_values(successes, trials, low, high):
    got = wilson(successes, trials)
    assert got == pytest.approx((low, high), abs=5e-4)


def test_wilson_without_trials_is_everything():
    assert wilson(0, 0) == (0.0, 1.0)


def test_trials_to_exclude_half_is_the_first_n_whose_interval_leaves_out_half():
    for rate in (0.8, 0.65, 0.3, 0.55):
        n = trials_to_exclude_half(rate)
        low, high = wilson(rate * n, n)
        assert low > 0.5 or high < 0.5
        before_low, before_high = wilson(rate * (n - 1), n - 1)
        assert before_low <= 0.5 <= before_high
    assert trials_to_exclude_half(0.8) == 11
    assert trials_to_exclude_half(0.5) is None


def test_judge_eight_of_ten_is_not_yet_distinguishable_and_needs_one_more_vote():
    verdict = judge(8, 2, 0)
    assert verdict.verdict == UNDECIDED
    assert (verdict.low, verdict.high) == pytest.approx((0.490, 0.943), abs=5e-4)
    assert verdict.votes_needed == 1
    assert judge(9, 2, 0).verdict == BETTER and judge(9, 2, 0).votes_needed == 0
    assert judge(2, 9, 0).verdict == WORSE


def test_judge_counts_ties_half_and_never_separates_an_even_record():
    verdict = judge(3, 3, 4)
    assert verdict.rate == 0.5 and verdict.votes_needed is None and verdict.verdict == UNDECIDED
    assert judge(6, 0, 4).rate == pytest.approx(0.8)
    assert judge(0, 0, 0).verdict == NO_VOTES


def test_bootstrap_of_identical_arms_contains_zero():
    scores = [0.1, 0.4, 0.35, 0.9, 0.0, 0.55, 0.2, 0.7]
    diff = paired_bootstrap(scores, scores)
    assert diff.mean == 0.0 and diff.low <= 0.0 <= diff.high


def test_bootstrap_of_noisy_equal_arms_contains_zero_and_a_better_arm_excludes_it():
    a = [0.2, 0.5, 0.1, 0.7, 0.4, 0.3, 0.6, 0.2, 0.5, 0.4]
    b = [0.3, 0.4, 0.2, 0.6, 0.5, 0.2, 0.7, 0.1, 0.4, 0.5]
    same = paired_bootstrap(a, b)
    assert same.low < 0.0 < same.high
    better = paired_bootstrap([x + 0.2 + 0.01 * i for i, x in enumerate(b)], b)
    assert better.low > 0.0 and better.mean == pytest.approx(0.245)
    assert paired_bootstrap(a, b) == same  # a fixed seed: the same interval every run


def test_bootstrap_refuses_unpaired_scores():
    with pytest.raises(ValueError, match="paired"):
        paired_bootstrap([1.0], [])


def test_win_rate_rows_show_interval_votes_needed_and_verdict():
    from chatbot.storage.conversations import WinRate
    from chatbot.ui.formatting import GROUPED_WIN_RATE_HEADERS, WIN_RATE_HEADERS, win_rate_rows

    rows = win_rate_rows([WinRate("a", "b", 8, 2, 0), WinRate("b", "a", 5, 5, 0), WinRate("c", "d", 0, 0, 0)])
    assert [len(r) for r in rows] == [len(WIN_RATE_HEADERS)] * 3
    assert rows[0][-3:] == ["49%–94%", "1", UNDECIDED]
    assert rows[1][-2:] == ["never (exactly 50 %)", UNDECIDED] and rows[2][-2:] == ["n/a", NO_VOTES]
    grouped = win_rate_rows([WinRate("a", "b", 20, 2, 0, group="faq")], grouped=True)
    assert grouped[0][0] == "faq" and grouped[0][-1] == BETTER and len(grouped[0]) == len(GROUPED_WIN_RATE_HEADERS)
