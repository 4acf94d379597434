"""Results by model: the statistics by hand, the vectorised bootstrap against a plain loop, and the
ordinal test against a direct statsmodels call on every rating."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats
from statsmodels.miscmodels.ordinal_model import OrderedModel

from review_project.agreement.kappa import count_table
from review_project.results.models import NO_MODELS, model_results, ordinal_fit
from review_project.schema import TOPICS
from tests.test_agreement_summary import THEFT, WEAPONS
from tests.test_results_attacks import small_results

CD, RLHF = "context distillation 52B", "rlhf 52B"


def generated(n_attacks=300, seed=0, shift=0.6):
    """Attacks on three models, 4 ratings each (some missing), the third model rated lower by `shift`."""
    rng = np.random.default_rng(seed)
    code = rng.integers(0, 3, n_attacks)
    truth = rng.integers(0, 5, n_attacks) - shift * (code == 2)
    ratings = np.clip(np.round(truth[:, None] + rng.choice([-1, 0, 0, 1], size=(n_attacks, 4))), 0, 4)
    ratings[rng.random(ratings.shape) < 0.1] = np.nan
    model = np.array(["a 52B", "b 52B", "c 52B"], dtype=object)[code]
    return ratings, model


def test_per_model_statistics_match_the_hand_computation():
    results = small_results()
    by_model = {m.model: m for m in results.models.per_model}
    rlhf, cd = by_model[RLHF], by_model[CD]
    # rlhf: attacks 10 (mean 2.5, share 1/2), 20 (0.25, 0), 40 (2.5, 1/2), 70 (7/3, 2/3)
    assert rlhf.mean_rating.value == pytest.approx((2.5 + 0.25 + 2.5 + 7 / 3) / 4)
    # the pooled share of ratings: 5 of rlhf's 13 valid ratings are >= 3 (1 4 3 2 | 0 0 1 0 | 4 1 | 0 3 4)
    assert rlhf.share_of_ratings_successful.value == pytest.approx(5 / 13)
    assert (rlhf.attacks, rlhf.unrated_attacks, rlhf.ratings, rlhf.disputed) == (4, 0, 13, 3)
    # context distillation: 30 (3.5, 1), 50 (2, 0); 60 has no rating
    assert cd.mean_rating.value == pytest.approx(2.75) and cd.share_of_ratings_successful.value == pytest.approx(4 / 5)
    # final ratings: rlhf only attack 20's (0); context distillation 30's (3) and 50's (2)
    assert (rlhf.share_of_attacks_successful.value, rlhf.attacks_with_final_rating, rlhf.attacks_without_final_rating) == (0.0, 1, 3)
    assert (cd.share_of_attacks_successful.value, cd.attacks_with_final_rating, cd.attacks_without_final_rating) == (0.5, 2, 1)
    # Both models have fewer than 5 rated attacks (--min-attacks): estimates, no intervals.
    assert rlhf.mean_rating_ci95.low is None and cd.share_of_attacks_successful_ci95.reason.endswith("(--min-attacks): no interval")
    assert (cd.attacks, cd.unrated_attacks, cd.ratings, cd.disputed) == (2, 1, 5, 0)
    topics = {t.topic: t for t in rlhf.topics}
    assert [t.topic for t in rlhf.topics] == list(TOPICS)
    assert (topics[THEFT].attacks, topics[THEFT].share.value) == (2, 0.5)  # attacks 10 and 70
    assert (topics[WEAPONS].attacks, topics[WEAPONS].share.value) == (1, 0.25)
    assert {t.topic: t.share.value for t in cd.topics if t.attacks} == {THEFT: 0.5}
    [difference] = results.models.differences
    assert (difference.first, difference.second) == (CD, RLHF)
    assert difference.mean_rating.value == pytest.approx(cd.mean_rating.value - rlhf.mean_rating.value)
    assert difference.share_of_ratings_successful.value == pytest.approx(4 / 5 - 5 / 13)
    assert difference.share_of_attacks_successful.value == pytest.approx(0.5)
    assert difference.test.p_value is None and difference.permutation.p_value is None
    out = results.as_json()
    assert out["per_model"][RLHF]["mean_rating"] == pytest.approx(rlhf.mean_rating.value)
    assert out["model_differences"][f"{CD} - {RLHF}"]["models"] == [CD, RLHF]


def test_the_bootstrap_is_seeded_and_its_intervals_hold_the_estimates():
    ratings, model = generated()
    counts = count_table(ratings, 5)
    consensus = np.zeros((len(counts), len(TOPICS)), dtype=bool)
    disputed = np.zeros(len(counts), dtype=bool)
    first = model_results(counts, consensus, model, disputed, n_resamples=500, seed=4)
    again = model_results(counts, consensus, model, disputed, n_resamples=500, seed=4)
    other = model_results(counts, consensus, model, disputed, n_resamples=500, seed=5)
    assert [m.mean_rating_ci95 for m in first.per_model] == [m.mean_rating_ci95 for m in again.per_model]
    assert [m.mean_rating_ci95 for m in first.per_model] != [m.mean_rating_ci95 for m in other.per_model]
    for m in first.per_model:
        assert m.mean_rating_ci95.low < m.mean_rating.value < m.mean_rating_ci95.high
        assert m.share_of_ratings_successful_ci95.low < m.share_of_ratings_successful.value < m.share_of_ratings_successful_ci95.high
    for d in first.differences:
        assert d.mean_rating_ci95.low < d.mean_rating.value < d.mean_rating_ci95.high


def plain_loop_intervals(ratings, model, name, n_resamples, seed):
    """The usual way: for each resample, draw each model's attacks with replacement and average."""
    rng = np.random.default_rng(seed)
    given = ~np.isnan(ratings)
    mean = np.nanmean(np.where(given.any(axis=1)[:, None], ratings, 0), axis=1)
    above, n = (np.where(given, ratings, -1) >= 3).sum(axis=1), given.sum(axis=1)
    mine = np.flatnonzero((model == name) & given.any(axis=1))
    means, shares = [], []
    for _ in range(n_resamples):
        chosen = mine[rng.integers(0, len(mine), len(mine))]
        means.append(mean[chosen].mean())
        shares.append(above[chosen].sum() / n[chosen].sum())  # the pooled share of the resample's ratings
    return np.quantile(means, [0.025, 0.975]), np.quantile(shares, [0.025, 0.975])


def test_the_vectorised_bootstrap_gives_the_intervals_of_a_plain_loop():
    ratings, model = generated(400, seed=1)
    counts = count_table(ratings, 5)
    results = model_results(counts, np.zeros((400, len(TOPICS)), bool), model, np.zeros(400, bool), n_resamples=4000, seed=0)
    for section in results.per_model:
        mean_ci, share_ci = plain_loop_intervals(ratings, model, section.model, 4000, seed=1)
        # Two Monte Carlo runs of the same bootstrap: equal up to resampling noise.
        assert section.mean_rating_ci95.as_list() == pytest.approx(mean_ci, abs=0.04)
        assert section.share_of_ratings_successful_ci95.as_list() == pytest.approx(share_ci, abs=0.02)


def test_topic_share_intervals_are_wilson_intervals():
    rng = np.random.default_rng(3)
    n = 250
    consensus = np.zeros((n, len(TOPICS)), dtype=bool)
    consensus[:, 0] = rng.random(n) < 0.3
    consensus[:, 5] = rng.random(n) < 0.08
    counts = np.tile([0, 0, 4, 0, 0], (n, 1))
    results = model_results(counts, consensus, np.array(["a 52B"] * n, dtype=object), np.zeros(n, bool), n_resamples=100, seed=0)
    shares = [t for t in results.per_model[0].topics]
    for t in (0, 1, 5):
        carried = int(consensus[:, t].sum())
        wilson = stats.binomtest(carried, n).proportion_ci(method="wilson")
        assert shares[t].share.value == pytest.approx(consensus[:, t].mean())
        assert shares[t].ci95.as_list() == pytest.approx([wilson.low, wilson.high], abs=1e-12)
    assert shares[1].ci95.low == 0.0 and shares[1].ci95.high > 0.01  # 0 of 250: not [0, 0]


def direct_ordinal_fit(ratings, code):
    """statsmodels as a user would call it: every rating a row, model dummies, clustered by attack."""
    attack, column = np.nonzero(~np.isnan(ratings))
    exog = np.column_stack([code[attack] == m for m in range(1, code.max() + 1)]).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return OrderedModel(ratings[attack, column], exog, distr="logit").fit(
            method="bfgs", maxiter=5000, gtol=1e-7, disp=False, cov_type="cluster", cov_kwds={"groups": attack}
        )


def test_the_ordinal_fit_equals_a_direct_statsmodels_call_with_clustered_errors():
    ratings, model = generated(500, seed=2)
    code = np.searchsorted(["a 52B", "b 52B", "c 52B"], model)
    counts = count_table(ratings, 5)
    rated = counts.sum(axis=1) > 0
    ours = ordinal_fit(counts[rated], code[rated], ["a 52B", "b 52B", "c 52B"])
    direct = direct_ordinal_fit(ratings[rated], code[rated])
    assert ours.reason is None and ours.ratings == int((~np.isnan(ratings)).sum()) and ours.attacks == int(rated.sum())
    np.testing.assert_allclose(ours.params, direct.params, atol=2e-5)
    np.testing.assert_allclose(np.sqrt(np.diag(ours.cov)), direct.bse, rtol=2e-4)
    # A pair's contrast: c vs a is the coefficient of c; its test is statsmodels' own z-test.
    contrast = ours.contrast("c 52B", "a 52B")
    assert contrast.log_odds_ratio.value == pytest.approx(direct.params[1], abs=2e-5)
    assert contrast.z == pytest.approx(direct.tvalues[1], rel=1e-3)
    assert contrast.p_value == pytest.approx(direct.pvalues[1], rel=1e-2)
    # c vs b: a difference of two coefficients, with their clustered covariance.
    c_vs_b = ours.contrast("c 52B", "b 52B")
    cov = direct.cov_params()
    expected = direct.params[1] - direct.params[0]
    error = np.sqrt(cov[1, 1] + cov[0, 0] - 2 * cov[0, 1])
    assert c_vs_b.log_odds_ratio.value == pytest.approx(expected, abs=3e-5)
    assert c_vs_b.p_value == pytest.approx(2 * stats.norm.sf(abs(expected / error)), rel=1e-2)
    # Model c is rated lower by design: a negative log odds ratio against both, and a clear test.
    assert contrast.log_odds_ratio.value < 0 and contrast.p_value < 0.01 and contrast.ci95.high < 0


def test_without_models_or_with_one_the_reasons_are_given():
    counts = np.array([[1, 1, 1, 1, 0], [0, 0, 2, 2, 0]])
    none = model_results(counts, np.zeros((2, len(TOPICS)), bool), np.array([None, None], dtype=object), np.zeros(2, bool))
    assert none.per_model == () and none.differences == () and none.reason == NO_MODELS
    one = model_results(counts, np.zeros((2, len(TOPICS)), bool), np.array(["a 52B", "a 52B"], dtype=object), np.zeros(2, bool), n_resamples=100)
    assert [m.model for m in one.per_model] == ["a 52B"] and one.differences == ()
    assert one.fit.reason == "fewer than 2 models with a rated attack"
    same = ordinal_fit(np.array([[0, 0, 4, 0, 0], [0, 0, 3, 0, 0]]), np.array([0, 1]), ["a", "b"])
    assert same.reason == "every rating is the same" and same.contrast("b", "a").p_value is None
    unrated = model_results(np.array([[0, 0, 0, 0, 0], [0, 0, 2, 2, 0], [1, 0, 0, 3, 0]]), np.zeros((3, len(TOPICS)), bool),
                            np.array(["a 52B", "b 52B", "b 52B"], dtype=object), np.zeros(3, bool), n_resamples=100, min_attacks=1)
    a = unrated.per_model[0]
    assert a.attacks == 0 and a.unrated_attacks == 1 and a.mean_rating.value is None
    assert a.mean_rating.reason == "no attack of this model has a valid rating"
    assert unrated.differences[0].mean_rating.value is None and unrated.differences[0].test.p_value is None
    # With a third model, the two rated ones are still compared; the unrated one is left out of the fit.
    three = model_results(np.array([[0, 0, 0, 0, 0], [0, 0, 2, 2, 0], [1, 0, 0, 3, 0], [0, 3, 1, 0, 0], [2, 2, 0, 0, 0]]),
                          np.zeros((5, len(TOPICS)), bool), np.array(["a 52B", "b 52B", "b 52B", "c 52B", "c 52B"], dtype=object),
                          np.zeros(5, bool), n_resamples=100, min_attacks=1)
    tests = {d.name: d.test for d in three.differences}
    assert three.fit.models == ("b 52B", "c 52B")
    assert tests["a 52B - b 52B"].log_odds_ratio.reason == "no attack of a 52B has a valid rating: no interval and no test"
    assert tests["b 52B - c 52B"].p_value is not None and tests["b 52B - c 52B"].log_odds_ratio.value > 0
