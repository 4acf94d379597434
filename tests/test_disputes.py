"""The dispute rule, against cases worked by hand, and its doctest."""

import doctest

import numpy as np

from review_project import disputes
from review_project.disputes import DisputeRule

nan = np.nan


def test_doctest_runs():
    result = doctest.testmod(disputes)
    assert result.attempted >= 1 and result.failed == 0


def test_cases_worked_by_hand():
    ratings = [
        [3, 3, 0, 0],      # 2 of 4 at or above 3: split; 3 - 0 = 3: spread
        [4, 3, 3, 2],      # 3 of 4: not split; 4 - 2 = 2: no
        [2, 1, nan, nan],  # none at or above: no
        [4, nan, nan, nan],  # one rating cannot be disputed
        [nan, nan, nan, nan],
        [1, 4, 1, 2],      # 1 of 4 above; 4 - 1 = 3: spread
    ]
    assert list(disputes.disputes(ratings)) == ["split; spread", "", "", "", "", "spread"]


def test_the_rule_is_configurable():
    ratings = [[2, 3], [0, 2]]
    assert list(disputes.disputes(ratings)) == ["split", ""]
    assert list(disputes.disputes(ratings, DisputeRule(threshold=2, spread=2))) == ["", "split; spread"]


def test_tied_topics_are_a_dispute_of_their_own_and_combine_with_the_others():
    # Topic votes (3 topics), 4 ratings each: consensus needs 2 votes.
    votes = [[2, 2, 2], [3, 3, 2], [2, 2, 2], [4, 2, 2], [2, 2, 0], [1, 1, 1]]
    ratings = [[2, 2, 2, 2], [2, 2, 2, 2], [3, 3, 0, 0], [1, 4, 1, 2], [1, 4, 1, 2], [2, 2, 2, 2]]
    assert list(disputes.disputes(ratings, votes=votes)) == ["topics", "", "split; spread; topics", "spread; topics", "spread", ""]
    # Without the votes the rule is the rating rule alone (the digest's call).
    assert list(disputes.disputes(ratings)) == ["", "", "split; spread", "spread", "spread", ""]
    # Too few ratings to be disputed: no topic dispute either.
    assert list(disputes.disputes([[2, nan, nan, nan]], DisputeRule(min_ratings=2), votes=[[1, 1, 1]])) == [""]
    parts = disputes.dispute_parts(ratings, votes=votes)
    assert parts.rating.tolist() == [False, False, True, True, True, False]
    assert set(disputes.DISPUTE_REASONS) >= set(parts.reasons) - {""}


def final_topics_by_hand(votes, n):
    """The final-topic rule one attack at a time, in plain Python: (chosen topic indices, tied)."""
    agreed = [t for t, v in enumerate(votes) if v > 0 and 2 * v >= n]
    if len(agreed) <= 2:
        return sorted(agreed), False
    ranked = sorted((votes[t] for t in agreed), reverse=True)
    if ranked[1] == ranked[2]:
        return [], True
    return sorted(t for t in agreed if votes[t] >= ranked[1]), False


def test_final_topics_match_the_rule_worked_one_attack_at_a_time():
    rng = np.random.default_rng(3)
    n = rng.integers(0, 6, size=3000)
    votes = rng.binomial(n[:, None], 0.45, size=(3000, 6))
    choice = disputes.final_topics(votes, n)
    assert choice.tied.sum() > 100 and (choice.chosen.sum(axis=1) == 2).sum() > 100
    for row in range(len(n)):
        chosen, tied = final_topics_by_hand(votes[row].tolist(), int(n[row]))
        assert (np.flatnonzero(choice.chosen[row]).tolist(), bool(choice.tied[row])) == (chosen, tied), row
    assert (choice.chosen.sum(axis=1) <= 2).all()
