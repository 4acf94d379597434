"""Attack success by model, the paper's question: per-model statistics, their differences, and a test.

For each model ("<model_type> <num_params>"), over its attacks with at least one valid rating:
- mean_rating: the mean over attacks of each attack's mean valid rating;
- share_successful: the mean over attacks of each attack's share of valid ratings at or above
  the threshold;
- topics: the share of attacks carrying each consensus topic.

Intervals are 95% percentile bootstrap intervals over attacks, resampled within each model (the
sample's design draws a fixed number of attacks per model), seeded, with no Python loop over
attacks or resamples: an attack's mean and share depend only on its row of rating counts, so B
resamples are one multinomial draw per model over the distinct rows (kappa.resample_tasks) and
one matrix product; a topic share is a mean of 0/1 values, whose bootstrap distribution is
exactly Binomial(n, share) / n, drawn as such. The difference of two models is taken resample
by resample (the models are resampled independently), and its percentile interval reported.

The test of each pair of models: a proportional-odds (ordinal logistic) regression of every
valid rating on the model, statsmodels' OrderedModel with the logit link, with standard errors
clustered by attack (an attack's ratings are not independent). A pair's contrast is the log
odds ratio of a higher rating (first model against second; positive: the first model's attacks
are rated more successful), with a Wald z-test and a 95% interval.

Why this fit, and how it meets the 2 s budget of `results` (measured on 155,844 ratings of
38,961 attacks, 2 cores): GEE with an exchangeable working correlation took 4.1 s (its
covariance loops over the 38,961 clusters in Python) and OrderedModel on every rating with
cov_type="cluster" 12 s (numerical derivatives over every row); a linear model with clustered
errors would be fast but treats the 0-4 scale as interval. With the model as the only covariate
the likelihood depends on a rating only through its (model, value) cell, so the same
OrderedModel is fitted on those at most 5 x M cells, each weighted by its count: the same
maximum and the same Hessian. The clustered sandwich is then built from each attack's score,
the sum of its cells' scores, with statsmodels' own small-sample factor G/(G-1) (n-1)/(n-k).
tests/test_results_models.py checks parameters and standard errors against a direct
OrderedModel(...).fit(cov_type="cluster") on every rating. It takes about 0.1 s at full size.
"""

from __future__ import annotations

import functools
import itertools
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from review_project.agreement.kappa import Estimate, Interval, percentile_interval, resample_tasks
from review_project.results.values import put
from review_project.schema import SUCCESS_VALUES, TOPICS

N_CATEGORIES = len(SUCCESS_VALUES)
NO_MODELS = "no model known (models come from the sample manifest: --manifest)"
BOOTSTRAP = "95% percentile bootstrap over attacks, resampled within each model"
ORDINAL_METHOD = (
    "proportional-odds logistic regression of every valid rating on the model (statsmodels OrderedModel, "
    "logit), standard errors clustered by attack; Wald z-test of the pair's log odds ratio"
)


@dataclass(frozen=True)
class TopicShare:
    """The share of a model's rated attacks whose consensus topics include `topic`."""

    topic: str
    attacks: int
    share: Estimate
    ci95: Interval

    def as_json(self) -> dict:
        # No reasons here: a share is undefined only when its model has no rated attack, which
        # the model's own mean_rating_reason says.
        return {"attacks": self.attacks, "share": self.share.value, "ci95": self.ci95.as_list()}


@dataclass(frozen=True)
class ModelResult:
    """One model: attacks with a valid rating, unrated ones, ratings, disputed; the two statistics
    with their intervals; each topic's share."""

    model: str
    attacks: int
    unrated_attacks: int
    ratings: int
    disputed: int
    mean_rating: Estimate
    mean_rating_ci95: Interval
    share_successful: Estimate
    share_successful_ci95: Interval
    topics: tuple[TopicShare, ...]

    def as_json(self) -> dict:
        out = {"attacks": self.attacks, "unrated_attacks": self.unrated_attacks, "ratings": self.ratings, "disputed": self.disputed}
        for name in ("mean_rating", "mean_rating_ci95", "share_successful", "share_successful_ci95"):
            put(out, name, getattr(self, name))
        out["topics"] = {share.topic: share.as_json() for share in self.topics}
        return out


@dataclass(frozen=True)
class OrdinalContrast:
    """The ordinal model's contrast of two models: log odds ratio of a higher rating, its normal
    95% interval, z and the two-sided p-value (None, with the reason, when there is no fit)."""

    log_odds_ratio: Estimate
    ci95: Interval
    z: float | None
    p_value: float | None

    def as_json(self) -> dict:
        out = {"method": ORDINAL_METHOD}
        put(out, "log_odds_ratio", self.log_odds_ratio)
        put(out, "log_odds_ratio_ci95", self.ci95)
        out["odds_ratio"] = None if self.log_odds_ratio.value is None else float(np.exp(self.log_odds_ratio.value))
        out["z"] = self.z
        out["p_value"] = self.p_value
        return out


@dataclass(frozen=True)
class ModelDifference:
    """first - second: the difference of each statistic with its bootstrap interval, and the test."""

    first: str
    second: str
    mean_rating: Estimate
    mean_rating_ci95: Interval
    share_successful: Estimate
    share_successful_ci95: Interval
    test: OrdinalContrast

    @property
    def name(self) -> str:
        return f"{self.first} - {self.second}"

    def as_json(self) -> dict:
        out: dict = {"models": [self.first, self.second]}
        for name in ("mean_rating", "mean_rating_ci95", "share_successful", "share_successful_ci95"):
            put(out, name, getattr(self, name))
        out["test"] = self.test.as_json()
        return out


@dataclass(frozen=True)
class OrdinalFit:
    """The ordinal regression behind the tests: models (the first is the reference), params
    (the model coefficients then the thresholds, as OrderedModel orders them), their clustered
    covariance, and what it was fitted on; reason when there is no fit."""

    models: tuple[str, ...]
    params: np.ndarray | None
    cov: np.ndarray | None
    ratings: int
    attacks: int
    reason: str | None = None

    def contrast(self, first: str, second: str) -> OrdinalContrast:
        if self.params is None:
            return OrdinalContrast(Estimate(None, self.reason), Interval(None, None, self.reason), None, None)
        if first not in self.models or second not in self.models:
            reason = "a model without a rated attack"
            return OrdinalContrast(Estimate(None, reason), Interval(None, None, reason), None, None)
        weights = np.zeros(len(self.params))
        for model, sign in ((first, 1.0), (second, -1.0)):
            index = self.models.index(model)
            if index:  # the reference model's coefficient is 0
                weights[index - 1] = sign
        value = float(weights @ self.params)
        error = float(np.sqrt(weights @ self.cov @ weights))
        if not np.isfinite(error) or error <= 0:
            reason = "the clustered standard error is not defined"
            return OrdinalContrast(Estimate(value), Interval(None, None, reason), None, None)
        z = value / error
        half = stats.norm.ppf(0.975) * error
        return OrdinalContrast(Estimate(value), Interval(float(value - half), float(value + half)), float(z), float(2 * stats.norm.sf(abs(z))))


@dataclass(frozen=True)
class ModelResults:
    """Every model's results, each pair's difference, and the ordinal fit; reason when no model is known."""

    per_model: tuple[ModelResult, ...]
    differences: tuple[ModelDifference, ...]
    fit: OrdinalFit | None
    reason: str | None = None


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
) -> ModelResults:
    """Per-model statistics with bootstrap intervals, every pair's difference, and the ordinal test.

    counts : int (N, 5), each attack's valid ratings of each value; consensus : bool (N, T);
    model : object (N,), "<model_type> <num_params>" or None; disputed : bool (N,).
    """
    counts = np.asarray(counts, dtype=np.int64)
    consensus = np.asarray(consensus, dtype=bool)
    disputed = np.asarray(disputed, dtype=bool)
    code, models = model_codes(model)
    if not models:
        return ModelResults((), (), None, NO_MODELS)
    n_ratings = counts.sum(axis=1)
    rated = (n_ratings > 0) & (code >= 0)
    mean = np.divide(counts @ np.arange(N_CATEGORIES), n_ratings, out=np.full(len(counts), np.nan), where=n_ratings > 0)
    share = np.divide(counts[:, threshold:].sum(axis=1), n_ratings, out=np.full(len(counts), np.nan), where=n_ratings > 0)
    draws = _bootstrap(counts[rated], code[rated], len(models), threshold, n_resamples, seed)
    topic_draws = _topic_bootstrap(consensus[rated], code[rated], len(models), n_resamples, seed)

    per_model = []
    for index, name in enumerate(models):
        mine = rated & (code == index)
        n = int(mine.sum())
        none = "no attack of this model has a valid rating"
        per_model.append(
            ModelResult(
                model=name,
                attacks=n,
                unrated_attacks=int(((code == index) & ~rated).sum()),
                ratings=int(n_ratings[mine].sum()),
                disputed=int((disputed & mine).sum()),
                mean_rating=Estimate(float(mean[mine].mean())) if n else Estimate(None, none),
                mean_rating_ci95=percentile_interval(draws["mean"][index]) if n else Interval(None, None, none),
                share_successful=Estimate(float(share[mine].mean())) if n else Estimate(None, none),
                share_successful_ci95=percentile_interval(draws["share"][index]) if n else Interval(None, None, none),
                topics=_topic_shares(consensus[mine], topic_draws[index], none),
            )
        )

    fit = ordinal_fit(counts[rated], code[rated], models)
    differences = []
    for first, second in itertools.combinations(range(len(models)), 2):
        a, b = per_model[first], per_model[second]
        differences.append(
            ModelDifference(
                first=a.model,
                second=b.model,
                mean_rating=_difference(a.mean_rating, b.mean_rating),
                mean_rating_ci95=_difference_interval(draws["mean"], first, second, a, b),
                share_successful=_difference(a.share_successful, b.share_successful),
                share_successful_ci95=_difference_interval(draws["share"], first, second, a, b),
                test=fit.contrast(a.model, b.model),
            )
        )
    return ModelResults(tuple(per_model), tuple(differences), fit)


def _bootstrap(counts: np.ndarray, code: np.ndarray, n_models: int, threshold: int, n_resamples: int, seed: int) -> dict:
    """Bootstrap draws of each model's mean_rating and share_successful: {"mean": (M, B), "share": (M, B)}.

    counts : (n, 5) rated attacks of known models; code : (n,) their model.
    """
    draws = {name: np.full((n_models, n_resamples), np.nan) for name in ("mean", "share")}
    if not len(counts):
        return draws
    resampled = resample_tasks(counts, n_resamples, seed, strata=code)
    rows = resampled.rows.astype(np.float64)
    n = rows.sum(axis=1)
    features = np.column_stack([rows @ np.arange(N_CATEGORIES) / n, rows[:, threshold:].sum(axis=1) / n])
    for model in np.unique(resampled.stratum):
        columns = resampled.stratum == model
        size = resampled.weights[0, columns].sum()
        totals = resampled.weights[:, columns] @ features[columns] / size  # (B, 2)
        draws["mean"][model], draws["share"][model] = totals[:, 0], totals[:, 1]
    return draws


def _topic_bootstrap(consensus: np.ndarray, code: np.ndarray, n_models: int, n_resamples: int, seed: int) -> np.ndarray:
    """Bootstrap draws of each model's topic shares, (M, B, T): Binomial(n, share) / n per topic."""
    rng = np.random.default_rng([seed, 1])
    n = np.bincount(code, minlength=n_models).astype(np.int64)
    carried = np.zeros((n_models, consensus.shape[1]))
    np.add.at(carried, code, consensus)
    share = np.divide(carried, n[:, None], out=np.zeros_like(carried), where=n[:, None] > 0)
    drawn = rng.binomial(n[:, None, None], share[:, None, :], size=(n_models, n_resamples, consensus.shape[1]))
    return np.divide(drawn, n[:, None, None], out=np.full(drawn.shape, np.nan), where=n[:, None, None] > 0)


def _topic_shares(members: np.ndarray, draws: np.ndarray, none: str) -> tuple[TopicShare, ...]:
    n = len(members)
    if not n:
        return tuple(TopicShare(topic, 0, Estimate(None, none), Interval(None, None, none)) for topic in TOPICS)
    carried = members.sum(axis=0)
    low, high = np.quantile(draws, [0.025, 0.975], axis=0)
    return tuple(
        TopicShare(topic, int(carried[t]), Estimate(float(carried[t] / n)), Interval(float(low[t]), float(high[t]), None, draws.shape[0], 0))
        for t, topic in enumerate(TOPICS)
    )


def _difference(first: Estimate, second: Estimate) -> Estimate:
    if first.value is None or second.value is None:
        return Estimate(None, first.reason or second.reason)
    return Estimate(first.value - second.value)


def _difference_interval(draws: np.ndarray, first: int, second: int, a: ModelResult, b: ModelResult) -> Interval:
    if not a.attacks or not b.attacks:
        return Interval(None, None, "a model without a rated attack")
    return percentile_interval(draws[first] - draws[second])


# --- the ordinal regression -----------------------------------------------------------------------


def ordinal_fit(counts, code, models: list[str]) -> OrdinalFit:
    """The proportional-odds regression of every valid rating on the model, clustered by attack.

    counts : int (n, 5), each rated attack's ratings of each value; code : int (n,), its model
    (an index into models). Models without a rated attack are left out; the first of the others
    is the reference.
    """
    counts = np.asarray(counts, dtype=np.int64)
    n_ratings = int(counts.sum())
    n_attacks = int(len(counts))
    # Only the models with a rated attack enter the fit (the first of them is the reference).
    used, code = np.unique(np.asarray(code, dtype=np.int64), return_inverse=True)
    models = [models[i] for i in used]
    n_models = len(models)
    reason = None
    if n_models < 2:
        reason = "fewer than 2 models with a rated attack"
    elif np.count_nonzero(counts.sum(axis=0)) < 2:
        reason = "every rating is the same"
    if reason:
        return OrdinalFit(tuple(models), None, None, n_ratings, n_attacks, reason)

    cells = np.zeros((n_models, N_CATEGORIES))
    np.add.at(cells, code, counts)
    cell_model, cell_value = np.nonzero(cells)
    weight = cells[cell_model, cell_value]
    exog = (cell_model[:, None] == np.arange(1, n_models)[None, :]).astype(np.float64)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = _cell_model(cell_value.astype(np.float64), exog, weight)
            fitted = model.fit(method="newton", maxiter=100, tol=1e-8, disp=False)
            params = np.asarray(fitted.params, dtype=np.float64)
            hessian_inv = np.linalg.inv(model.hessian(params))
            per_rating = model.score_obs(params) / weight[:, None]  # each cell's score for one rating
    except (np.linalg.LinAlgError, ValueError) as error:
        return OrdinalFit(tuple(models), None, None, n_ratings, n_attacks, f"the ordinal fit failed ({type(error).__name__})")
    # Newton's own test is on the step; a score near 0 per rating is as good a sign of the maximum.
    converged = fitted.mle_retvals.get("converged", False) or np.abs(model.score(params)).max() < 1e-6 * n_ratings
    if not converged or not np.all(np.isfinite(params)) or not np.all(np.isfinite(hessian_inv)):
        reason = "the ordinal fit did not converge (a model's ratings may all sit at one end of the scale)"
        return OrdinalFit(tuple(models), None, None, n_ratings, n_attacks, reason)

    # Each attack's score: the sum over its ratings of its (model, value) cell's score.
    score_of = np.zeros((n_models, N_CATEGORIES, len(params)))
    score_of[cell_model, cell_value] = per_rating
    attack_scores = np.einsum("nk,nkp->np", counts, score_of[code])
    meat = attack_scores.T @ attack_scores
    k = len(params)
    correction = n_attacks / (n_attacks - 1.0) * (n_ratings - 1.0) / (n_ratings - k)
    cov = hessian_inv @ meat @ hessian_inv * correction
    return OrdinalFit(tuple(models), params, cov, n_ratings, n_attacks)


@functools.cache
def _cell_model_class():
    """OrderedModel on distinct (model, rating) cells, each standing for `cell_weight` ratings.

    A cell's log-likelihood is its weight times one rating's, so the fit, its Hessian and (divided
    by the weight) each cell's score are those of the same model on every rating. statsmodels is
    imported here, when a fit is made, so `agreement` and the rest never load it.
    """
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    class CellOrderedModel(OrderedModel):
        cell_weight: np.ndarray

        def loglikeobs(self, params):
            return self.cell_weight * super().loglikeobs(params)

        @property
        def start_params(self):
            # As OrderedModel's own start, from the weighted frequencies of the ratings.
            freq = np.bincount(self.endog, weights=self.cell_weight) / self.cell_weight.sum()
            thresholds = self.transform_reverse_threshold_params(self.distr.ppf(np.clip(freq.cumsum(), 0, 1)))
            return np.concatenate((np.zeros(self.k_vars), thresholds))

    return CellOrderedModel


def _cell_model(endog: np.ndarray, exog: np.ndarray, weight: np.ndarray):
    model = _cell_model_class()(endog, exog, distr="logit")
    model.cell_weight = np.asarray(weight, dtype=np.float64)
    return model
