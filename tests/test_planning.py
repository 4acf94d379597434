"""`review-project plan` and review_project.planning, each number against an independent computation:
a plain simulation with statsmodels' fleiss_kappa, Fleiss, Nee & Landis (1979) and R irr's printed
value, scipy's noncentral t, and Cohen's (1988) power table."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import optimize, stats
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

from review_project import planning
from review_project.agreement.kappa import count_table, fleiss_kappa_interval
from review_project.cli import cli
from tests.test_cli_reference import ROOT
from tests.test_agreement import FLEISS_1971

PAPER = np.array(planning.PAPER_SELF_RATINGS, dtype=float) / sum(planning.PAPER_SELF_RATINGS)
PAPER_BINARY = np.array([PAPER[:3].sum(), PAPER[3:].sum()])


def simulate_ratings(rng, kappa: float, reviewers: int, shares, attacks: int) -> np.ndarray:
    """One review drawn rating by rating (attacks x reviewers): each reviewer gives the attack's
    latent category with probability sqrt(kappa), else a draw from the shares."""
    shares = np.asarray(shares, dtype=float)
    latent = rng.choice(len(shares), size=attacks, p=shares)
    faithful = rng.random((attacks, reviewers)) < math.sqrt(kappa)
    guess = rng.choice(len(shares), size=(attacks, reviewers), p=shares)
    return np.where(faithful, latent[:, None], guess)


def plain_simulated_half_width(kappa, reviewers, shares, attacks, reviews=400, seed=12345) -> float:
    """1.96 x the SD of statsmodels' Fleiss' kappa over reviews simulated in a plain loop."""
    rng = np.random.default_rng(seed)
    kappas = []
    for _ in range(reviews):
        table, _ = aggregate_raters(simulate_ratings(rng, kappa, reviewers, shares, attacks), n_cat=len(shares))
        kappas.append(fleiss_kappa(table))
    return stats.norm.ppf(0.975) * np.std(kappas, ddof=1)


SETTINGS = [
    pytest.param(0.32, 4, PAPER, 0.05, id="paper-raw"),
    pytest.param(0.49, 4, PAPER_BINARY, 0.05, id="paper-binary"),
    pytest.param(0.6, 3, [1 / 3, 1 / 3, 1 / 3], 0.04, id="3-reviewers-3-categories"),
    pytest.param(0.2, 5, [0.8, 0.2], 0.06, id="5-reviewers-rare-success"),
]


@pytest.mark.parametrize("kappa, reviewers, shares, target", SETTINGS)
def test_the_planned_number_of_attacks_gives_the_target_half_width_in_an_independent_simulation(kappa, reviewers, shares, target):
    attacks = planning.attacks_for_half_width(kappa, reviewers, shares, target)
    achieved = plain_simulated_half_width(kappa, reviewers, shares, attacks)
    assert achieved == pytest.approx(target, rel=0.10)
    # The library's own vectorised simulation agrees with the plain one.
    own = planning.simulate_half_width(kappa, reviewers, shares, attacks, simulations=2000, seed=0)
    assert own.reason is None and own.undefined == 0
    assert own.half_width == pytest.approx(target, rel=0.10)
    assert own.mean_kappa == pytest.approx(kappa, abs=0.02)


@pytest.mark.parametrize("kappa, shares", [(0.32, PAPER), (0.49, PAPER_BINARY)])
def test_agreements_bootstrap_interval_at_the_planned_size_has_the_target_half_width(kappa, shares):
    """The interval `agreement` prints (percentile bootstrap over tasks), on reviews of the planned size."""
    attacks = planning.attacks_for_half_width(kappa, 4, shares, 0.05)
    rng = np.random.default_rng(7)
    widths = []
    for _ in range(12):
        interval = fleiss_kappa_interval(count_table(simulate_ratings(rng, kappa, 4, shares, attacks), len(shares)), n_resamples=1000)
        widths.append((interval.high - interval.low) / 2)
    assert np.mean(widths) == pytest.approx(0.05, rel=0.10)


def test_the_planned_number_is_the_smallest_that_meets_the_target():
    for kappa, shares in [(0.32, PAPER), (0.49, PAPER_BINARY), (0.7, [0.5, 0.3, 0.2])]:
        n = planning.attacks_for_half_width(kappa, 4, shares, 0.05)
        assert planning.half_width_for_attacks(kappa, 4, shares, n) <= 0.05 < planning.half_width_for_attacks(kappa, 4, shares, n - 1)
    assert planning.attacks_for_half_width(0.32, 4, PAPER, 0.05) == 250
    assert planning.attacks_for_half_width(0.49, 4, PAPER_BINARY, 0.05) == 516


@pytest.mark.parametrize("kappa, reviewers, shares", [(0.32, 4, PAPER), (0.49, 4, PAPER_BINARY), (0.8, 2, [0.1, 0.9]), (0.05, 6, [0.2] * 5)])
def test_the_rating_model_has_the_expected_kappa_and_sums_to_one(kappa, reviewers, shares):
    model = planning.rating_model(kappa, reviewers, shares)
    assert model.rows.shape == (math.comb(reviewers + len(shares) - 1, len(shares) - 1), len(shares))
    assert (model.rows.sum(axis=1) == reviewers).all() and len(np.unique(model.rows, axis=0)) == len(model.rows)
    assert model.probabilities.sum() == pytest.approx(1, abs=1e-12)
    # statsmodels' Fleiss' kappa of a table holding each row in proportion to its probability.
    copies = np.round(model.probabilities * 1e6).astype(int)
    assert fleiss_kappa(np.repeat(model.rows, copies, axis=0)) == pytest.approx(kappa, abs=1e-4)
    # Each category's share of ratings is its share.
    assert (model.probabilities @ model.rows) / reviewers == pytest.approx(np.asarray(shares) / np.sum(shares), abs=1e-12)


def test_four_reviewers_and_five_categories_make_70_rows():
    assert planning.count_rows(4, 5).shape == (70, 5)


def fleiss_nee_landis(reviewers: int, shares) -> float:
    """FNL (1979) variance of Fleiss' kappa under no agreement, per attack (times N), as R irr writes it."""
    p = np.asarray(shares, dtype=float)
    q = 1 - p
    spread = (p * q).sum()
    return 2 / (reviewers * (reviewers - 1)) * (spread**2 - (p * q * (q - p)).sum()) / spread**2


@pytest.mark.parametrize("reviewers, shares", [(4, PAPER), (4, PAPER_BINARY), (2, [0.5, 0.5]), (6, [0.1, 0.2, 0.3, 0.4]), (3, [0.9, 0.05, 0.05])])
def test_at_kappa_zero_the_variance_is_fleiss_nee_and_landis(reviewers, shares):
    assert planning.kappa_variance(0.0, reviewers, shares) == pytest.approx(fleiss_nee_landis(reviewers, shares), rel=1e-12)


def test_at_kappa_zero_the_variance_gives_r_irrs_printed_z_for_fleiss_1971():
    # R: irr::kappam.fleiss(diagnoses) prints kappa 0.4302445, z 17.65183 (statsmodels' test_inter_rater.py).
    table = count_table(FLEISS_1971 - 1, 5)
    shares = table.sum(axis=0) / table.sum()
    kappa = fleiss_kappa(table)
    z = kappa / math.sqrt(planning.kappa_variance(0.0, 6, shares) / len(table))
    assert z == pytest.approx(17.65183, abs=5e-6)


def test_away_from_zero_the_variance_is_not_fleiss_nee_and_landis():
    # Why the null variance would mislead a plan at the paper's kappa: it is a third of the size.
    assert planning.kappa_variance(0.32, 4, PAPER) / fleiss_nee_landis(4, PAPER) == pytest.approx(3.21, abs=0.01)
    assert planning.attacks_for_half_width(0.0, 4, PAPER, 0.05) == 78


def test_the_sd_of_an_attacks_mean_rating_matches_a_simulation():
    rng = np.random.default_rng(3)
    ratings = simulate_ratings(rng, 0.32, 4, PAPER, 400_000)
    assert planning.mean_rating_sd(0.32, 4, PAPER) == pytest.approx(ratings.mean(axis=1).std(), rel=0.005)
    model = planning.rating_model(0.32, 4, PAPER)
    means = model.rows @ np.arange(5) / 4
    exact = math.sqrt(model.probabilities @ means**2 - (model.probabilities @ means) ** 2)
    assert planning.mean_rating_sd(0.32, 4, PAPER) == pytest.approx(exact, rel=1e-12)


def t_test_power(n_first, n_second, effect, alpha=0.05):
    """Two-sided two-sample t-test power from scipy's noncentral t (the textbook formula)."""
    df = n_first + n_second - 2
    noncentrality = effect * math.sqrt(n_first * n_second / (n_first + n_second))
    critical = stats.t.ppf(1 - alpha / 2, df)
    return stats.nct.sf(critical, df, noncentrality) + stats.nct.cdf(-critical, df, noncentrality)


def test_cohens_table_64_per_group_for_half_an_sd():
    # Cohen (1988), Table 2.4.1: d = 0.50, power 0.80, two-tailed alpha 0.05 -> n = 64 per group.
    assert planning.attacks_per_model_for_difference(0.5, 1.0) == 64
    assert planning.attacks_per_model_for_difference(1.0, 2.0) == 64


@pytest.mark.parametrize("difference, sd", [(0.5, 1.1454), (0.25, 0.8), (1.0, 1.5)])
def test_attacks_per_model_is_the_smallest_n_with_80_percent_power_by_scipy(difference, sd):
    n = planning.attacks_per_model_for_difference(difference, sd)
    assert t_test_power(n, n, difference / sd) >= 0.8 > t_test_power(n - 1, n - 1, difference / sd)


@pytest.mark.parametrize("n_first, n_second, sd", [(40, 40, 1.0), (500, 500, 1.1454), (12, 300, 0.7), (2, 2, 1.0)])
def test_minimum_detectable_difference_against_scipy(n_first, n_second, sd):
    # Bracket up to a noncentrality of 8: scipy's nct gives NaN for far tails beyond about 10.
    upper = 8 / math.sqrt(n_first * n_second / (n_first + n_second))
    expected = optimize.brentq(lambda d: t_test_power(n_first, n_second, d) - 0.8, 1e-6, upper, xtol=1e-14) * sd
    assert planning.minimum_detectable_difference(n_first, n_second, sd) == pytest.approx(expected, rel=1e-6)
    assert planning.minimum_detectable_difference(n_second, n_first, sd) == pytest.approx(expected, rel=1e-6)


def test_many_groups_solved_at_once_give_each_group_its_own_answer():
    # results solves every pair of models in one call; each answer is the one-group answer, and
    # has the power wanted by scipy's noncentral t.
    n_first, n_second = np.array([2, 12, 40, 500, 3, 2]), np.array([2, 300, 40, 500, 17_000, 100_000])
    sd = np.array([1.0, 0.7, 1.0, 1.1454, 1.3, 1.0])
    together = planning.minimum_detectable_differences(n_first, n_second, sd)
    one_by_one = [planning.minimum_detectable_difference(*group) for group in zip(n_first, n_second, sd)]
    assert together == pytest.approx(one_by_one, rel=1e-12)
    for n1, n2, s, d in zip(n_first, n_second, sd, together):
        assert t_test_power(n1, n2, d / s) == pytest.approx(0.8, abs=1e-9)


def test_where_scipy_loses_the_lower_tail_the_difference_still_has_the_power_wanted():
    # At 2 + 2 attacks, alpha 0.01 and power 0.9 the root lies where scipy's noncentral t gives NaN
    # for the lower tail at some points: statsmodels' own solver stopped there ("no answer").
    d = planning.minimum_detectable_difference(2, 2, 1.0, alpha=0.01, power=0.9)
    critical = stats.t.ppf(1 - 0.01 / 2, 2)
    assert stats.nct.sf(critical, 2, d) == pytest.approx(0.9, abs=1e-9)


def test_minimum_detectable_difference_shrinks_with_alpha_and_power_as_it_should():
    base = planning.minimum_detectable_difference(40, 40, 1.0)
    assert planning.minimum_detectable_difference(40, 40, 1.0, alpha=0.01) > base
    assert planning.minimum_detectable_difference(40, 40, 1.0, power=0.9) > base


@pytest.mark.parametrize(
    "args, message",
    [((1, 40, 1.0), "at least 2 attacks"), ((40, 40, 0.0), "sd must be a positive"), ((40, 40, float("nan")), "sd must be a positive"),
     ((40, 40, 1.0, 0.0), "alpha"), ((40, 40, 1.0, 0.05, 1.0), "power")],
)
def test_minimum_detectable_difference_refuses_what_has_no_answer(args, message):
    with pytest.raises(ValueError, match=message):
        planning.minimum_detectable_difference(*args)


def test_no_library_warning_escapes():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        planning.plan()
        planning.minimum_detectable_difference(2, 2, 1.0)
        planning.minimum_detectable_difference(100_000, 100_000, 1.0)
        assert planning.attacks_per_model_for_difference(4.0, 0.5) == 2  # statsmodels' solver fails here


def plain_simulated_power(difference, sd, n, reviews=600, seed=99) -> float:
    """scipy's ttest_ind over pairs of models whose attacks' mean ratings are simulated rating by rating."""
    rng = np.random.default_rng(seed)
    model_sd = planning.mean_rating_sd(0.32, 4, PAPER)
    found = 0
    for _ in range(reviews):
        first = simulate_ratings(rng, 0.32, 4, PAPER, n).mean(axis=1) * sd / model_sd
        second = simulate_ratings(rng, 0.32, 4, PAPER, n).mean(axis=1) * sd / model_sd + difference
        found += stats.ttest_ind(first, second).pvalue < 0.05
    return found / reviews


def test_simulated_power_at_the_planned_size_is_80_percent():
    n = planning.attacks_per_model_for_difference(0.5, planning.mean_rating_sd(0.32, 4, PAPER))
    sd = planning.mean_rating_sd(0.32, 4, PAPER)
    own = planning.simulate_power(0.5, sd, n, 0.32, 4, PAPER, simulations=4000, seed=0)
    assert own == pytest.approx(0.8, abs=0.025)
    assert plain_simulated_power(0.5, sd, n) == pytest.approx(0.8, abs=0.05)
    assert planning.simulate_power(0.5, sd, n, 0.32, 4, PAPER, seed=0) == planning.simulate_power(0.5, sd, n, 0.32, 4, PAPER, seed=0)


def test_simulations_are_seeded():
    first = planning.simulate_half_width(0.32, 4, PAPER, 250, seed=5)
    assert first == planning.simulate_half_width(0.32, 4, PAPER, 250, seed=5)
    assert first != planning.simulate_half_width(0.32, 4, PAPER, 250, seed=6)


def test_a_simulation_where_kappa_is_undefined_says_so():
    # Two attacks and a category that is almost never used: most reviews have one category only.
    found = planning.simulate_half_width(0.5, 2, [1e-9, 1.0], 2, simulations=100)
    assert found.half_width is None and found.undefined >= 50
    assert found.reason == f"kappa undefined in {found.undefined} of 100 simulated reviews"


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: planning.rating_model(1.0, 4, PAPER), "kappa must be at least 0 and below 1"),
        (lambda: planning.rating_model(-0.1, 4, PAPER), "kappa must be at least 0 and below 1"),
        (lambda: planning.rating_model(0.3, 1, PAPER), "at least 2 reviewers"),
        (lambda: planning.rating_model(0.3, 4, [1.0]), "at least 2 categories"),
        (lambda: planning.rating_model(0.3, 4, [1.0, 0.0]), "positive"),
        (lambda: planning.binary_shares(PAPER, 5), "threshold must be between 1 and 4"),
        (lambda: planning.attacks_for_half_width(0.3, 4, PAPER, 0.0), "half_width must be positive"),
        (lambda: planning.count_rows(20, 10), "10,015,005 possible rows"),
    ],
)
def test_bad_inputs_are_refused_with_the_rule(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# -- the projection for a review in progress ---------------------------------------------------


def test_projection_scales_with_one_over_root_n():
    found = planning.projected_half_width(0.1, 100, 400, target=0.05)
    assert found.projected_half_width == pytest.approx(0.05, abs=1e-15)
    assert found.target_met is True and found.target_met_reason is None
    assert found.attacks_needed == 400
    missed = planning.projected_half_width(0.1, 100, 300, target=0.05)
    assert missed.projected_half_width == pytest.approx(0.1 * math.sqrt(100 / 300), abs=1e-15)
    assert missed.target_met is False and missed.attacks_needed == 400


def test_a_complete_review_projects_to_its_half_width_now():
    found = planning.projected_half_width(0.04, 500, 500, target=0.05)
    assert found.projected_half_width == 0.04 and found.target_met is True and found.attacks_needed == 500


@pytest.mark.parametrize(
    "half_width, now, planned, reason",
    [
        (None, 100, 400, "no interval yet"),
        (0.1, 0, 400, "no attacks rated yet"),
        (0.1, 100, 0, "no attacks planned"),
        (0.1, 500, 400, "more attacks rated (500) than planned (400)"),
    ],
)
def test_projection_is_null_with_a_reason_when_undefined(half_width, now, planned, reason):
    found = planning.projected_half_width(half_width, now, planned, target=0.05)
    assert found.projected_half_width is None and found.projected_half_width_reason == reason
    assert found.target_met is None and found.target_met_reason == reason
    out = found.as_json()
    json.dumps(out, allow_nan=False)
    assert out["projected_half_width"] is None and out["projected_half_width_reason"] == reason


def test_projection_without_a_target():
    found = planning.projected_half_width(0.1, 100, 400)
    assert found.projected_half_width == pytest.approx(0.05)
    assert found.target_met is None and found.target_met_reason == "no target half-width given" and found.attacks_needed is None
    assert list(found.as_json()) == [
        "half_width_now", "attacks_now", "attacks_planned", "projected_half_width", "projected_half_width_reason",
        "target_half_width", "attacks_needed", "target_met", "target_met_reason",
    ]


@pytest.mark.parametrize("half_width, target", [(-0.1, 0.05), (float("nan"), 0.05), (0.1, 0.0), (0.1, float("inf"))])
def test_projection_refuses_impossible_inputs(half_width, target):
    with pytest.raises(ValueError):
        planning.projected_half_width(half_width, 100, 400, target)


def test_interval_half_width():
    assert planning.interval_half_width(0.2, 0.3) == pytest.approx(0.05)
    assert planning.interval_half_width(None, None) is None


# -- the command --------------------------------------------------------------------------------


def run(*args):
    return CliRunner().invoke(cli, ["plan", *[str(a) for a in args]])


def test_plan_prints_the_plan():
    result = run()
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Fleiss' kappa 0.32 (0-4 scale), 4 reviewers per attack: 250 attacks for a 95% interval of +/- 0.05 "
        "(simulated with seed 0: +/- 0.049 over 2,000 reviews)",
        "Fleiss' kappa 0.49 (binary scale, success >= 3), 4 reviewers per attack: 516 attacks for a 95% interval of "
        "+/- 0.05 (simulated with seed 0: +/- 0.050 over 2,000 reviews)",
        "To detect a difference of 0.5 points in mean rating between two models at 80% power (alpha 0.05, two-sided): "
        "84 attacks per model (SD of an attack's mean rating 1.15, from the rating model at kappa 0.32; simulated power 0.81)",
        "A sample of 500 attacks per model (2 models, 1,000 attacks) gives kappa +/- 0.025 (0-4 scale) and +/- 0.036 "
        "(binary), and detects differences in mean rating of 0.20 points at 80% power",
        "Assumes independent attacks, interchangeable reviewers and the rating model of docs/planning.md.",
    ]
    assert result.stderr == ""


def test_plan_json_holds_every_number(tmp_path):
    path = tmp_path / "plan.json"
    result = run("--kappa", 0.4, "--reviewers-per-task", 3, "--half-width", 0.03, "--sd", 1.2, "--simulations", 500, "--seed", 4, "--json", path)
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith(f"\nWrote {path}\n")
    found = json.loads(path.read_text())
    assert list(found) == ["reviewers_per_task", "level", "target_half_width", "simulations", "seed", "raw", "binary", "difference", "sample"]
    assert (found["reviewers_per_task"], found["target_half_width"], found["simulations"], found["seed"]) == (3, 0.03, 500, 4)
    raw = found["raw"]
    assert raw["kappa"] == 0.4 and raw["categories"] == 5 and raw["threshold"] is None
    assert raw["attacks_needed"] == planning.attacks_for_half_width(0.4, 3, PAPER, 0.03)
    assert raw["variance_per_attack"] == pytest.approx(planning.kappa_variance(0.4, 3, PAPER), rel=1e-12)
    assert raw["simulated_half_width"] == pytest.approx(0.03, rel=0.1) and raw["simulated_half_width_reason"] is None
    assert raw["half_width_at_sample"] == pytest.approx(planning.half_width_for_attacks(0.4, 3, PAPER, 1000), rel=1e-12)
    binary = found["binary"]
    assert binary["kappa"] == 0.49 and binary["categories"] == 2 and binary["threshold"] == 3
    assert binary["shares"] == pytest.approx(PAPER_BINARY, rel=1e-12)
    assert binary["attacks_needed"] == planning.attacks_for_half_width(0.49, 3, PAPER_BINARY, 0.03)
    assert found["difference"] == {
        "difference": 0.5, "sd": 1.2, "sd_source": "given", "alpha": 0.05, "power": 0.8,
        "attacks_per_model": planning.attacks_per_model_for_difference(0.5, 1.2),
        "simulated_power": found["difference"]["simulated_power"],
    }
    assert found["difference"]["simulated_power"] == pytest.approx(0.8, abs=0.05)
    assert found["sample"] == {
        "attacks_per_model": 500, "models": 2, "attacks": 1000,
        "minimum_detectable_difference": pytest.approx(planning.minimum_detectable_difference(500, 500, 1.2), rel=1e-12),
    }


def test_plan_with_other_shares_and_threshold():
    result = run("--shares", "1,1,1", "--threshold", 2, "--binary-kappa", 0.3, "--simulations", 200)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Fleiss' kappa 0.32 (0-2 scale), 4 reviewers per attack: ")
    assert "Fleiss' kappa 0.3 (binary scale, success >= 2)" in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--kappa", "1"], "Error: Invalid value for '--kappa': 1.0 is not in the range 0<x<1.\n"),
        (["--binary-kappa", "0"], "Error: Invalid value for '--binary-kappa': 0.0 is not in the range 0<x<1.\n"),
        (["--reviewers-per-task", "1"], "Error: Invalid value for '--reviewers-per-task': 1 is not in the range 2<=x<=20.\n"),
        (["--half-width", "0"], "Error: Invalid value for '--half-width': 0.0 is not in the range 0<x<=1.\n"),
        (["--difference", "-1"], "Error: Invalid value for '--difference': -1.0 is not in the range x>0.\n"),
        (["--sd", "0"], "Error: Invalid value for '--sd': 0.0 is not in the range x>0.\n"),
        (["--shares", "1,x"], "Error: Invalid value for '--shares': '1,x' is not a comma-separated list of numbers\n"),
        (["--shares", "4,0,1"], "Error: Invalid value for '--shares': give a positive count or share for each of at least 2 ratings, e.g. 5,2,2,2,4\n"),
        (["--shares", "7"], "Error: Invalid value for '--shares': give a positive count or share for each of at least 2 ratings, e.g. 5,2,2,2,4\n"),
        (["--threshold", "5"], "Error: Invalid value for '--threshold': 5 is not below the 5 categories of --shares\n"),
        (["--simulations", "10"], "Error: Invalid value for '--simulations': 10 is not in the range 100<=x<=100000.\n"),
        (["--reviewers-per-task", "20", "--shares", "1,1,1,1,1,1,1,1,1,1"], "Error: 20 reviewers and 10 categories make 10,015,005 possible rows; at most 200,000\n"),
    ],
)
def test_plan_refuses_bad_input_in_one_line(args, message):
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert result.stderr.endswith(message)
    assert result.stdout == "" and "Traceback" not in result.output


def test_plan_json_that_cannot_be_written(tmp_path):
    result = run("--simulations", 100, "--json", tmp_path / "no" / "plan.json")
    assert result.exit_code == 2
    assert result.stderr == f"Error: {tmp_path / 'no' / 'plan.json'}: cannot be written (No such file or directory)\n"


def test_plan_help_shows_examples():
    result = run("--help")
    assert result.exit_code == 0
    assert "Example:" in result.stdout and "review-project plan --kappa 0.4" in result.stdout


def test_the_worked_examples_in_docs_planning_md_are_the_real_output():
    text = (ROOT / "docs" / "planning.md").read_text()
    assert run().stdout in text
    shown = run("--kappa", 0.4, "--reviewers-per-task", 3, "--half-width", 0.03).stdout
    assert "$ review-project plan --kappa 0.4 --reviewers-per-task 3 --half-width 0.03 --json plan.json\n" + shown in text
