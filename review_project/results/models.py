"""Attack success by model, the paper's question: per-model statistics, their differences, and the tests.

For each model ("<model_type> <num_params>"), over its attacks with at least one valid rating:
- mean_rating: the mean over attacks of each attack's mean valid rating;
- share_of_ratings_successful: the pooled share of its valid ratings at or above the threshold;
- share_of_attacks_successful: the share of its attacks with a final rating whose final rating is
  at or above the threshold (attacks without one are left out, and counted);
- topics: the share of attacks carrying each consensus topic.

Intervals: a plain proportion of a count (share of attacks successful, a topic share) gets the
Wilson score interval, which stays honest at 0 of n; the mean rating and the pooled share of
ratings (whose ratings cluster by attack) get a 95% percentile bootstrap over attacks, resampled
within each model, seeded, with no Python loop over attacks or resamples: an attack's statistics
depend only on its row of rating counts, so B resamples are one multinomial draw per model over
the distinct rows (kappa.resample_tasks) and one matrix product. A model with fewer than
`min_attacks` rated attacks gets its estimates and no interval; a pair involving it gets its
differences and no interval and no test.

Each pair gets the ordinal test (results.ordinal: the clustered proportional-odds fit, or "not
estimable" under separation), a permutation test over attacks (results.pairs, as the rest below), the per-cut check of proportional
odds, the minimum detectable difference in mean rating, and Fisher's exact test of every topic
share; p-values are Holm-adjusted across pairs (and across topics x pairs). An omnibus Wald test
of all models comes first. Every interval resamples attacks, not reviewers: it is conditional on
these reviewers.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from review_project.agreement.contract import JsonRecord, put
from review_project.agreement.kappa import Estimate, Interval, percentile_interval, resample_tasks
from review_project.results.ordinal import (
    NOT_ESTIMABLE,
    ORDINAL_METHOD,
    Omnibus,
    OrdinalContrast,
    OrdinalFit,
    ProportionalOdds,
    cut_comparisons,
    no_contrast,
    no_cut_comparisons,
    ordinal_fit,
    rating_range,
    separation,
)
from review_project.results.pairs import (
    ALPHA,
    TOPIC_TEST,
    PermutationTest,
    Power,
    TopicDifference,
    _exact_ends,
    holm,
    newcombe,
    permutation_test,
    power_analyses,
    topic_differences,
    wilson,
)
from review_project.schema import SUCCESS_VALUES, TOPICS

__all__ = ["ORDINAL_METHOD", "ModelResults", "OrdinalContrast", "OrdinalFit", "model_results", "ordinal_fit"]

N_CATEGORIES = len(SUCCESS_VALUES)
DEFAULT_MIN_ATTACKS = 5
# The difference in mean rating the review is planned to detect (`plan --difference`, `results --difference`).
DEFAULT_DIFFERENCE = 0.5
NO_MODELS = "no model known (models come from the sample manifest: --manifest)"
BOOTSTRAP = (
    "95% percentile bootstrap over attacks, resampled within each model; Wilson score intervals for shares "
    "of a count (share of attacks successful, topic shares)"
)
CONDITIONAL = (
    "Every interval and test resamples or permutes attacks, not reviewers: it is conditional on these reviewers "
    "(another panel could rate the same attacks differently)."
)
NO_RATED = "no attack of this model has a valid rating"


def _tiny(model: str, min_attacks: int) -> str:
    return f"{model} has fewer than {min_attacks} rated attacks (--min-attacks)"


@dataclass(frozen=True)
class TopicShare(JsonRecord):
    """The share of a model's rated attacks whose consensus topics include `topic`, with its Wilson interval."""

    topic: str
    attacks: int
    share: Estimate
    ci95: Interval

    json_leaves_out = ("topic",)  # ModelResult.as_json keys each share by it


@dataclass(frozen=True)
class ModelResult:
    """One model: attacks with a valid rating, unrated ones, ratings, disputed; the statistics with
    their intervals; attacks with and without a final rating; each topic's share."""

    model: str
    attacks: int
    unrated_attacks: int
    ratings: int
    disputed: int
    mean_rating: Estimate
    mean_rating_ci95: Interval
    share_of_ratings_successful: Estimate
    share_of_ratings_successful_ci95: Interval
    share_of_attacks_successful: Estimate
    share_of_attacks_successful_ci95: Interval
    attacks_with_final_rating: int
    attacks_without_final_rating: int
    topics: tuple[TopicShare, ...]

    STATISTICS = (
        "mean_rating", "mean_rating_ci95", "share_of_ratings_successful", "share_of_ratings_successful_ci95",
        "share_of_attacks_successful", "share_of_attacks_successful_ci95",
    )

    def as_json(self) -> dict:
        out = {"attacks": self.attacks, "unrated_attacks": self.unrated_attacks, "ratings": self.ratings, "disputed": self.disputed}
        for name in self.STATISTICS:
            put(out, name, getattr(self, name))
        out["attacks_with_final_rating"] = self.attacks_with_final_rating
        out["attacks_without_final_rating"] = self.attacks_without_final_rating
        out["topics"] = {share.topic: share.as_json() for share in self.topics}
        return out


@dataclass(frozen=True)
class ModelDifference:
    """first - second: each statistic's difference with its interval, and the tests."""

    first: str
    second: str
    mean_rating: Estimate
    mean_rating_ci95: Interval
    share_of_ratings_successful: Estimate
    share_of_ratings_successful_ci95: Interval
    share_of_attacks_successful: Estimate
    share_of_attacks_successful_ci95: Interval
    test: OrdinalContrast
    permutation: PermutationTest
    proportional_odds: ProportionalOdds
    power: Power
    topics: tuple[TopicDifference, ...]

    @property
    def name(self) -> str:
        return f"{self.first} - {self.second}"

    @property
    def detected(self) -> Estimate:
        """Whether a difference was detected: the ordinal test's Holm-adjusted p < 0.05, or the
        permutation test's when the ordinal model has none."""
        p = self.test.p_value_holm if self.test.p_value_holm is not None else self.permutation.p_value_holm
        if p is None:
            return Estimate(None, self.permutation.reason or self.test.log_odds_ratio.reason)
        return Estimate(bool(p < ALPHA))

    def as_json(self) -> dict:
        out: dict = {"models": [self.first, self.second]}
        for name in ModelResult.STATISTICS:
            put(out, name, getattr(self, name))
        out["test"] = self.test.as_json()
        out["permutation_test"] = self.permutation.as_json()
        out["proportional_odds"] = self.proportional_odds.as_json()
        out["power"] = self.power.as_json()
        put(out, "detected", self.detected)
        out["topics"] = {t.topic: t.as_json() for t in self.topics}
        return out


@dataclass(frozen=True)
class ModelResults:
    """Every model's results, each pair's difference, the ordinal fit and its omnibus test; reason
    when no model is known."""

    per_model: tuple[ModelResult, ...]
    differences: tuple[ModelDifference, ...]
    fit: OrdinalFit | None
    omnibus: Omnibus | None = None
    min_attacks: int = DEFAULT_MIN_ATTACKS
    reason: str | None = None

    def as_json(self) -> dict:
        """per_model, per_model_reason, model_differences and model_tests, as results --json has them."""
        return {
            "per_model": {section.model: section.as_json() for section in self.per_model},
            "per_model_reason": self.reason,
            "model_differences": {difference.name: difference.as_json() for difference in self.differences},
            "model_tests": {
                "min_attacks": self.min_attacks,
                "omnibus": (self.omnibus or Omnibus(None, None, None, self.reason)).as_json(),
                "p_value_adjustment": "Holm's step-down adjustment (as statsmodels multipletests, method=\"holm\") across "
                "the pairs of models, each kind of test apart; the topic tests across every topic x pair",
                "topic_test": TOPIC_TEST,
                "ci_method": BOOTSTRAP,
                "conditional_on_reviewers": CONDITIONAL,
            },
        }


def model_codes(model) -> tuple[np.ndarray, list[str]]:
    """Each attack's model as a code 0.. in sorted order (-1 unknown), and the models."""
    codes, models = pd.factorize(pd.Series(np.asarray(model, dtype=object)), sort=True)
    return codes.astype(np.int64), [str(m) for m in models]


def model_results(
    counts,
    consensus,
    model,
    disputed,
    threshold: int = 3,
    n_resamples: int = 2000,
    seed: int = 0,
    *,
    final_rating=None,
    min_attacks: int = DEFAULT_MIN_ATTACKS,
    attacks_planned: Mapping[str, int] | None = None,
    target_difference: float | None = DEFAULT_DIFFERENCE,
) -> ModelResults:
    """Per-model statistics with their intervals, every pair's differences and tests, the omnibus test.

    counts : int (N, 5), each attack's valid ratings of each value; consensus : bool (N, T);
    model : object (N,), "<model_type> <num_params>" or None; disputed : bool (N,);
    final_rating : float (N,), NaN where there is none (None: no final ratings known);
    attacks_planned : model -> the attacks the review will have of it (the manifest's), for each
    pair's power at completion against target_difference.
    """
    counts = np.asarray(counts, dtype=np.int64)
    consensus = np.asarray(consensus, dtype=bool)
    disputed = np.asarray(disputed, dtype=bool)
    final = np.full(len(counts), np.nan) if final_rating is None else np.asarray(final_rating, dtype=np.float64)
    code, models = model_codes(model)
    if not models:
        return ModelResults((), (), None, None, min_attacks, NO_MODELS)
    n_models = len(models)
    n_ratings = counts.sum(axis=1)
    rated = (n_ratings > 0) & (code >= 0)
    mean = np.divide(counts @ np.arange(N_CATEGORIES), n_ratings, out=np.full(len(counts), np.nan), where=n_ratings > 0)
    draws = _bootstrap(counts[rated], code[rated], n_models, threshold, n_resamples, seed)
    attacks = np.bincount(code[rated], minlength=n_models)
    tiny = attacks < min_attacks
    carried = np.zeros((n_models, consensus.shape[1]), dtype=np.int64)
    np.add.at(carried, code[rated], consensus[rated])
    has_final = (code >= 0) & np.isfinite(final)
    final_n = np.bincount(code[has_final], minlength=n_models)
    final_successful = np.bincount(code[has_final], weights=final[has_final] >= threshold, minlength=n_models).astype(np.int64)
    pooled_above = np.bincount(code[rated], weights=counts[rated, threshold:].sum(axis=1), minlength=n_models)
    pooled_n = np.bincount(code[rated], weights=n_ratings[rated], minlength=n_models)
    no_final = "no final ratings given" if final_rating is None else "no attack of this model has a final rating"

    per_model = []
    for index, name in enumerate(models):
        n = int(attacks[index])
        mine = rated & (code == index)
        without = Interval(None, None, NO_RATED if not n else f"{_tiny(name, min_attacks)}: no interval") if tiny[index] else None
        per_model.append(
            ModelResult(
                model=name,
                attacks=n,
                unrated_attacks=int(((code == index) & ~rated).sum()),
                ratings=int(n_ratings[mine].sum()),
                disputed=int((disputed & mine).sum()),
                mean_rating=Estimate(float(mean[mine].mean())) if n else Estimate(None, NO_RATED),
                mean_rating_ci95=without or percentile_interval(draws["mean"][index]),
                share_of_ratings_successful=Estimate(float(pooled_above[index] / pooled_n[index])) if n else Estimate(None, NO_RATED),
                share_of_ratings_successful_ci95=without or _pooled_interval(pooled_above[index], pooled_n[index], n, draws["pooled"][index]),
                share_of_attacks_successful=Estimate(float(final_successful[index] / final_n[index])) if final_n[index] else Estimate(None, no_final),
                share_of_attacks_successful_ci95=(
                    without or (wilson(final_successful[index], final_n[index]) if final_n[index] else Interval(None, None, no_final))
                ),
                attacks_with_final_rating=int(final_n[index]),
                attacks_without_final_rating=int(((code == index) & ~has_final).sum()),
                topics=_topic_shares(carried[index], n, without),
            )
        )

    # The ordinal fit and every test leave out the models below min_attacks.
    big = rated & ~tiny[np.maximum(code, 0)]
    fit = ordinal_fit(counts[big], code[big], models)
    omnibus = fit.omnibus()
    if np.count_nonzero(attacks >= max(min_attacks, 1)) < 2:
        omnibus = Omnibus(None, None, None, f"fewer than 2 models with at least {min_attacks} rated attacks (--min-attacks)")
    lowest, highest = rating_range(counts[rated], code[rated], n_models)
    mean_of = [mean[rated & (code == index)] for index in range(n_models)]
    tested = [(first, second) for first, second in itertools.combinations(range(n_models), 2) if not (tiny[first] or tiny[second])]
    powers = dict(zip(tested, power_analyses(
        [(mean_of[first], mean_of[second], None if attacks_planned is None else
          (attacks_planned.get(models[first], 0), attacks_planned.get(models[second], 0))) for first, second in tested],
        target_difference,
    )))
    differences = []
    for first, second in itertools.combinations(range(n_models), 2):
        a, b = per_model[first], per_model[second]
        small = [m.model for m, t in ((a, tiny[first]), (b, tiny[second])) if t]
        pair = rated & ((code == first) | (code == second))
        if small:
            reason = (NO_RATED.replace("this model", small[0]) if not min(a.attacks, b.attacks) else _tiny(small[0], min_attacks)) + ": no interval and no test"
            test, permutation = no_contrast(reason), PermutationTest(None, None, 0, False, reason)
            proportional_odds = no_cut_comparisons(reason)
            power = Power((a.attacks, b.attacks), None, Estimate(None, reason), at_completion=Estimate(None, reason),
                          target_met=Estimate(None, reason))
            intervals = dict.fromkeys(("mean_rating_ci95", "share_of_ratings_successful_ci95", "share_of_attacks_successful_ci95"), Interval(None, None, reason))
            topics = tuple(TopicDifference(t, (int(carried[first, i]), int(carried[second, i])), Estimate(None, reason), Estimate(None, reason)) for i, t in enumerate(TOPICS))
        else:
            separated = separation(lowest[[first, second]], highest[[first, second]], [a.model, b.model])
            test = _pair_contrast(fit, separated, counts[pair], code[pair], models, a.model, b.model)
            rng = np.random.default_rng([seed, 2, first, second])
            permutation = permutation_test(mean_of[first], mean_of[second], n_resamples, rng)
            proportional_odds = cut_comparisons(counts[pair], code[pair] == first, (a.model, b.model))
            power = powers[first, second]
            intervals = {
                "mean_rating_ci95": percentile_interval(draws["mean"][first] - draws["mean"][second]),
                "share_of_ratings_successful_ci95": percentile_interval(draws["pooled"][first] - draws["pooled"][second]),
                "share_of_attacks_successful_ci95": newcombe(final_successful[[first, second]], final_n[[first, second]], no_final),
            }
            topics = topic_differences(carried[[first, second]], attacks[[first, second]])
        differences.append(
            ModelDifference(
                first=a.model,
                second=b.model,
                mean_rating=_difference(a.mean_rating, b.mean_rating),
                share_of_ratings_successful=_difference(a.share_of_ratings_successful, b.share_of_ratings_successful),
                share_of_attacks_successful=_difference(a.share_of_attacks_successful, b.share_of_attacks_successful),
                test=test,
                permutation=permutation,
                proportional_odds=proportional_odds,
                power=power,
                topics=topics,
                **intervals,
            )
        )
    return ModelResults(tuple(per_model), _holm(differences), fit, omnibus, min_attacks)


def _pair_contrast(fit: OrdinalFit, separated: str | None, counts, code, models, first: str, second: str) -> OrdinalContrast:
    """The pair's contrast: null under its own separation; from the all-model fit; or, when only
    the all-model fit is separated, from a fit of the two models alone."""
    if separated:
        return no_contrast(f"{NOT_ESTIMABLE}: {separated}")
    if fit.params is not None or not fit.separated:
        return fit.contrast(first, second)
    alone = ordinal_fit(counts, code, models)
    return alone.contrast(first, second, fitted_on=f"these two models alone (the fit of every model is {fit.reason})")


def _holm(differences: list[ModelDifference]) -> tuple[ModelDifference, ...]:
    """Holm-adjusted p-values: the ordinal tests across pairs, the permutation tests across pairs,
    the topic tests across every topic x pair; each family over the tests that have a p-value."""

    def adjusted(values: list[float | None]) -> list[float | None]:
        given = [i for i, v in enumerate(values) if v is not None]
        out: list[float | None] = [None] * len(values)
        for i, p in zip(given, holm([values[i] for i in given])):
            out[i] = float(p)
        return out

    ordinal = adjusted([d.test.p_value for d in differences])
    permuted = adjusted([d.permutation.p_value for d in differences])
    topics = adjusted([t.p_value.value for d in differences for t in d.topics])
    out = []
    for index, d in enumerate(differences):
        per_topic = topics[index * len(d.topics):(index + 1) * len(d.topics)]
        out.append(dataclasses.replace(
            d,
            test=dataclasses.replace(d.test, p_value_holm=ordinal[index]),
            permutation=dataclasses.replace(d.permutation, p_value_holm=permuted[index]),
            topics=tuple(dataclasses.replace(t, p_value_holm=p) for t, p in zip(d.topics, per_topic)),
        ))
    return tuple(out)


def _bootstrap(counts: np.ndarray, code: np.ndarray, n_models: int, threshold: int, n_resamples: int, seed: int) -> dict:
    """Bootstrap draws of each model's mean_rating and pooled share of ratings successful:
    {"mean": (M, B), "pooled": (M, B)}. counts : (n, 5) rated attacks of known models; code : (n,)."""
    draws = {name: np.full((n_models, n_resamples), np.nan) for name in ("mean", "pooled")}
    if not len(counts):
        return draws
    resampled = resample_tasks(counts, n_resamples, seed, strata=code)
    rows = resampled.rows.astype(np.float64)
    n = rows.sum(axis=1)
    features = np.column_stack([rows @ np.arange(N_CATEGORIES) / n, rows[:, threshold:].sum(axis=1), n])
    for model in np.unique(resampled.stratum):
        columns = resampled.stratum == model
        size = resampled.weights[0, columns].sum()
        totals = resampled.weights[:, columns] @ features[columns]  # (B, 3)
        draws["mean"][model] = totals[:, 0] / size
        draws["pooled"][model] = totals[:, 1] / totals[:, 2]
    return draws


def _pooled_interval(above: float, ratings: float, attacks: int, draws: np.ndarray) -> Interval:
    """The pooled share of ratings: the bootstrap over attacks, unless every rating or none is
    successful, where every resample repeats the share (a zero-width interval): then the Wilson
    interval with each attack counted once (as if its ratings were one), the most cautious
    effective sample size for clustered ratings."""
    if above in (0, ratings):
        return wilson(attacks if above else 0, attacks)
    return percentile_interval(draws)


def _topic_shares(carried: np.ndarray, n: int, without: Interval | None) -> tuple[TopicShare, ...]:
    """Each topic's share of a model's n rated attacks, with its Wilson interval (`without` when it has none)."""
    if not n:
        return tuple(TopicShare(topic, 0, Estimate(None, NO_RATED), Interval(None, None, NO_RATED)) for topic in TOPICS)
    if without is None:
        from statsmodels.stats.proportion import proportion_confint

        low, high = _exact_ends(carried, n, *proportion_confint(carried, n, alpha=ALPHA, method="wilson"))
    return tuple(
        TopicShare(topic, int(carried[t]), Estimate(float(carried[t] / n)), without or Interval(float(low[t]), float(high[t])))
        for t, topic in enumerate(TOPICS)
    )


def _difference(first: Estimate, second: Estimate) -> Estimate:
    if first.value is None or second.value is None:
        return Estimate(None, first.reason or second.reason)
    return Estimate(first.value - second.value)
