"""The cheap proxy against the reviewers: AUC against scipy's Mann-Whitney U, DeLong's variance by
hand, Spearman against scipy, and the confusion table worked by hand."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from scipy import stats

from review_project.results import proxy as proxy_module
from review_project.results.proxy import confusion, proxy_results, roc_auc, roc_curve
from tests.test_results_attacks import small_results


def delong_by_hand(positive, negative):
    """DeLong et al. (1988) with explicit loops over pairs: psi = 1 above, 1/2 tied."""
    psi = [[1.0 if x > y else 0.5 if x == y else 0.0 for y in negative] for x in positive]
    v10 = [sum(row) / len(negative) for row in psi]
    v01 = [sum(psi[i][j] for i in range(len(positive))) / len(positive) for j in range(len(negative))]
    auc = sum(v10) / len(positive)
    variance = np.var(v10, ddof=1) / len(positive) + np.var(v01, ddof=1) / len(negative)
    return auc, variance


def test_auc_is_mann_whitney_u_and_its_interval_is_delongs():
    rng = np.random.default_rng(0)
    labels = rng.random(200) < 0.4
    scores = np.round(labels * 0.8 + rng.normal(size=200), 1)  # rounded: plenty of ties
    auc, interval = roc_auc(scores, labels)
    u = stats.mannwhitneyu(scores[labels], scores[~labels]).statistic
    assert auc.value == pytest.approx(u / (labels.sum() * (~labels).sum()), abs=1e-12)
    expected_auc, variance = delong_by_hand(scores[labels], scores[~labels])
    assert auc.value == pytest.approx(expected_auc, abs=1e-12)
    half = 1.959963984540054 * np.sqrt(variance)
    assert interval.as_list() == pytest.approx([expected_auc - half, expected_auc + half], abs=1e-9)


def test_auc_worked_by_hand_and_its_edges():
    # Positives 0.35, 0.8 against negatives 0.1, 0.4: pairs won 1 + 0 + 1 + 1 = 3 of 4.
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [False, False, True, True])[0].value == 0.75
    constant, no_width = roc_auc([1, 1, 1], [True, False, True])  # all tied: no measurement, not "chance"
    assert constant.value is None and constant.reason == "the proxy has the same value for every attack with a verdict"
    assert no_width.low is None
    perfect, interval = roc_auc([0, 1, 2, 3], [False, False, True, True])
    # Perfect separation: DeLong's variance is 0, and [1, 1] would only look certain.
    assert perfect.value == 1.0 and interval.as_list() is None
    assert interval.reason == "the proxy separates the verdicts perfectly (DeLong's variance is 0)"
    none, no_interval = roc_auc([1, 2], [True, True])
    assert none.value is None and none.reason == "every attack has the same verdict (all successful)"
    assert no_interval.low is None


def test_roc_curve_steps_through_each_distinct_score():
    fpr, tpr = roc_curve([0.1, 0.4, 0.35, 0.8], [False, False, True, True])
    assert fpr.tolist() == [0.0, 0.0, 0.5, 0.5, 1.0]
    assert tpr.tolist() == [0.0, 0.5, 0.5, 1.0, 1.0]
    assert np.trapezoid(tpr, fpr) == pytest.approx(0.75)


def test_the_proxy_of_the_small_project_worked_by_hand():
    proxy = small_results().proxy
    # Final ratings (attack order 10 20 30 40 50 60 70): none (split), 0, 3, none (split), 2, none
    # (no rating), none (spread). Successful: a final rating >= 3: 30 of the three with one.
    assert (proxy.attacks, proxy.successful) == (3, 1)
    assert proxy.left_out == {"disputed, not adjudicated": 3, "no valid rating": 1}
    assert proxy.split_attacks == 2
    author = proxy.author_rating
    # Self-ratings 0 (20), 3 (30), 2 (50): 3 beats 0 and 2: AUC 1, with one successful attack no interval.
    assert author.roc_auc.value == 1.0 and author.roc_auc_ci95.low is None
    assert (author.attacks, author.successful) == (3, 1)
    # Sensitivity over the six rated attacks: 70 (0, 3, 4) by its majority, successful; the splits 10 and 40 each way.
    # Splits successful: {10: 4, 30: 3, 40: 2, 70: 4} against {20: 0, 50: 2}, pair by pair:
    # 4 beats both (2), 3 beats both (2), 2 beats 0 and ties 2 (1.5), 4 beats both (2): 7.5 of 8.
    assert author.splits_successful.roc_auc.value == pytest.approx(7.5 / 8)
    assert (author.splits_successful.attacks, author.splits_successful.successful) == (6, 4)
    # Splits not successful: {30: 3, 70: 4} against {10: 4, 20: 0, 40: 2, 50: 2}: 3 wins 3 of 4, 4 wins 3.5: 6.5 of 8.
    assert author.splits_not_successful.roc_auc.value == pytest.approx(6.5 / 8)
    assert (author.splits_not_successful.attacks, author.splits_not_successful.successful) == (6, 2)
    mean = [2.5, 0.25, 3.5, 2.5, 2.0, 7 / 3]
    rho = stats.spearmanr([4, 0, 3, 2, 2, 4], mean)
    assert author.spearman.value == pytest.approx(rho.statistic) and author.spearman_p_value == pytest.approx(rho.pvalue)
    assert author.spearman_attacks == 6
    harmless = proxy.min_harmlessness_score_transcript
    # Scores 1 (20), -2 (30), 0 (50), negated -1, 2, 0: 2 beats both.
    assert harmless.roc_auc.value == 1.0
    # Negated scores 10: 1, 20: -1, 30: 2, 40: -0.5, 50: 0, 70: 0.5. Splits successful {1, 2, -0.5, 0.5} vs {-1, 0}:
    # 1 beats both, 2 beats both, -0.5 beats -1 only, 0.5 beats both: 7 of 8. Not: {2, 0.5} vs {1, -1, -0.5, 0}: 4 + 3.
    assert harmless.splits_successful.roc_auc.value == pytest.approx(7 / 8)
    assert harmless.splits_not_successful.roc_auc.value == pytest.approx(7 / 8)
    assert harmless.spearman.value == pytest.approx(stats.spearmanr([-1, 1, -2, 0.5, 0, -0.5], mean).statistic)
    # Final ratings: 20 -> 0 (self 0), 30 -> 3 (self 3), 50 -> 2 (self 2); the others have none.
    table = np.zeros((5, 5), dtype=int)
    table[0, 0] = table[3, 3] = table[2, 2] = 1
    assert np.array(proxy.confusion.counts).tolist() == table.tolist()
    assert proxy.confusion.attacks == 3 and proxy.confusion.exact_agreement.value == 1.0
    assert proxy.confusion.left_out == {"disputed, not adjudicated": 3, "no valid rating": 1, "no self-rating 0-4": 0}


def test_confusion_leaves_out_what_is_not_a_whole_rating():
    found = confusion([4, 2.5, np.nan, 1, 0], [3, 3, 3, np.nan, 0], ["m", "m", "m", "disputed, not adjudicated", "m"])
    assert found.attacks == 2 and found.counts[4][3] == 1 and found.counts[0][0] == 1
    assert found.exact_agreement.value == 0.5
    assert found.left_out == {"disputed, not adjudicated": 1, "no valid rating": 0, "no self-rating 0-4": 2}


def test_without_a_manifest_the_proxy_says_why():
    nan = np.full(3, np.nan)
    reasons = ["median of the valid ratings", "median of the valid ratings", "disputed, not adjudicated"]
    result = proxy_results([3, 1, np.nan], reasons, [1.0, 0.0, 0.5], [3.0, 1.0, 2.0], nan, nan)
    assert result.author_rating.roc_auc.value is None
    assert result.author_rating.roc_auc.reason == "no author_rating known (it comes from the sample manifest: --manifest)"
    assert result.author_rating.spearman.reason == result.author_rating.roc_auc.reason
    assert result.author_rating.splits_successful.roc_auc.reason == result.author_rating.roc_auc.reason
    assert result.confusion.attacks == 0 and result.confusion.exact_agreement.value is None


def test_the_doctests_run():
    result = doctest.testmod(proxy_module)
    assert result.attempted >= 1 and result.failed == 0
