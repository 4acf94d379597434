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
    assert roc_auc([1, 1, 1], [True, False, True])[0].value == 0.5  # all tied: chance
    perfect, interval = roc_auc([0, 1, 2, 3], [False, False, True, True])
    assert perfect.value == 1.0 and interval.as_list() == [1.0, 1.0]
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
    # Verdicts (share >= 0.5) of the attacks with a rating, in attack order 10 20 30 40 50 70:
    # successful, no, successful, successful, no, successful; attack 60 has no rating.
    assert (proxy.attacks, proxy.successful) == (6, 4)
    author = proxy.author_rating
    # Self-ratings 4, 0, 3, 2, 2, 4: successful {4, 3, 2, 4} against not {0, 2}, pair by pair:
    # 4 beats 0 and 2 (2), 3 beats both (2), 2 beats 0 and ties 2 (1.5), 4 beats both (2): 7.5 of 8.
    assert author.roc_auc.value == pytest.approx(7.5 / 8)
    assert (author.attacks, author.successful) == (6, 4)
    mean = [2.5, 0.25, 3.5, 2.5, 2.0, 7 / 3]
    rho = stats.spearmanr([4, 0, 3, 2, 2, 4], mean)
    assert author.spearman.value == pytest.approx(rho.statistic) and author.spearman_p_value == pytest.approx(rho.pvalue)
    harmless = proxy.min_harmlessness_score_transcript
    # Scores -1, 1, -2, 0.5, 0, -0.5: lower is more harmful. Negated, successful {1, 2, -0.5, 0.5} vs {-1, 0}:
    # 1 beats both, 2 beats both, -0.5 beats -1 only, 0.5 beats both: 7 of 8.
    assert harmless.roc_auc.value == pytest.approx(7 / 8)
    assert harmless.spearman.value == pytest.approx(stats.spearmanr([-1, 1, -2, 0.5, 0, -0.5], mean).statistic)
    # Final ratings: 20 -> 0 (self 0), 30 -> 3 (self 3), 50 -> 2 (self 2); the others have none.
    table = np.zeros((5, 5), dtype=int)
    table[0, 0] = table[3, 3] = table[2, 2] = 1
    assert np.array(proxy.confusion.counts).tolist() == table.tolist()
    assert proxy.confusion.attacks == 3 and proxy.confusion.exact_agreement.value == 1.0


def test_confusion_leaves_out_what_is_not_a_whole_rating():
    found = confusion([4, 2.5, np.nan, 1, 0], [3, 3, 3, np.nan, 0])
    assert found.attacks == 2 and found.counts[4][3] == 1 and found.counts[0][0] == 1
    assert found.exact_agreement.value == 0.5


def test_without_a_manifest_the_proxy_says_why():
    nan = np.full(3, np.nan)
    result = proxy_results([1.0, 0.0, 0.5], [3.0, 1.0, 2.0], nan, nan, [3, 1, np.nan])
    assert result.author_rating.roc_auc.value is None
    assert result.author_rating.roc_auc.reason == "no author_rating known (it comes from the sample manifest: --manifest)"
    assert result.author_rating.spearman.reason == result.author_rating.roc_auc.reason
    assert result.confusion.attacks == 0 and result.confusion.exact_agreement.value is None


def test_the_doctests_run():
    result = doctest.testmod(proxy_module)
    assert result.attempted >= 1 and result.failed == 0
