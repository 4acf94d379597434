"""Reviewer diagnostics: kappa against statsmodels on the half-step table, offsets and skips by hand,
drift in time order, and the flag rule."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.inter_rater import cohens_kappa

from review_project.agreement import arrays
from review_project.export import annotation_table
from review_project.results import results_from_table
from review_project.results.reviewers import FLAG_RULE, flags, reviewer_results, shared_ratings
from tests.test_agreement_summary import annotation, task


def random_ratings(n_tasks=120, n_reviewers=6, seed=0, noisy=None):
    """4 of n_reviewers rate each task around a hidden truth; `noisy` rates at random; some ratings missing."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 5, n_tasks)
    ratings = np.full((n_tasks, n_reviewers), np.nan)
    for i in range(n_tasks):
        for r in rng.choice(n_reviewers, 4, replace=False):
            value = rng.integers(0, 5) if r == noisy else np.clip(truth[i] + rng.choice([-1, 0, 0, 0, 1]), 0, 4)
            if rng.random() > 0.08:
                ratings[i, r] = value
    return ratings


def project_tables(ratings, skipped=()):
    """The ratings as a Label Studio export's annotation table; reviewer ids 1.., tasks in time order."""
    tasks, next_id = [], 1
    for i, row in enumerate(ratings):
        annotations = []
        for r, value in enumerate(row):
            if not np.isnan(value):
                annotations.append(annotation(next_id, r + 1, int(value), created=f"2024-05-01T10:{i // 60:02d}:{i % 60:02d}Z"))
                next_id += 1
            elif (i, r) in skipped:
                annotations.append(annotation(next_id, r + 1, None, skipped=True))
                next_id += 1
        tasks.append(task(i + 1, 100 + i, *annotations))
    return annotation_table(tasks)


def by_hand(ratings, reviewer):
    """(own ratings, the others' medians, the others' means) over the reviewer's shared tasks, in plain Python."""
    own, medians, means = [], [], []
    for row in ratings:
        if np.isnan(row[reviewer]):
            continue
        others = [v for r, v in enumerate(row) if r != reviewer and not np.isnan(v)]
        if others:
            own.append(row[reviewer])
            medians.append(float(np.median(others)))
            means.append(sum(others) / len(others))
    return np.array(own), np.array(medians), np.array(means)


def test_kappa_against_the_others_median_equals_statsmodels_quadratic_kappa_on_the_half_step_table():
    ratings = random_ratings()
    skips = {(int(i), 5) for i in np.flatnonzero(np.isnan(ratings[:, 5]))[:2]}  # the sixth reviewer skips two tasks
    table = project_tables(ratings, skipped=skips)
    results = results_from_table(table, n_resamples=300).reviewers
    for index, reviewer in enumerate(results.reviewers):
        own, medians, means = by_hand(ratings, index)
        grid = np.zeros((9, 9))
        np.add.at(grid, ((own * 2).astype(int), (medians * 2).astype(int)), 1)
        assert reviewer.reviewer_id == index + 1
        assert reviewer.shared_tasks == len(own)
        assert reviewer.quadratic_kappa.value == pytest.approx(cohens_kappa(grid, wt="quadratic").kappa, abs=1e-12)
        assert reviewer.mean_offset.value == pytest.approx(np.mean(own - means), abs=1e-12)
        assert reviewer.quadratic_kappa_ci95.low < reviewer.quadratic_kappa.value < reviewer.quadratic_kappa_ci95.high
        assert reviewer.mean_offset_ci95.low < reviewer.mean_offset.value < reviewer.mean_offset_ci95.high
        assert reviewer.ratings == int((~np.isnan(ratings[:, index])).sum())
    sixth = results.reviewers[5]
    assert (sixth.skipped, sixth.annotations) == (2, sixth.ratings + 2)
    assert sixth.skip_rate == pytest.approx(2 / (sixth.ratings + 2))
    assert results.reviewers[0].skip_rate == 0.0


def test_shared_ratings_of_a_task_worked_by_hand():
    pairs = shared_ratings([[1, 4, np.nan, 3], [2, np.nan, np.nan, np.nan], [0, 2, np.nan, np.nan]])
    # Task 0: 1 against {4, 3} (median 3.5), 4 against {1, 3} (2), 3 against {1, 4} (2.5); task 1 has one rating.
    assert pairs.task.tolist() == [0, 0, 0, 2, 2]
    assert pairs.reviewer.tolist() == [0, 1, 3, 0, 1]
    assert pairs.others_median.tolist() == [3.5, 2.0, 2.5, 2.0, 0.0]
    assert pairs.offset.tolist() == [1 - 3.5, 4 - 2.0, 3 - 2.5, 0 - 2.0, 2 - 0.0]


def test_drift_follows_the_order_of_the_ratings_not_of_the_tasks():
    """Reviewer 1 agrees exactly on tasks 1-3 and reverses the others on tasks 4-6, but rated 4-6 first."""
    values = [0, 2, 4, 1, 2, 3]
    mine = [0, 2, 4, 3, 2, 1]
    when = ["2024-05-02T10:00:00Z"] * 3 + ["2024-05-01T10:00:00Z"] * 3
    tasks, next_id = [], 1
    for i, (value, own, at) in enumerate(zip(values, mine, when)):
        others = [annotation(next_id + r, r + 2, value) for r in range(3)]
        tasks.append(task(i + 1, 10 * (i + 1), annotation(next_id + 3, 1, own, created=at), *others))
        next_id += 4
    table = annotation_table(tasks)
    results = results_from_table(table, n_resamples=200, block_size=3)
    first = next(r for r in results.reviewers.reviewers if r.reviewer_id == 1)
    assert [(b.block, b.tasks) for b in first.drift] == [(1, 3), (2, 3)]
    assert first.drift[0].quadratic_kappa.value == pytest.approx(-1.0)  # tasks 4-6, rated first
    assert first.drift[1].quadratic_kappa.value == pytest.approx(1.0)
    assert first.drift[0].first == "2024-05-01T10:00:00Z" and first.drift[1].last == "2024-05-02T10:00:00Z"
    assert results.as_json()["reviewers"]["1"]["drift"][0] == {
        "block": 1, "tasks": 3, "first": "2024-05-01T10:00:00Z", "last": "2024-05-01T10:00:00Z",
        "quadratic_kappa": pytest.approx(-1.0), "quadratic_kappa_reason": None,
    }


def test_a_reviewer_who_rates_at_random_is_flagged_and_the_rest_are_not():
    ratings = random_ratings(n_tasks=400, n_reviewers=8, seed=5, noisy=2)
    reviewed = arrays.reviews(project_tables(ratings))
    results = reviewer_results(reviewed.arrays, reviewed.latest, block_size=50, n_resamples=300)
    assert [r.reviewer_id for r in results.reviewers if r.flagged] == [3]
    flagged = results.reviewers[2]
    assert flagged.modified_z.value < -3.5
    assert flagged.flag_reason.startswith(f"quadratic kappa {flagged.quadratic_kappa.value:.2f} against a median of ")
    assert results.rule == FLAG_RULE
    assert all(len(r.drift) >= 3 for r in results.reviewers)


def test_the_flag_rule_worked_by_hand():
    # Median 0.67, absolute deviations 0.03 0.01 0.01 0.27: MAD 0.02; z of 0.40 = 0.6745 * -0.27 / 0.02 = -9.1.
    z, flagged, reasons = flags([0.70, 0.68, 0.66, 0.40], [100] * 4)
    assert flagged.tolist() == [False, False, False, True]
    assert z[3].value == pytest.approx(0.6745 * -0.27 / 0.02)
    assert reasons[3] == "quadratic kappa 0.40 against a median of 0.67: modified z -9.1 (below -3.5)"
    # Evenly spread: nobody is far below the rest.
    assert not flags([0.7, 0.6, 0.5, 0.4], [100] * 4)[1].any()
    # Too few shared tasks, or too few reviewers, to judge.
    z, flagged, _ = flags([0.9, 0.9, 0.1], [100, 100, 5])
    assert not flagged.any() and z[0].reason == "fewer than 3 reviewers with a kappa on 20 or more shared tasks"
    # A MAD of 0 falls back on the mean absolute deviation, and a gap under 0.10 is never flagged.
    z, flagged, _ = flags([0.8, 0.8, 0.8, 0.75], [100] * 4)
    assert not flagged[3] and z[3].value == pytest.approx(-0.05 / (1.2533 * 0.0125))
