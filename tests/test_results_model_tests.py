"""Results by model, the tests that hold up: separation, tiny groups, Wilson intervals, the omnibus and
Holm-adjusted tests, the permutation test, the per-cut check of proportional odds and power, each
against an independent computation (statsmodels, scipy), on generated data and on the real exports."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from statsmodels.discrete.discrete_model import Logit
from statsmodels.miscmodels.ordinal_model import OrderedModel
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestIndPower

from review_project.agreement.sources import open_source
from review_project.manifest import read_manifest
from review_project.results import results_report
from review_project.results.models import model_results
from review_project.schema import TOPICS
from tests.fixtures import FIXTURES

EXPORT_96 = FIXTURES / "label_studio_1.23.2_export_96.json"
MANIFEST_96 = FIXTURES / "label_studio_1.23.2_export_96_manifest.jsonl"
EXPORT_12 = FIXTURES / "label_studio_1.23.2_export.json"
MANIFEST_12 = FIXTURES / "label_studio_1.23.2_export_manifest.jsonl"
NO_TOPICS = np.zeros((0, len(TOPICS)), dtype=bool)


def results_of(ratings_by_model: dict[str, list[list[int]]], n_resamples=400, seed=0, consensus=None, **options):
    """model_results of attacks given as lists of valid ratings per model."""
    rows, model = [], []
    for name, attacks in ratings_by_model.items():
        for ratings in attacks:
            rows.append(np.bincount(ratings, minlength=5))
            model.append(name)
    counts = np.array(rows)
    consensus = np.zeros((len(counts), len(TOPICS)), bool) if consensus is None else consensus
    return model_results(counts, consensus, np.array(model, dtype=object), np.zeros(len(counts), bool), 3, n_resamples, seed, **options)


def real(export=EXPORT_96, manifest=MANIFEST_96, **options):
    return results_report(open_source(str(export)), read_manifest(manifest), n_resamples=2000, **options)


@pytest.fixture(scope="module")
def real_96():
    """real() of the 96-attack export, computed once for the tests that only read it."""
    return real()


def attack_ratings(results) -> dict[str, list[list[int]]]:
    """Each model's rated attacks' valid ratings, from the attack table."""
    table = results.table
    found: dict[str, list[list[int]]] = {}
    for model, ratings in zip(table["model"], table["ratings"]):
        if ratings:
            found.setdefault(model, []).append(list(ratings))
    return found


def direct_fit(attacks: dict[str, list[list[int]]], models: list[str]):
    """statsmodels on every rating: OrderedModel with model dummies, clustered by attack."""
    value, group, attack = [], [], []
    for a, (name, ratings) in enumerate((n, r) for n in models for r in attacks[n]):
        value += ratings
        group += [models.index(name)] * len(ratings)
        attack += [a] * len(ratings)
    group = np.array(group)
    exog = np.column_stack([group == m for m in range(1, len(models))]).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return OrderedModel(np.array(value, float), exog, distr="logit").fit(
            method="bfgs", maxiter=5000, gtol=1e-8, disp=False, cov_type="cluster", cov_kwds={"groups": np.array(attack)}
        )


# --- 1. separation ------------------------------------------------------------------------------


SEPARATED = {"a 52B": [[4, 4, 4, 4]] * 6, "b 52B": [[0, 1, 2, 3], [1, 2, 3, 3], [0, 0, 1, 2], [3, 3, 2, 1], [2, 2, 2, 2], [1, 0, 3, 2]]}


def test_complete_separation_is_not_estimable_and_the_permutation_test_still_answers():
    # Today: +63.7, CI [-16006, 16133], p = 0.994 for this kind of data.
    [pair] = results_of(SEPARATED, n_resamples=2000).differences
    assert pair.test.log_odds_ratio.value is None and pair.test.p_value is None and pair.test.ci95.low is None
    assert pair.test.log_odds_ratio.reason.startswith("not estimable by the ordinal model: complete separation")
    assert "a 52B" in pair.test.log_odds_ratio.reason and "b 52B" in pair.test.log_odds_ratio.reason
    # Every split of 12 attacks into 6 and 6 (924 <= 2000 resamples) is enumerated: the exact p.
    assert pair.permutation.exact and pair.permutation.permutations == 924
    assert pair.permutation.p_value == pytest.approx(2 / 924, abs=1e-12)  # only the observed split and its mirror are as extreme
    assert pair.detected.value is True  # the permutation test carries the verdict when the model has none


def test_the_issues_example_all_4s_against_0_to_3_gives_no_runaway_estimate():
    rng = np.random.default_rng(0)
    attacks = {"a 52B": [[4, 4, 4, 4]] * 5, "b 52B": [list(rng.integers(0, 4, 4)) for _ in range(5)]}
    # Today: log odds ratio +56.6, 95% interval [-2491, 2604], p 0.965, and a ConvergenceWarning on stderr.
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no library warning escapes model_results
        [pair] = results_of(attacks).differences
    assert pair.test.log_odds_ratio.value is None and pair.test.ci95.as_list() is None and pair.test.p_value is None
    assert pair.test.log_odds_ratio.reason == (
        "not estimable by the ordinal model: complete separation: every rating of b 52B is at most 3 and every rating of a 52B at least 4"
    )
    assert pair.permutation.p_value is not None and pair.permutation.exact  # C(10, 5) = 252 splits


def test_quasi_complete_separation_is_not_estimable():
    attacks = {"a 52B": [[3, 4, 4, 4], [4, 4, 3, 3], [4, 4, 4, 4], [3, 3, 3, 4], [4, 3, 4, 4]],
               "b 52B": [[0, 1, 2, 3], [1, 2, 3, 3], [0, 0, 1, 2], [3, 3, 2, 1], [2, 2, 2, 3]]}
    results = results_of(attacks)
    [pair] = results.differences
    assert pair.test.log_odds_ratio.reason.startswith("not estimable by the ordinal model: quasi-complete separation")
    assert "overlap only at 3" in pair.test.log_odds_ratio.reason
    assert pair.permutation.p_value is not None and results.omnibus.p_value is None
    assert results.omnibus.reason.startswith("not estimable by the ordinal model")


@pytest.mark.parametrize("ranges, separated", [
    ({"a": (0, 1), "b": (3, 4)}, "complete"),                      # apart
    ({"a": (0, 3), "b": (3, 4)}, "quasi-complete"),                # overlap at one rating
    ({"a": (0, 2), "b": (1, 4)}, None),                            # overlap at two
    ({"a": (0, 1), "b": (1, 2), "c": (2, 3)}, "quasi-complete"),   # a chain of one-rating overlaps
    ({"a": (0, 1), "b": (3, 4), "c": (0, 4)}, None),               # c bridges a and b: the all-model fit is finite
    ({"a": (0, 0), "b": (0, 4)}, "quasi-complete"),                # a model all at the lowest rating
    ({"a": (2, 2), "b": (0, 4)}, None),                            # all at a middle rating is fine
])
def test_the_separation_rule_agrees_with_where_statsmodels_runs_off(ranges, separated):
    from review_project.results.ordinal import separation

    names = list(ranges)
    found = separation([r[0] for r in ranges.values()], [r[1] for r in ranges.values()], names)
    assert (found.split(":")[0].replace(" separation", "") if found else None) == separated
    # The reference: a direct OrderedModel fit on such data runs off (a huge coefficient) exactly when separated.
    attacks = {n: [list(range(lo, hi + 1)) * 2, [lo, hi, lo, hi]] * 3 for n, (lo, hi) in ranges.items()}
    direct = direct_fit(attacks, names)
    assert (np.abs(direct.params[: len(names) - 1]).max() > 15) == bool(separated)


def test_when_only_the_all_model_fit_is_separated_a_pair_is_fitted_alone():
    base = [[0, 1, 2, 3], [1, 2, 3, 4], [0, 2, 4, 2], [3, 1, 0, 2], [4, 3, 2, 1]]
    attacks = {"a 52B": base, "b 52B": [[max(0, v - 1) for v in r] for r in base], "c 52B": [[4, 4, 4, 4]] * 5}
    tests = {d.name: d.test for d in results_of(attacks).differences}
    alone = tests["a 52B - b 52B"]
    assert alone.fitted_on.startswith("these two models alone") and alone.p_value is not None
    direct = direct_fit(attacks, ["a 52B", "b 52B"])
    assert alone.log_odds_ratio.value == pytest.approx(-direct.params[0], abs=1e-5)
    assert alone.z == pytest.approx(-direct.tvalues[0], rel=1e-4) and alone.log_odds_ratio.value > 0
    assert tests["a 52B - c 52B"].log_odds_ratio.reason.startswith("not estimable by the ordinal model: quasi-complete")


def write_separated_manifest(tmp_path: Path, results) -> Path:
    """The 96-attack manifest with the models renamed: attacks rated all >= 3 are "high 52B", all
    <= 2 "low 52B" (complete separation), the rest keep theirs. results : real() of that export."""
    table = results.table
    high = {int(a) for a, r in zip(table["attack_id"], table["ratings"]) if r and min(r) >= 3}
    low = {int(a) for a, r in zip(table["attack_id"], table["ratings"]) if r and max(r) <= 2}
    assert len(high) >= 5 and len(low) >= 5
    lines = []
    for line in MANIFEST_96.read_text().splitlines():
        record = json.loads(line)
        if record["attack_id"] in high | low:
            record["model_type"] = "high" if record["attack_id"] in high else "low"
        lines.append(json.dumps(record))
    path = tmp_path / "manifest.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_cli_prints_no_warning_and_the_json_says_why(tmp_path, real_96):
    manifest = write_separated_manifest(tmp_path, real_96)
    command = Path(sys.executable).parent / "review-project"
    done = subprocess.run(
        [str(command), "results", str(EXPORT_96), "--manifest", str(manifest), "--json", str(tmp_path / "r.json"), "--resamples", "500"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr and "warning" not in done.stderr.lower(), done.stderr
    found = json.loads((tmp_path / "r.json").read_text())
    pair = found["model_differences"]["high 52B - low 52B"]
    assert pair["test"]["log_odds_ratio"] is None
    assert pair["test"]["log_odds_ratio_reason"].startswith("not estimable by the ordinal model: complete separation")
    assert pair["permutation_test"]["p_value"] is not None and pair["permutation_test"]["p_value"] < 0.01
    # The other models' ratings bridge the two: the fit of every model has a maximum, and its omnibus test stands.
    assert found["model_tests"]["omnibus"]["p_value"] is not None


# --- 2. tiny groups -----------------------------------------------------------------------------


def test_a_model_below_min_attacks_gets_no_interval_and_its_pairs_no_test():
    attacks = {"a 52B": [[3, 3, 3, 3]], "b 52B": [[0, 1, 2, 3], [1, 2, 3, 3], [0, 0, 1, 2], [3, 3, 2, 1], [2, 2, 2, 2], [1, 4, 3, 2]]}
    results = results_of(attacks)
    a, b = results.per_model
    # Today: a "95% interval" of 3.00 to 3.00 from one attack.
    assert a.mean_rating.value == 3.0 and a.attacks == 1
    assert a.mean_rating_ci95.low is None and a.mean_rating_ci95.reason == "a 52B has fewer than 5 rated attacks (--min-attacks): no interval"
    assert a.share_of_ratings_successful_ci95.low is None and all(t.ci95.low is None for t in a.topics)
    assert b.mean_rating_ci95.low is not None
    [pair] = results.differences
    assert pair.mean_rating.value == pytest.approx(3.0 - b.mean_rating.value)
    assert pair.mean_rating_ci95.low is None and pair.test.p_value is None and pair.permutation.p_value is None
    assert pair.test.log_odds_ratio.reason == "a 52B has fewer than 5 rated attacks (--min-attacks): no interval and no test"
    assert pair.power.minimum_detectable_difference.value is None and pair.detected.value is None
    assert results.fit.reason == "fewer than 2 models with a rated attack"  # the tiny model is left out of the fit
    assert results.omnibus.p_value is None and results.omnibus.reason == "fewer than 2 models with at least 5 rated attacks (--min-attacks)"
    # The option moves the line.
    lowered = results_of(attacks, min_attacks=1)
    assert lowered.per_model[0].mean_rating_ci95.low == 3.0  # one attack: the bootstrap can say nothing else


def test_the_small_real_export_is_tiny_by_default_and_answers_with_min_attacks_2():
    tiny = real(EXPORT_12, MANIFEST_12)
    assert [m.attacks for m in tiny.models.per_model] == [4, 4]
    assert all(m.mean_rating_ci95.low is None for m in tiny.models.per_model)
    assert tiny.models.differences[0].test.p_value is None
    answered = real(EXPORT_12, MANIFEST_12, min_attacks=2)
    assert answered.models.differences[0].test.p_value is not None


# --- 3. Wilson intervals ------------------------------------------------------------------------


def wilson(count: int, n: int) -> list[float]:
    """scipy's Wilson interval, an implementation apart from statsmodels'."""
    found = stats.binomtest(count, n).proportion_ci(confidence_level=0.95, method="wilson")
    return [found.low, found.high]


def forty_attacks():
    rng = np.random.default_rng(3)
    consensus = np.zeros((40, len(TOPICS)), dtype=bool)
    consensus[:, 0] = rng.random(40) < 0.3
    consensus[:, 2] = True
    return [list(rng.integers(0, 5, 4)) for _ in range(40)], consensus


def test_a_topic_share_of_0_of_40_gets_a_wilson_interval_not_0_to_0():
    ratings, consensus = forty_attacks()
    topics = {t.topic: t for t in results_of({"a 52B": ratings}, consensus=consensus).per_model[0].topics}
    # Today: [0, 0] for a topic no attack carries (and [1, 1] for one every attack carries).
    assert topics[TOPICS[1]].ci95.as_list() == pytest.approx(wilson(0, 40), abs=1e-12)
    assert topics[TOPICS[1]].ci95.low == 0.0 and topics[TOPICS[1]].ci95.high == pytest.approx(0.0876, abs=1e-4)
    assert topics[TOPICS[2]].ci95.as_list() == pytest.approx(wilson(40, 40), abs=1e-12) and topics[TOPICS[2]].ci95.high == 1.0
    carried = int(consensus[:, 0].sum())
    assert topics[TOPICS[0]].ci95.as_list() == pytest.approx(wilson(carried, 40), abs=1e-12)


def test_the_share_of_attacks_successful_gets_a_wilson_interval():
    ratings, consensus = forty_attacks()
    final = np.array([sorted(r)[1] for r in ratings], dtype=float)
    final[:7] = np.nan  # seven attacks without a final rating
    results = results_of({"a 52B": ratings}, consensus=consensus, final_rating=final)
    model = results.per_model[0]
    successful = int((final[7:] >= 3).sum())
    assert (model.attacks_with_final_rating, model.attacks_without_final_rating) == (33, 7)
    assert model.share_of_attacks_successful.value == pytest.approx(successful / 33)
    assert model.share_of_attacks_successful_ci95.as_list() == pytest.approx(wilson(successful, 33), abs=1e-12)


def newcombe(a: int, n1: int, b: int, n2: int) -> list[float]:
    """Newcombe's hybrid score interval (method 10 of Newcombe 1998) from scipy's Wilson bounds."""
    p1, p2 = a / n1, b / n2
    (l1, u1), (l2, u2) = wilson(a, n1), wilson(b, n2)
    d = p1 - p2
    return [d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)]


def test_the_real_export_per_model_shares_against_independent_computations(real_96):
    results = real_96
    attacks = attack_ratings(results)
    table = results.table
    by_model = {m.model: m for m in results.models.per_model}
    for name, m in by_model.items():
        mine = table[table["model"] == name]
        ratings = [v for r in attacks[name] for v in r]
        assert m.share_of_ratings_successful.value == pytest.approx(np.mean(np.array(ratings) >= 3), abs=1e-12)
        assert m.mean_rating.value == pytest.approx(np.mean([np.mean(r) for r in attacks[name]]), abs=1e-12)
        final = mine["final_rating"].dropna().astype(int)
        assert m.attacks_with_final_rating == len(final)
        assert m.share_of_attacks_successful_ci95.as_list() == pytest.approx(wilson(int((final >= 3).sum()), len(final)), abs=1e-12)
        for t in m.topics:
            carried = sum(t.topic in topics for topics, r in zip(mine["consensus_topics"], mine["ratings"]) if r)
            assert t.attacks == carried and t.ci95.as_list() == pytest.approx(wilson(carried, m.attacks), abs=1e-12)
    for d in results.models.differences:
        a, b = by_model[d.first], by_model[d.second]
        count = lambda m: round(m.share_of_attacks_successful.value * m.attacks_with_final_rating)  # noqa: E731
        expected = newcombe(count(a), a.attacks_with_final_rating, count(b), b.attacks_with_final_rating)
        assert d.share_of_attacks_successful_ci95.as_list() == pytest.approx(expected, abs=1e-12)


def test_a_pooled_share_of_0_or_1_gets_the_wilson_interval_over_attacks():
    attacks = {"a 52B": [[0, 1, 2, 2]] * 6 + [[1, 1]] * 4, "b 52B": [[3, 4, 4, 4]] * 7}
    a, b = results_of(attacks).per_model
    assert a.share_of_ratings_successful.value == 0.0 and a.share_of_ratings_successful_ci95.as_list() == pytest.approx(wilson(0, 10), abs=1e-12)
    assert b.share_of_ratings_successful.value == 1.0 and b.share_of_ratings_successful_ci95.as_list() == pytest.approx(wilson(7, 7), abs=1e-12)


def test_the_pooled_share_of_ratings_interval_is_a_bootstrap_over_attacks():
    rng = np.random.default_rng(5)
    ratings = [list(rng.integers(0, 5, rng.integers(1, 5))) for _ in range(300)]
    results = results_of({"a 52B": ratings}, n_resamples=4000)
    loop = []
    for _ in range(4000):
        chosen = [ratings[i] for i in rng.integers(0, 300, 300)]
        flat = np.concatenate(chosen)
        loop.append(np.mean(flat >= 3))
    assert results.per_model[0].share_of_ratings_successful_ci95.as_list() == pytest.approx(np.quantile(loop, [0.025, 0.975]), abs=0.012)


# --- 4. many comparisons ------------------------------------------------------------------------


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment by hand."""
    order = np.argsort(p_values)
    m = len(p_values)
    adjusted = np.maximum.accumulate([min(1.0, (m - i) * p_values[j]) for i, j in enumerate(order)])
    out = np.empty(m)
    out[order] = adjusted
    return list(out)


def test_the_omnibus_test_and_holm_adjusted_p_values_on_the_real_export(real_96):
    results = real_96
    attacks = attack_ratings(results)
    models = sorted(attacks)
    direct = direct_fit(attacks, models)
    # Today there is no omnibus test.
    omnibus = results.models.omnibus
    wald = direct.wald_test(np.eye(len(direct.params))[: len(models) - 1], scalar=True, use_f=False)
    assert omnibus.df == len(models) - 1
    assert omnibus.chi2 == pytest.approx(float(wald.statistic), rel=1e-3)
    assert omnibus.p_value == pytest.approx(float(wald.pvalue), rel=1e-2)
    differences = results.models.differences
    raw = [d.test.p_value for d in differences]
    assert [d.test.p_value_holm for d in differences] == pytest.approx(holm(raw), abs=1e-12)
    permuted = [d.permutation.p_value for d in differences]
    assert [d.permutation.p_value_holm for d in differences] == pytest.approx(holm(permuted), abs=1e-12)
    # Topics x pairs: Fisher's exact test for each, Holm across all of them.
    tests = [(d, t) for d in differences for t in d.topics if t.p_value.value is not None]
    by_model = {m.model: m for m in results.models.per_model}
    for d, t in tests:
        n1, n2 = by_model[d.first].attacks, by_model[d.second].attacks
        a, b = t.attacks
        assert t.p_value.value == pytest.approx(stats.fisher_exact([[a, n1 - a], [b, n2 - b]]).pvalue, rel=1e-9)
    assert [t.p_value_holm for _, t in tests] == pytest.approx(holm([t.p_value.value for _, t in tests]), abs=1e-12)
    assert [t.p_value_holm for _, t in tests] == pytest.approx(multipletests([t.p_value.value for _, t in tests], method="holm")[1], abs=1e-12)
    skipped = [t for d in differences for t in d.topics if t.p_value.value is None]
    assert all(t.attacks == (0, 0) and t.p_value.reason == "no attack of either model carries this topic" for t in skipped)
    # The pairwise contrasts against the direct fit (the reference model is the first).
    contrast = results.models.fit.contrast(models[1], models[0])
    assert contrast.log_odds_ratio.value == pytest.approx(direct.params[0], abs=1e-5)
    assert contrast.p_value == pytest.approx(direct.pvalues[0], rel=1e-3)


def test_the_vectorised_fisher_test_is_scipys_on_small_and_large_tables():
    from review_project.results.pairs import fisher_exact, holm as ours

    rng = np.random.default_rng(2)
    for n1, n2 in ((5, 7), (32, 32), (400, 90), (17739, 3081)):
        first, second = rng.integers(0, n1 + 1, 30), rng.integers(0, n2 + 1, 30)
        first[:3], second[:3] = (0, n1 // 2, n1), (n2, n2 // 2, 0)
        found = fisher_exact(first, n1, second, n2)
        expected = [stats.fisher_exact([[a, n1 - a], [b, n2 - b]]).pvalue for a, b in zip(first, second)]
        np.testing.assert_allclose(found, expected, rtol=1e-9, atol=1e-300)
    p = rng.random(25) ** 3
    np.testing.assert_allclose(ours(p), multipletests(p, method="holm")[1], atol=1e-15)


def test_holm_on_generated_data_with_a_real_difference():
    rng = np.random.default_rng(0)
    attacks = {name: [list(np.clip(rng.integers(0, 5, 4) - shift, 0, 4)) for _ in range(80)]
               for name, shift in (("a 52B", 0), ("b 52B", 0), ("c 52B", 2))}
    results = results_of(attacks)
    tests = {d.name: d for d in results.differences}
    assert results.omnibus.p_value < 1e-6
    assert tests["a 52B - c 52B"].detected.value is True and tests["b 52B - c 52B"].detected.value is True
    assert tests["a 52B - b 52B"].test.p_value_holm >= tests["a 52B - b 52B"].test.p_value


# --- the permutation test -----------------------------------------------------------------------


def scipy_permutation(first, second, n_resamples, seed=0):
    return stats.permutation_test(
        (first, second), lambda x, y, axis: np.mean(x, axis=axis) - np.mean(y, axis=axis), permutation_type="independent",
        vectorized=True, n_resamples=n_resamples, alternative="two-sided", random_state=seed,
    )


def test_the_permutation_p_value_is_scipys_exactly_on_a_small_case():
    from review_project.results.pairs import permutation_test

    first = np.array([2.5, 3.0, 1.25, 4.0])
    second = np.array([0.5, 1.0, 2.0, 0.25, 1.5])
    ours = permutation_test(first, second, 2000, np.random.default_rng(0))
    reference = scipy_permutation(first, second, 2000)
    assert ours.exact and ours.permutations == 126
    assert ours.statistic == pytest.approx(reference.statistic, abs=1e-15)
    assert ours.p_value == pytest.approx(reference.pvalue, abs=1e-12)


def test_the_permutation_p_value_agrees_with_scipy_within_monte_carlo_error_on_the_real_export(real_96):
    results = real_96
    means = {name: np.array([np.mean(r) for r in found]) for name, found in attack_ratings(results).items()}
    for d in results.models.differences:
        reference = scipy_permutation(means[d.first], means[d.second], 20000)
        assert d.permutation.statistic == pytest.approx(reference.statistic, abs=1e-12)
        error = np.sqrt(reference.pvalue * (1 - reference.pvalue) / 2000)
        assert abs(d.permutation.p_value - reference.pvalue) < 4 * error + 1e-3
    again = real()
    assert [d.permutation.p_value for d in again.models.differences] == [d.permutation.p_value for d in results.models.differences]


# --- proportional odds --------------------------------------------------------------------------


def per_rating(attacks: dict[str, list[list[int]]], first: str, second: str):
    value, is_first, attack = [], [], []
    for a, (name, ratings) in enumerate((n, r) for n in (first, second) for r in attacks[n]):
        value += ratings
        is_first += [name == first] * len(ratings)
        attack += [a] * len(ratings)
    return np.array(value), np.array(is_first, float), np.array(attack)


def test_the_per_cut_comparisons_and_the_brant_type_test_against_statsmodels_logits(real_96):
    results = real_96
    attacks = attack_ratings(results)
    for d in results.models.differences:
        value, is_first, attack = per_rating(attacks, d.first, d.second)
        exog = np.column_stack([np.ones(len(value)), is_first])
        fits = []
        for c in d.proportional_odds.cuts:
            fit = Logit((value >= c.cut).astype(float), exog).fit(disp=False, cov_type="cluster", cov_kwds={"groups": attack})
            fits.append(fit)
            assert c.log_odds_ratio.value == pytest.approx(fit.params[1], abs=1e-6)
            assert c.p_value == pytest.approx(fit.pvalues[1], rel=1e-5)
            assert c.ci95.as_list() == pytest.approx(list(fit.conf_int()[1]), abs=1e-5)
        # The joint test: the four binary logits stacked, cut-specific intercepts and effects,
        # clustered by attack; its covariance scaled to one cut's small-sample factor, as ours.
        cuts = len(fits)
        y = np.concatenate([(value >= c.cut).astype(float) for c in d.proportional_odds.cuts])
        stacked = np.zeros((cuts * len(value), 2 * cuts))
        for i in range(cuts):
            stacked[i * len(value):(i + 1) * len(value), 2 * i] = 1
            stacked[i * len(value):(i + 1) * len(value), 2 * i + 1] = is_first
        fit = Logit(y, stacked).fit(disp=False, cov_type="cluster", cov_kwds={"groups": np.tile(attack, cuts), "use_correction": False})
        n, groups = len(value), len(np.unique(attack))
        cov = fit.cov_params() * groups / (groups - 1) * (n - 1) / (n - 2)
        contrast = np.zeros((cuts - 1, 2 * cuts))
        for i in range(cuts - 1):
            contrast[i, 2 * i + 1], contrast[i, 2 * i + 3] = -1, 1
        diff = contrast @ fit.params
        chi2 = float(diff @ np.linalg.solve(contrast @ cov @ contrast.T, diff))
        assert d.proportional_odds.chi2 == pytest.approx(chi2, rel=1e-6)
        assert d.proportional_odds.p_value == pytest.approx(stats.chi2.sf(chi2, cuts - 1), rel=1e-6)


def test_a_pair_that_breaks_proportional_odds_is_reported():
    from review_project.results.ordinal import cut_comparisons

    rng = np.random.default_rng(1)
    # a: ratings at both ends; b: in the middle. Same mean, opposite log odds ratios at the low and high cuts.
    attacks = {"a 52B": [list(rng.choice(5, 4, p=[0.35, 0.1, 0.1, 0.1, 0.35])) for _ in range(80)],
               "b 52B": [list(rng.choice(5, 4, p=[0.05, 0.25, 0.4, 0.25, 0.05])) for _ in range(80)]}
    results = results_of(attacks)
    [pair] = results.differences
    po = pair.proportional_odds
    assert po.holds is False and po.p_value < 0.05 and po.df == 3
    assert po.cuts[0].log_odds_ratio.value < 0 < po.cuts[3].log_odds_ratio.value
    counts = np.array([np.bincount(r, minlength=5) for m in attacks for r in attacks[m]])
    # A cut where a model's ratings are all (or none) above it has no log odds ratio; the others still do.
    counts[80:, 0] = 0  # b never rated 0
    counts[80:, 1] += 1
    cut = cut_comparisons(counts, np.arange(len(counts)) < 80, ("a 52B", "b 52B"))
    assert cut.cuts[0].log_odds_ratio.value is None and cut.cuts[0].log_odds_ratio.reason == "separation at this cut: all of the ratings of b 52B are >= 1"
    assert cut.df == 2 and cut.p_value is not None


# --- power --------------------------------------------------------------------------------------


def test_the_minimum_detectable_difference_against_statsmodels_power(real_96):
    results = real_96
    means = {name: np.array([np.mean(r) for r in found]) for name, found in attack_ratings(results).items()}
    for d in results.models.differences:
        a, b = means[d.first], means[d.second]
        sd = np.sqrt(((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2))
        effect = TTestIndPower().solve_power(effect_size=None, nobs1=len(a), alpha=0.05, power=0.8, ratio=len(b) / len(a))
        assert d.power.sd == pytest.approx(sd, abs=1e-12)
        assert d.power.minimum_detectable_difference.value == pytest.approx(effect * sd, rel=1e-6)
        assert TTestIndPower().power(d.power.minimum_detectable_difference.value / sd, len(a), 0.05, ratio=len(b) / len(a)) == pytest.approx(0.8, abs=1e-4)


def test_the_report_shows_the_detectable_difference_beside_a_non_significant_result(real_96):
    from review_project.lead_report.results import results_markdown_report, results_text

    results = real_96
    text = results_text(results)
    smallest = results.models.differences[0].power.minimum_detectable_difference.value
    assert f"no difference detected; with 32 attacks per model, differences under {smallest:.2f} points could not have been detected" in text
    assert text.count("conditional on these reviewers") == 1
    markdown = results_markdown_report(results)
    assert markdown.count("conditional on these reviewers") == 1 and "All models alike? Wald chi-square" in markdown
