"""The headline measures that use every task with 2 or more ratings and the order of the scale:
ICC(2,1) and ICC(2,k), Gwet's AC1 and AC2, Fleiss' kappa for a varying number of ratings, and the
bootstrap of per-model kappa differences. Each is checked against an independent implementation
or a published worked example.

Reference values marked "irrCAC 0.4.4" were printed by the PyPI package irrCAC 0.4.4 (Gwet's
formulas, `CAC(data, weights=..., categories=[0, 1, 2, 3, 4]).gwet()` / `.fleiss()`, run in a
separate venv: it pins scipy 1.12 and cannot live beside label-studio) on the ratings matrix of
the tasks with 2 or more valid ratings of each real export below.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_fleiss_kappa

from review_project.agreement import kappa, ordinal, open_source, summarise
from review_project.agreement.arrays import reviews
from review_project.agreement.kappa import Estimate
from review_project.export import annotation_table
from review_project.manifest import read_manifest
from tests.test_agreement_summary import annotation, random_project, task

pingouin = pytest.importorskip("pingouin")

FIXTURES = Path(__file__).parent / "fixtures"
NAN = np.nan

# Gwet (2014), Handbook of Inter-Rater Reliability, 4th ed., table 2.16 (irrCAC's `raw4raters`):
# 12 units x 4 raters, categories 1-5, with missing ratings.
RAW_4_RATERS = np.array([
    [1, 1, NAN, 1], [2, 2, 3, 2], [3, 3, 3, 3], [3, 3, 3, 3], [2, 2, 2, 2], [1, 2, 3, 4],
    [4, 4, 4, 4], [1, 1, 2, 1], [2, 2, 2, 2], [NAN, 5, 5, 5], [NAN, NAN, 1, 1], [NAN, NAN, 3, NAN],
]) - 1

# Shrout & Fleiss (1979), table 2: 6 targets x 4 judges.
SHROUT_FLEISS = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]], dtype=float)


@contextlib.contextmanager
def _pingouin_unrounded():
    saved = dict(pingouin.options)
    pingouin.options["round.column.CI95"] = None
    try:
        yield
    finally:
        pingouin.options.clear()
        pingouin.options.update(saved)


def _pingouin_icc(block: np.ndarray) -> dict[str, tuple[float, list[float]]]:
    n, k = block.shape
    long = pd.DataFrame({"task": np.repeat(np.arange(n), k), "reviewer": np.tile(np.arange(k), n), "rating": block.ravel()})
    # pingouin rounds the CI95 column to 2 decimals by default; its option turns that off.
    with warnings.catch_warnings(), _pingouin_unrounded():
        warnings.simplefilter("ignore")
        table = pingouin.intraclass_corr(long, targets="task", raters="reviewer", ratings="rating").set_index("Type")
    # pingouin 0.7 names them as McGraw & Wong do: ICC(A,1) is ICC(2,1), ICC(A,k) is ICC(2,k).
    return {
        kind: (float(table.loc[name, "ICC"]), [float(v) for v in table.loc[name, "CI95"]])
        for kind, name in (("ICC2", "ICC(A,1)"), ("ICC2k", "ICC(A,k)"))
    }


# --- ICC ----------------------------------------------------------------------------------------


def test_icc_reproduces_shrout_and_fleiss_published_table():
    result = ordinal.icc(SHROUT_FLEISS)
    # Printed in Shrout & Fleiss (1979), table 4: ICC(2,1) = .29, ICC(2,4) = .62.
    assert round(result.icc_2_1.value, 2) == 0.29 and round(result.icc_2_k.value, 2) == 0.62
    assert (result.n, result.k, result.reviewers) == (6, 4, (0, 1, 2, 3))
    reference = _pingouin_icc(SHROUT_FLEISS)
    assert result.icc_2_1.value == pytest.approx(reference["ICC2"][0], abs=1e-9)
    assert result.icc_2_k.value == pytest.approx(reference["ICC2k"][0], abs=1e-9)
    assert result.icc_2_1_ci95.as_list() == pytest.approx(reference["ICC2"][1], abs=1e-9)
    assert result.icc_2_k_ci95.as_list() == pytest.approx(reference["ICC2k"][1], abs=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_icc_matches_pingouin_on_random_blocks(seed):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 5, 40)
    block = np.clip(truth[:, None] + rng.integers(-1, 2, (40, 3)), 0, 4).astype(float)
    result, reference = ordinal.icc(block), _pingouin_icc(block)
    assert result.icc_2_1.value == pytest.approx(reference["ICC2"][0], abs=1e-9)
    assert result.icc_2_k.value == pytest.approx(reference["ICC2k"][0], abs=1e-9)
    assert result.icc_2_1_ci95.as_list() == pytest.approx(reference["ICC2"][1], abs=1e-9)
    assert result.icc_2_k_ci95.as_list() == pytest.approx(reference["ICC2k"][1], abs=1e-9)


def test_icc_block_is_the_reviewers_who_rated_most_tasks_together():
    ratings = np.full((6, 5), NAN)
    ratings[0:3, [0, 1, 2]] = 1  # reviewers 0-2 on 3 tasks
    ratings[3:5, [1, 3, 4]] = 2  # reviewers 1, 3, 4 on 2 tasks
    ratings[5, [0, 1, 2, 3]] = 3  # 4 ratings: counts for the {0, 1, 2} block too
    tasks, reviewers = ordinal.icc_block(ratings)
    assert reviewers.tolist() == [0, 1, 2] and tasks.tolist() == [0, 1, 2, 5]
    # A tie between two sets goes to the one with the lowest reviewer columns.
    tie = np.full((4, 4), NAN)
    tie[0:2, [2, 3]] = [[1, 2], [0, 4]]
    tie[2:4, [0, 1]] = [[1, 2], [0, 4]]
    assert ordinal.icc_block(tie)[1].tolist() == [0, 1]


def test_icc_edge_cases_are_null_with_a_reason():
    one_task = ordinal.icc(np.array([[1.0, 2.0, 3.0]]))
    assert one_task.icc_2_1 == Estimate(None, "fewer than 2 tasks rated by the same 3 reviewers (1)")
    one_reviewer = ordinal.icc(np.array([[1.0], [2.0], [3.0]]))
    assert one_reviewer.icc_2_1 == Estimate(None, "no 2 reviewers rated the same tasks") and one_reviewer.k is None
    same = ordinal.icc(np.full((5, 4), 2.0))
    assert same.icc_2_1 == Estimate(None, "every rating is the same") and same.icc_2_k_ci95.low is None
    one_rating_each = np.full((4, 3), NAN)
    one_rating_each[np.arange(4), [0, 1, 2, 0]] = [1, 2, 3, 4]
    assert ordinal.icc(one_rating_each).icc_2_1.value is None
    # Reviewers who differ by a constant on tasks that do not: no variation between tasks.
    constant = ordinal.icc(np.array([[0.0, 1.0], [0.0, 1.0], [0.0, 1.0]]))
    assert constant.icc_2_1 == Estimate(None, "every task has the same ratings: no variation between tasks")
    # Mean squares that leave a zero denominator: null, no division warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        crossed = ordinal.icc(np.array([[0.0, 4.0], [4.0, 0.0]]))
    assert crossed.icc_2_1.value is None and crossed.icc_2_k_ci95.low is None
    # Perfect agreement: ICC 1, and the F-based interval is undefined (no residual variance).
    perfect = ordinal.icc(np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]))
    assert perfect.icc_2_1.value == 1.0 and perfect.icc_2_1_ci95.reason.startswith("no residual variance")


# --- Gwet's AC1, AC2 and Fleiss' kappa with a varying number of ratings --------------------------


def test_gwet_and_fleiss_reproduce_gwet_2014_raw4raters():
    counts = kappa.count_table(RAW_4_RATERS, 5)
    ac1, ac2, fleiss = ordinal.gwet_ac1(counts), ordinal.gwet_ac2_ordinal(counts), ordinal.fleiss_kappa_all_tasks(counts)
    # Published to 3 decimals (Gwet 2014, ch. 2 and 5; irrCAC's documentation and tests).
    assert (round(ac1.value.value, 3), round(ac1.se, 3), round(ac1.ci95.low, 3), ac1.ci95.high) == (0.775, 0.143, 0.461, 1.0)
    assert (round(ac2.value.value, 3), round(ac2.se, 3), round(ac2.ci95.low, 3), ac2.ci95.high) == (0.899, 0.107, 0.664, 1.0)
    assert (round(fleiss.value.value, 3), round(fleiss.ci95.low, 3), fleiss.ci95.high) == (0.761, 0.424, 1.0)
    # Full precision, irrCAC 0.4.4.
    assert ac1.value.value == pytest.approx(0.775444068126995, abs=1e-12)
    assert ac1.se == pytest.approx(0.1429499506407653, abs=1e-12)
    assert ac1.ci95.low == pytest.approx(0.4608133481308383, abs=1e-12)
    assert ac2.value.value == pytest.approx(0.8989397699075113, abs=1e-12)
    assert ac2.se == pytest.approx(0.10690352381543548, abs=1e-12)
    assert ac2.ci95.low == pytest.approx(0.6636467004282347, abs=1e-12)
    assert fleiss.value.value == pytest.approx(0.7611692754224112, abs=1e-12)
    assert fleiss.se == pytest.approx(0.15301920346949238, abs=1e-12)
    assert fleiss.ci95.low == pytest.approx(0.42437627937701544, abs=1e-12)
    weighted_fleiss = ordinal.chance_corrected(counts, "fleiss", ordinal.ordinal_weights(5))
    assert weighted_fleiss.value.value == pytest.approx(0.8502061893970346, abs=1e-12)  # irrCAC 0.4.4; 0.850 published
    assert n_of(ac1) == 11


def n_of(coefficient):
    return coefficient.n


def test_ordinal_weights_are_gwets():
    # Gwet (2014), ordinal weights for 5 categories: 1 - C(|k - l| + 1, 2) / C(5, 2).
    assert ordinal.ordinal_weights(5)[0].tolist() == pytest.approx([1.0, 0.9, 0.7, 0.4, 0.0])


@pytest.mark.parametrize("seed", range(5))
def test_generalised_fleiss_kappa_reduces_to_statsmodels_with_equal_ratings(seed):
    rng = np.random.default_rng(seed)
    n_raters = int(rng.integers(2, 7))
    truth = rng.integers(0, 5, 50)
    ratings = np.clip(truth[:, None] + rng.integers(-1, 2, (50, n_raters)), 0, 4)
    counts = kappa.count_table(ratings, 5)
    assert ordinal.fleiss_kappa_all_tasks(counts).value.value == pytest.approx(statsmodels_fleiss_kappa(counts), abs=1e-12)


def test_chance_corrected_edge_cases_are_null_with_a_reason():
    one_task = kappa.count_table([[1, 2, 3]], 5)
    for coefficient in (ordinal.gwet_ac1(one_task), ordinal.gwet_ac2_ordinal(one_task), ordinal.fleiss_kappa_all_tasks(one_task)):
        assert coefficient.value == Estimate(None, "fewer than 2 tasks with 2 or more ratings (1)")
        assert coefficient.ci95.low is None and coefficient.se is None
    one_reviewer = kappa.count_table([[1], [2], [3]], 5)
    assert ordinal.gwet_ac2_ordinal(one_reviewer).value == Estimate(None, "fewer than 2 tasks with 2 or more ratings (0)")
    same = kappa.count_table(np.full((6, 4), 2), 5)
    for coefficient in (ordinal.gwet_ac1(same), ordinal.gwet_ac2_ordinal(same), ordinal.fleiss_kappa_all_tasks(same)):
        assert coefficient.value == Estimate(None, "every rating is the same (category 2)")
    # A task with one rating counts in the category shares only; with it, 2 pairable tasks remain.
    mixed = kappa.count_table([[0, 0], [1, 1], [4, NAN]], 5)
    assert ordinal.gwet_ac1(mixed).n == 2 and ordinal.gwet_ac1(mixed).value.value is not None


# --- on real exports ----------------------------------------------------------------------------

# irrCAC 0.4.4 on the tasks with 2 or more valid ratings: (coefficient, se, [low, high]).
IRRCAC = {
    "label_studio_1.23.2_export.json": {
        "gwet_ac1": (0.03824544777634871, 0.11232721056089769, [-0.22736619842971906, 0.30385709398241645]),
        "gwet_ac2_ordinal": (0.2918092630618298, 0.25386422261536523, [-0.30848423434621214, 0.8921027604698717]),
        "fleiss_kappa_all_tasks": (0.029242962558076006, 0.10704950393898953, [-0.22388889057703587, 0.2823748156931879]),
        "binary_fleiss_kappa_all_tasks": (0.2853598014888334, 0.2746964711742368, [-0.3641941360767251, 0.9349137390543918]),
    },
    "label_studio_1.23.2_export_96.json": {
        "gwet_ac1": (0.2852281860166504, 0.03824791171122626, [0.20929648090994882, 0.361159891123352]),
        "gwet_ac2_ordinal": (0.5834942641046799, 0.046407775876208146, [0.4913631804759794, 0.6756253477333803]),
        "fleiss_kappa_all_tasks": (0.2671488123494898, 0.03564819465426867, [0.19637819813894358, 0.337919426560036]),
        "binary_fleiss_kappa_all_tasks": (0.529513513513514, 0.06600324044274763, [0.3984805141899346, 0.6605465128370933]),
    },
}


def _real(name: str):
    source = open_source(FIXTURES / name)
    manifest = read_manifest(FIXTURES / name.replace(".json", "_manifest.jsonl"))
    return source, manifest


@pytest.mark.parametrize("name", list(IRRCAC))
def test_headline_measures_on_real_exports_match_irrcac_pingouin_and_krippendorff(name):
    import krippendorff

    source, manifest = _real(name)
    summary = summarise(source.table, manifest, source.tasks, n_resamples=200)
    success = summary.success
    out = summary.as_json()["success"]
    for key, (value, se, interval) in IRRCAC[name].items():
        assert out[key] == pytest.approx(value, abs=1e-12), key
        assert out[f"{key}_se"] == pytest.approx(se, abs=1e-12), key
        assert out[f"{key}_ci95"] == pytest.approx(interval, abs=1e-12), key
    ratings = reviews(source.table, manifest, source.tasks).arrays.ratings
    # ICC: pingouin with its own listwise deletion over the block's reviewers (every reviewer here).
    assert len(summary.reviewers) == len(out["icc_reviewers"])
    columns = [list(map(int, (r.reviewer_id for r in summary.reviewers))).index(r) for r in out["icc_reviewers"]]
    block = ratings[:, columns]
    block = block[~np.isnan(block).any(axis=1)]
    assert out["icc_tasks"] == len(block)
    reference = _pingouin_icc(block)
    assert out["icc_2_1"] == pytest.approx(reference["ICC2"][0], abs=1e-9)
    assert out["icc_2_k"] == pytest.approx(reference["ICC2k"][0], abs=1e-9)
    assert out["icc_2_1_ci95"] == pytest.approx(reference["ICC2"][1], abs=1e-9)
    assert out["icc_2_k_ci95"] == pytest.approx(reference["ICC2k"][1], abs=1e-9)
    expected_alpha = krippendorff.alpha(reliability_data=ratings.T, level_of_measurement="ordinal", value_domain=[0, 1, 2, 3, 4])
    assert success.krippendorff_alpha_ordinal.value == pytest.approx(expected_alpha, abs=1e-9)
    assert out["tasks_with_two_or_more_ratings"] == int(((~np.isnan(ratings)).sum(axis=1) >= 2).sum())
    json.dumps(summary.as_json(), allow_nan=False)


@pytest.mark.parametrize("name", list(IRRCAC))
def test_per_model_measures_on_real_exports_match_their_reference(name):
    source, manifest = _real(name)
    summary = summarise(source.table, manifest, source.tasks, n_resamples=200)
    arrays = reviews(source.table, manifest, source.tasks).arrays
    counts = kappa.count_table(arrays.ratings, 5)
    for section in summary.per_model:
        rows = (arrays.model == section.model) & (counts.sum(axis=1) >= 2)
        assert section.tasks_with_two_or_more_ratings == int(rows.sum())
        chosen = counts[rows]
        if rows.sum() >= 2 and np.all(chosen.sum(axis=1) == chosen.sum(axis=1)[0]):
            # Equal ratings per task: the generalised kappa is statsmodels' Fleiss' kappa.
            assert section.fleiss_kappa_all_tasks.value.value == pytest.approx(statsmodels_fleiss_kappa(chosen), abs=1e-12)
        assert section.gwet_ac2_ordinal == ordinal.gwet_ac2_ordinal(chosen)


# --- per-model kappa differences ------------------------------------------------------------------


def test_model_kappa_differences_are_the_bootstrap_difference_resample_by_resample():
    tasks, manifest = random_project(60, seed=3)
    summary = summarise(annotation_table(tasks), manifest, n_resamples=300, seed=5)
    (difference,) = summary.model_kappa_differences
    first, second = summary.per_model
    assert difference.models == (first.model, second.model)
    assert difference.fleiss_kappa_all_tasks.value == pytest.approx(
        first.fleiss_kappa_all_tasks.value.value - second.fleiss_kappa_all_tasks.value.value, abs=1e-15
    )
    # The same resamples, task by task: expand each resample's distinct rows and recompute.
    arrays = reviews(annotation_table(tasks), manifest).arrays
    counts = kappa.count_table(arrays.ratings, 5)
    pairable = counts.sum(axis=1) >= 2
    model_code = pd.factorize(arrays.model[pairable], sort=True)[0]
    draws = kappa.resample_tasks(counts[pairable], 300, 5, model_code)
    differences = []
    for weights in draws.weights:
        per_model = []
        for code in range(2):
            rows = np.repeat(draws.rows, weights.astype(int), axis=0)[np.repeat(draws.stratum, weights.astype(int)) == code]
            per_model.append(ordinal.fleiss_kappa_all_tasks(rows).value.value)
        differences.append(per_model[0] - per_model[1])
    expected = np.quantile(differences, [0.025, 0.975])
    assert difference.fleiss_kappa_all_tasks_ci95.as_list() == pytest.approx(list(expected), abs=1e-12)
    assert summary.as_json()["model_kappa_differences"][f"{first.model} - {second.model}"]["fleiss_kappa_all_tasks_ci95"] == pytest.approx(list(expected), abs=1e-12)


def test_resampled_generalised_kappa_equals_the_point_estimate_of_each_resample():
    rng = np.random.default_rng(1)
    ratings = np.clip(rng.integers(0, 5, 80)[:, None] + rng.integers(-1, 2, (80, 4)), 0, 4).astype(float)
    ratings[rng.random((80, 4)) < 0.2] = NAN
    counts = kappa.count_table(ratings, 5)
    counts = counts[counts.sum(axis=1) >= 2]
    draws = kappa.resample_tasks(counts, 20, 0)
    resampled = ordinal.fleiss_kappa_all_tasks_resampled(draws.rows, draws.weights)
    for b in range(20):
        expanded = np.repeat(draws.rows, draws.weights[b].astype(int), axis=0)
        assert resampled[b] == pytest.approx(ordinal.fleiss_kappa_all_tasks(expanded).value.value, abs=1e-12)


def test_a_model_with_too_few_tasks_gives_a_difference_without_interval():
    tasks = [task(i, i, *[annotation(10 * i + r, r + 1, (i + r) % 5) for r in range(3)]) for i in range(1, 12)]
    models = {i: ("rlhf" if i > 1 else "plain lm") for i in range(1, 12)}
    manifest = [
        {"attack_id": i, "rating": 1.0, "model_type": models[i], "num_params": "52B", "min_harmlessness_score_transcript": 0.0}
        for i in range(1, 12)
    ]
    summary = summarise(annotation_table(tasks), manifest, n_resamples=100)
    (difference,) = summary.model_kappa_differences
    assert difference.fleiss_kappa_all_tasks.value is None
    assert difference.fleiss_kappa_all_tasks.reason == "plain lm 52B: fewer than 2 tasks with 2 or more ratings (1)"
    assert difference.fleiss_kappa_all_tasks_ci95.low is None


# --- the report without --reviewers-per-task ----------------------------------------------------


def test_three_ratings_per_task_give_a_full_headline_without_reviewers_per_task():
    """The demo's review in progress: 3 ratings a task, one task with a 4th; the default setting
    (4 per task) leaves the paper's figure with few tasks, but the headline uses them all."""
    rng = np.random.default_rng(0)
    tasks = []
    for i in range(1, 25):
        truth = int(rng.integers(0, 5))
        count = 4 if i == 1 else 3
        tasks.append(task(i, i, *[annotation(10 * i + r, r + 1, int(np.clip(truth + rng.integers(-1, 2), 0, 4))) for r in range(count)]))
    summary = summarise(annotation_table(tasks), n_resamples=200)
    success = summary.success
    assert success.fleiss_kappa.value is None  # the paper's equal-n figure: 1 task with 4 ratings
    assert success.tasks_with_two_or_more_ratings == 24
    for coefficient in (success.gwet_ac2_ordinal, success.gwet_ac1, success.fleiss_kappa_all_tasks, success.binary_fleiss_kappa_all_tasks):
        assert coefficient.value.value is not None and coefficient.ci95.low is not None and coefficient.n == 24
    assert success.icc.icc_2_1.value is not None and (success.icc.n, success.icc.k) == (24, 3)
    assert success.krippendorff_alpha_ordinal.value is not None


def test_doctests_run():
    import doctest

    results = doctest.testmod(ordinal)
    assert results.attempted >= 1 and results.failed == 0


@pytest.mark.parametrize("seed", range(4))
def test_spearman_equals_scipy_with_ties_and_perfect_order(seed):
    # ordinal.spearman computes what scipy.stats.spearmanr computes (without importing scipy.stats).
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 5, 60).astype(float)  # ratings: many ties
    for y in (x + rng.normal(size=60), rng.integers(0, 3, 60).astype(float), 2 * x + 1, -x):
        rho, p_value = ordinal.spearman(x, y)
        expected = stats.spearmanr(x, y)
        assert rho.value == pytest.approx(expected.statistic, abs=1e-12)
        assert p_value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)
        assert ordinal.average_ranks(y) == pytest.approx(stats.rankdata(y))


def test_the_t_and_f_quantiles_are_scipy_stats():
    assert ordinal.special.stdtrit(41, 0.975) == pytest.approx(stats.t.ppf(0.975, 41), rel=1e-14)
    assert ordinal.special.fdtri(9, 33.5, 0.975) == pytest.approx(stats.f.ppf(0.975, 9, 33.5), rel=1e-14)
