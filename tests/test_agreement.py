"""The agreement core against published values and, on random data, against the reference libraries."""

from __future__ import annotations

import doctest

import krippendorff
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from nltk.metrics.agreement import AnnotationTask
from nltk.metrics.distance import masi_distance
from statsmodels.stats.inter_rater import aggregate_raters, cohens_kappa
from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_fleiss_kappa

from review_project.agreement import kappa
from review_project.agreement.kappa import (
    Estimate,
    binarise,
    binary_fleiss_kappas,
    cohen_kappa_matrix,
    count_table,
    fleiss_kappa,
    fleiss_kappa_interval,
    fleiss_kappa_per_category,
    fleiss_kappa_resampled,
    krippendorff_alpha,
    landis_koch,
    masi_alpha,
    masi_distances,
    percent_agreement,
    percentile_interval,
    resample_tasks,
)

# Fleiss (1971): 30 patients, 6 psychiatrists, 5 diagnoses (statsmodels' test data, 1-based).
FLEISS_1971 = np.array(
    [
        [4, 4, 4, 4, 4, 4], [2, 2, 2, 5, 5, 5], [2, 3, 3, 3, 3, 5], [5, 5, 5, 5, 5, 5],
        [2, 2, 2, 4, 4, 4], [1, 1, 3, 3, 3, 3], [3, 3, 3, 3, 5, 5], [1, 1, 3, 3, 3, 4],
        [1, 1, 4, 4, 4, 4], [5, 5, 5, 5, 5, 5], [1, 4, 4, 4, 4, 4], [1, 2, 4, 4, 4, 4],
        [2, 2, 2, 3, 3, 3], [1, 4, 4, 4, 4, 4], [2, 2, 4, 4, 4, 5], [3, 3, 3, 3, 3, 5],
        [1, 1, 1, 4, 5, 5], [1, 1, 1, 1, 1, 2], [2, 2, 4, 4, 4, 4], [1, 3, 3, 5, 5, 5],
        [5, 5, 5, 5, 5, 5], [2, 4, 4, 4, 4, 4], [2, 2, 4, 5, 5, 5], [1, 1, 4, 4, 4, 4],
        [1, 4, 4, 4, 4, 5], [2, 2, 2, 2, 2, 4], [1, 1, 1, 1, 5, 5], [2, 2, 4, 4, 4, 4],
        [1, 3, 3, 3, 3, 3], [5, 5, 5, 5, 5, 5],
    ]
)
WIKIPEDIA = np.array(
    [
        [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
    ]
)
# Krippendorff (2011), "Computing Krippendorff's alpha-reliability": observers x units, values 1-5.
KRIPPENDORFF_2011 = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, np.nan, np.nan, np.nan],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, np.nan, 3],
        [np.nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, np.nan],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, np.nan],
    ]
)


def test_docstring_examples():
    results = doctest.testmod(kappa)
    assert results.attempted > 0  # a module without examples would pass with failed == 0
    assert results.failed == 0


def test_fleiss_1971_kappa_and_per_category_kappa():
    counts = count_table(FLEISS_1971 - 1, 5)
    assert fleiss_kappa(counts).value == pytest.approx(0.43024452006014, abs=1e-13)
    per_category = [e.value for e in fleiss_kappa_per_category(counts)]
    assert per_category == pytest.approx([0.24476, 0.24476, 0.52000, 0.47113, 0.56612], abs=5e-6)


def test_wikipedia_example():
    assert fleiss_kappa(WIKIPEDIA).value == pytest.approx(0.20993070442196, abs=1e-13)


@pytest.mark.parametrize(
    "level, expected", [("nominal", 0.743421), ("ordinal", 0.815388), ("interval", 0.849107)]
)
def test_krippendorff_2011_example_with_missing_ratings(level, expected):
    counts = count_table(KRIPPENDORFF_2011.T - 1, 5)
    assert krippendorff_alpha(counts, level).value == pytest.approx(expected, abs=5e-7)


def test_every_rating_the_same_gives_a_reason_not_nan():
    counts = np.array([[4, 0, 0], [4, 0, 0], [4, 0, 0]])
    assert fleiss_kappa(counts) == Estimate(None, "every rating is the same (category 0)")
    assert krippendorff_alpha(counts).value is None
    assert krippendorff_alpha(counts).reason == "every rating is the same"
    assert fleiss_kappa_interval(counts).as_list() is None
    assert fleiss_kappa_interval(counts).reason == "every rating is the same (category 0)"
    per_category = fleiss_kappa_per_category(counts)
    assert [e.reason for e in per_category] == ["used by every rating", "never used", "never used"]
    kappa, shared, reasons = cohen_kappa_matrix([[1, 1], [1, 1], [1, 1]], 3)
    assert np.isnan(kappa[0, 1]) and shared[0, 1] == 3
    assert reasons[0, 1] == "each gave one and the same value on every shared task"


def test_fewer_than_two_tasks_gives_a_reason():
    assert fleiss_kappa([[1, 3]]).reason == "fewer than 2 tasks with complete ratings (1)"
    assert fleiss_kappa(np.zeros((0, 5))).reason == "fewer than 2 tasks with complete ratings (0)"
    assert krippendorff_alpha([[1, 3], [0, 1]]).reason == "fewer than 2 tasks with 2 or more ratings (1)"
    assert binary_fleiss_kappas([[1, 0]], 4)[0].reason == "fewer than 2 tasks with complete ratings (1)"
    assert percent_agreement([[1, 0]]).reason == "no task has 2 or more ratings"
    assert masi_alpha([], np.zeros((0, 3))).reason == "no annotations"


def test_invalid_input_raises_a_value_error_naming_the_rule():
    with pytest.raises(ValueError, match="same number of ratings on every task"):
        fleiss_kappa([[1, 3], [1, 2]])
    with pytest.raises(ValueError, match="non-negative"):
        fleiss_kappa([[1, -1], [0, 0]])
    with pytest.raises(ValueError, match="whole numbers 0..4"):
        count_table([[0, 5]], 5)
    with pytest.raises(ValueError, match="2-D"):
        krippendorff_alpha([1, 2, 3])
    with pytest.raises(ValueError, match="threshold must be between 1 and 4"):
        binarise(np.ones((2, 5)), 5)


def test_landis_koch_bands_at_their_edges():
    assert [landis_koch(k) for k in (-0.01, 0.0, 0.2, 0.21, 0.4, 0.6, 0.8, 0.81, 1.0)] == [
        "poor", "slight", "slight", "fair", "fair", "moderate", "substantial", "almost perfect",
        "almost perfect",
    ]


def test_percent_agreement_uses_tasks_with_two_or_more_ratings():
    assert percent_agreement([[2, 0, 0], [1, 1, 0], [0, 1, 0], [1, 1, 1]]).value == pytest.approx((1 + 0 + 0) / 3)


def test_masi_distance_of_empty_sets_is_zero_and_matches_nltk_elsewhere():
    sets = [set(), {0}, {0, 1}, {1, 2}, {2}]
    members = np.array([[t in s for t in range(3)] for s in sets])
    matrix = masi_distances(members)
    for i, a in enumerate(sets):
        for j, b in enumerate(sets):
            expected = 0.0 if a == b else masi_distance(a, b)
            assert matrix[i, j] == pytest.approx(expected, abs=1e-12)


# --- property-based cross-checks on random data -------------------------------------------

@st.composite
def rating_matrices(draw, min_tasks=2, max_tasks=40, max_raters=6, n_categories=5, missing=True):
    n_tasks = draw(st.integers(min_tasks, max_tasks))
    n_raters = draw(st.integers(2, max_raters))
    values = draw(arrays(np.float64, (n_tasks, n_raters), elements=st.integers(0, n_categories - 1).map(float)))
    if missing:
        holes = draw(arrays(bool, (n_tasks, n_raters), elements=st.booleans()))
        values[holes] = np.nan
    return values


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@settings(max_examples=150, deadline=None)
@given(rating_matrices(missing=False))
def test_fleiss_kappa_equals_statsmodels(ratings):
    counts = count_table(ratings, 5)
    ours = fleiss_kappa(counts)
    theirs = statsmodels_fleiss_kappa(aggregate_raters(ratings.astype(int), n_cat=5)[0])
    if np.isnan(theirs):
        assert ours.value is None and ours.reason
    else:
        assert ours.value == pytest.approx(theirs, abs=1e-12)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@settings(max_examples=100, deadline=None)
@given(rating_matrices(missing=False), st.integers(1, 4))
def test_binary_kappas_equal_statsmodels_on_the_two_column_table(ratings, threshold):
    counts = count_table(ratings, 5)
    n_raters = ratings.shape[1]
    said_yes = counts[:, threshold:].sum(axis=1, keepdims=True)
    ours = binary_fleiss_kappas(said_yes, n_raters)[0]
    theirs = statsmodels_fleiss_kappa(binarise(counts, threshold))
    if np.isnan(theirs):
        assert ours.value is None
    else:
        assert ours.value == pytest.approx(theirs, abs=1e-12)
        assert fleiss_kappa(binarise(counts, threshold)).value == pytest.approx(theirs, abs=1e-12)


@settings(max_examples=150, deadline=None)
@given(rating_matrices(), st.sampled_from(["nominal", "ordinal", "interval"]))
def test_krippendorff_alpha_equals_the_krippendorff_package(ratings, level):
    counts = count_table(ratings, 5)
    pairable = counts.sum(axis=1) >= 2
    assume(pairable.sum() >= 2 and (counts[pairable].sum(axis=0) > 0).sum() >= 2)
    theirs = krippendorff.alpha(reliability_data=ratings.T, level_of_measurement=level, value_domain=[0, 1, 2, 3, 4])
    assert krippendorff_alpha(counts, level).value == pytest.approx(theirs, abs=1e-9)


def _nltk_masi(a, b):
    return 0.0 if a == b else masi_distance(a, b)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.integers(0, 7), st.integers(0, 3), st.frozensets(st.integers(0, 5), max_size=2)),
        min_size=4,
        max_size=40,
        unique_by=lambda t: (t[0], t[1]),
    )
)
def test_masi_alpha_equals_nltk_annotation_task(triples):
    tasks = np.array([t for t, _, _ in triples])
    members = np.array([[tag in tags for tag in range(6)] for _, _, tags in triples])
    per_task = np.bincount(tasks)
    pairable = set(np.flatnonzero(per_task >= 2))
    pairable_sets = {tags for t, _, tags in triples if t in pairable}
    assume(len(pairable) >= 2 and len(pairable_sets) >= 2)
    nltk_task = AnnotationTask(
        data=[(f"r{r}", f"t{t}", tags) for t, r, tags in triples], distance=_nltk_masi
    )
    assert masi_alpha(tasks, members).value == pytest.approx(nltk_task.alpha(), abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(rating_matrices(min_tasks=3, max_raters=4), st.sampled_from(["none", "quadratic"]))
def test_pairwise_cohen_kappa_equals_statsmodels(ratings, weights):
    kappa, shared, reasons = cohen_kappa_matrix(ratings, 5, weights)
    for a in range(ratings.shape[1]):
        for b in range(ratings.shape[1]):
            if a == b:
                continue
            both = ~np.isnan(ratings[:, a]) & ~np.isnan(ratings[:, b])
            assert shared[a, b] == both.sum()
            table = np.zeros((5, 5))
            np.add.at(table, (ratings[both, a].astype(int), ratings[both, b].astype(int)), 1)
            if np.isnan(kappa[a, b]):
                assert reasons[a, b]
                continue
            theirs = cohens_kappa(table, wt=None if weights == "none" else "quadratic", return_results=False)
            assert kappa[a, b] == pytest.approx(theirs, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(rating_matrices(missing=False), st.integers(0, 2**32 - 1))
def test_resampled_kappa_with_original_frequencies_is_the_kappa(ratings, seed):
    counts = count_table(ratings, 5)
    draws = resample_tasks(counts, n_resamples=5, seed=seed)
    assert np.all(draws.weights.sum(axis=1) == len(counts))
    frequency = np.array([[np.all(counts == row, axis=1).sum() for row in draws.rows]])
    original = fleiss_kappa(counts).value
    again = fleiss_kappa_resampled(draws.rows, frequency)[0]
    if original is None:
        assert np.isnan(again)
    else:
        assert again == pytest.approx(original, abs=1e-12)


def test_stratified_resamples_keep_each_stratum_size():
    rng = np.random.default_rng(1)
    counts = count_table(rng.integers(0, 5, size=(300, 4)).astype(float), 5)
    strata = rng.integers(0, 3, size=300)
    draws = resample_tasks(counts, n_resamples=50, seed=3, strata=strata)
    for stratum in range(3):
        assert np.all(draws.weights[:, draws.stratum == stratum].sum(axis=1) == (strata == stratum).sum())


def test_bootstrap_is_seeded_and_matches_a_naive_index_bootstrap():
    rng = np.random.default_rng(7)
    truth = rng.integers(0, 5, size=400)
    noise = rng.integers(-1, 2, size=(400, 4))
    counts = count_table(np.clip(truth[:, None] + noise, 0, 4).astype(float), 5)
    ours = fleiss_kappa_interval(counts, n_resamples=2000, seed=11)
    assert ours == fleiss_kappa_interval(counts, n_resamples=2000, seed=11)
    assert ours.low < fleiss_kappa(counts).value < ours.high
    naive_rng = np.random.default_rng(12)
    naive = [statsmodels_fleiss_kappa(counts[naive_rng.integers(0, 400, 400)]) for _ in range(2000)]
    low, high = np.quantile(naive, [0.025, 0.975])
    assert ours.low == pytest.approx(low, abs=0.01)
    assert ours.high == pytest.approx(high, abs=0.01)


def test_percentile_interval_drops_and_counts_undefined_resamples():
    interval = percentile_interval(np.r_[np.linspace(0, 1, 101), [np.nan] * 3])
    assert (interval.low, interval.high, interval.n_undefined) == (pytest.approx(0.025), pytest.approx(0.975), 3)
    assert percentile_interval([np.nan, np.nan, 0.5]).reason == "undefined in 2 of 3 resamples"
