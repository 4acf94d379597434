"""The ordinal model behind "which model is harder to red-team": the clustered fit, separation, the
omnibus Wald test, and the per-cut check of proportional odds (results.pairs has the tests that
need no model: the permutation test over attacks and the rest).

The fit: a proportional-odds (ordinal logistic) regression of every valid rating on the model,
statsmodels' OrderedModel with the logit link, standard errors clustered by attack (an attack's
ratings are not independent). Why this fit, and how it meets the 2 s budget of `results`
(measured on 155,844 ratings of 38,961 attacks, 2 cores): GEE with an exchangeable working
correlation took 4.1 s and OrderedModel on every rating with cov_type="cluster" 12 s. With the
model as the only covariate the likelihood depends on a rating only through its (model, value)
cell, so the same OrderedModel is fitted on those at most 5 x M cells, each weighted by its count:
the same maximum and the same Hessian. The clustered sandwich is then built from each attack's
score, the sum of its cells' scores, with statsmodels' own small-sample factor G/(G-1) (n-1)/(n-k).

Separation: when the ratings of some models do not overlap (complete separation) or overlap only
at one rating (quasi-complete), the likelihood has no finite maximum: the coefficient runs off
while the score goes to 0, and a fit reports a huge estimate with a huge interval. `separation`
finds it before any fit, from each model's lowest and highest rating (the rule is derived in its
docstring), and the contrast is then "not estimable by the ordinal model". The permutation test
over attacks (results.pairs) needs no model and is given for every pair.

Proportional odds is an assumption: `cut_comparisons` gives, for a pair, one binary logit per cut
(rating >= c, c = 1..4) clustered by attack, and a Brant-type Wald test that their log odds ratios
are equal, from their joint clustered covariance.

Normal and chi-square tails come from scipy.special (ndtr, ndtri, chdtrc: what scipy.stats' norm
and chi2 compute them with), so that `agreement`, which imports the reports, never pays the 0.5 s
import of scipy.stats.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import special

from review_project.agreement.contract import put
from review_project.agreement.kappa import Estimate, Interval
from review_project.schema import SUCCESS_VALUES

N_CATEGORIES = len(SUCCESS_VALUES)
CUTS = tuple(range(1, N_CATEGORIES))
NOT_ESTIMABLE = "not estimable by the ordinal model"
ORDINAL_METHOD = (
    "proportional-odds logistic regression of every valid rating on the model (statsmodels OrderedModel, "
    "logit), standard errors clustered by attack; Wald z-test of the pair's log odds ratio"
)
OMNIBUS_METHOD = (
    "Wald chi-square test that every model coefficient of the ordinal fit is 0 (all models alike), "
    "clustered covariance, df = models - 1"
)
CUT_METHOD = (
    "one binary logistic regression per cut (rating >= cut) on the pair's valid ratings, standard errors "
    "clustered by attack; Brant-type Wald chi-square test that the cut-specific log odds ratios are equal "
    "(df = estimable cuts - 1); proportional odds fails when p < 0.05"
)


def _null_interval(reason: str) -> Interval:
    return Interval(None, None, reason)


# --- separation -----------------------------------------------------------------------------------


def separation(lowest, highest, names) -> str | None:
    """Why the ordinal fit of these models has no finite maximum (complete or quasi-complete
    separation), or None when it has one.

    lowest, highest : int (M,), each model's lowest and highest valid rating; names : (M,).
    On the ratings given (values nobody gave are not categories of the fit), the likelihood runs
    off along some direction of (coefficients, thresholds) exactly when either a model's ratings
    all sit in the lowest or all in the highest category, or two neighbouring thresholds j, j+1
    are tied by no model (no model's ratings reach from category j to j+2): each model that
    spans categories lo..hi ties thresholds lo..hi-1 to its coefficient, and a free pair of
    thresholds lets the models below and above them part for ever.
    """
    lowest, highest = np.asarray(lowest), np.asarray(highest)
    names = [str(n) for n in names]
    given = np.unique(np.concatenate([lowest, highest]))
    low, high = np.searchsorted(given, lowest), np.searchsorted(given, highest)
    k = len(given)
    if k < 2:
        return None  # one category: no fit at all, said elsewhere
    # A clean cut between two ratings: complete separation.
    for cut in range(k - 1):
        below, above = high <= cut, low > cut
        if np.all(below | above):
            return (
                f"complete separation: every rating of {_join(names, below)} is at most {given[cut]} "
                f"and every rating of {_join(names, above)} at least {given[cut + 1]}"
            )
    for end, word in ((0, "lowest"), (k - 1, "highest")):
        alone = (low == end) & (high == end)
        if alone.any():
            return f"quasi-complete separation: every rating of {_join(names, alone)} is {given[end]}, the {word} rating given"
    for j in range(k - 2):
        if not np.any((low <= j) & (high >= j + 2)):
            at = given[j + 1]
            below, above = high <= j + 1, ~(high <= j + 1)
            return (
                f"quasi-complete separation: the ratings of {_join(names, below)} (at most {at}) and of "
                f"{_join(names, above)} (at least {at}) overlap only at {at}"
            )
    return None


def _join(names: list[str], chosen: np.ndarray) -> str:
    return ", ".join(name for name, keep in zip(names, chosen) if keep)


def rating_range(counts: np.ndarray, code: np.ndarray, n_models: int) -> tuple[np.ndarray, np.ndarray]:
    """Each model's lowest and highest valid rating (-1 / -1 when it has none): (M,), (M,)."""
    cells = np.zeros((n_models, N_CATEGORIES))
    np.add.at(cells, code, counts)
    seen = cells > 0
    lowest = np.where(seen.any(axis=1), seen.argmax(axis=1), -1)
    highest = np.where(seen.any(axis=1), N_CATEGORIES - 1 - seen[:, ::-1].argmax(axis=1), -1)
    return lowest, highest


# --- the fit --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrdinalContrast:
    """The ordinal model's contrast of two models: log odds ratio of a higher rating, its normal
    95% interval, z and the two-sided p-value (None, with the reason, when there is no fit);
    p_value_holm once the pairs are adjusted together; what it was fitted on."""

    log_odds_ratio: Estimate
    ci95: Interval
    z: float | None
    p_value: float | None
    fitted_on: str | None = None
    p_value_holm: float | None = None

    def as_json(self) -> dict:
        out = {"method": ORDINAL_METHOD, "fitted_on": self.fitted_on}
        put(out, "log_odds_ratio", self.log_odds_ratio)
        put(out, "log_odds_ratio_ci95", self.ci95)
        out["odds_ratio"] = None if self.log_odds_ratio.value is None else float(np.exp(self.log_odds_ratio.value))
        out["z"] = self.z
        out["p_value"] = self.p_value
        out["p_value_holm"] = self.p_value_holm
        return out


def no_contrast(reason: str) -> OrdinalContrast:
    return OrdinalContrast(Estimate(None, reason), _null_interval(reason), None, None)


@dataclass(frozen=True)
class Omnibus:
    """The Wald test that all models are alike: chi-square, df, p (None, with the reason, without a fit)."""

    chi2: float | None
    df: int | None
    p_value: float | None
    reason: str | None = None

    def as_json(self) -> dict:
        return {"method": OMNIBUS_METHOD, "chi2": self.chi2, "df": self.df, "p_value": self.p_value, "p_value_reason": self.reason}


@dataclass(frozen=True)
class OrdinalFit:
    """The ordinal regression behind the tests: models (the first is the reference), params
    (the model coefficients then the thresholds, as OrderedModel orders them), their clustered
    covariance, and what it was fitted on; reason when there is no fit (separated: the separation)."""

    models: tuple[str, ...]
    params: np.ndarray | None
    cov: np.ndarray | None
    ratings: int
    attacks: int
    reason: str | None = None
    separated: bool = False

    def contrast(self, first: str, second: str, fitted_on: str = "every model") -> OrdinalContrast:
        if self.params is None:
            return no_contrast(self.reason)
        if first not in self.models or second not in self.models:
            return no_contrast("a model without a rated attack")
        weights = np.zeros(len(self.params))
        for model, sign in ((first, 1.0), (second, -1.0)):
            index = self.models.index(model)
            if index:  # the reference model's coefficient is 0
                weights[index - 1] = sign
        value = float(weights @ self.params)
        error = float(np.sqrt(weights @ self.cov @ weights))
        if not np.isfinite(error) or error <= 0:
            reason = "the clustered standard error is not defined"
            return OrdinalContrast(Estimate(value), _null_interval(reason), None, None, fitted_on)
        z = value / error
        half = special.ndtri(0.975) * error
        return OrdinalContrast(
            Estimate(value), Interval(float(value - half), float(value + half)), float(z), float(2 * special.ndtr(-abs(z))), fitted_on,
        )

    def omnibus(self) -> Omnibus:
        """Wald test that every model coefficient is 0, with the clustered covariance."""
        if self.params is None:
            return Omnibus(None, None, None, self.reason)
        m = len(self.models) - 1
        beta, cov = self.params[:m], self.cov[:m, :m]
        try:
            chi2 = float(beta @ np.linalg.solve(cov, beta))
        except np.linalg.LinAlgError:
            return Omnibus(None, m, None, "the clustered covariance of the model coefficients is singular")
        if not np.isfinite(chi2) or chi2 < 0:
            return Omnibus(None, m, None, "the clustered covariance of the model coefficients is singular")
        return Omnibus(chi2, m, float(special.chdtrc(m, chi2)))


def ordinal_fit(counts, code, models: list[str]) -> OrdinalFit:
    """The proportional-odds regression of every valid rating on the model, clustered by attack.

    counts : int (n, 5), each rated attack's ratings of each value; code : int (n,), its model
    (an index into models). Models without a rated attack are left out; the first of the others
    is the reference. Separation is found before fitting; a warning of the fit becomes the reason.
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
    separated = separation(*rating_range(counts, code, n_models), models)
    if separated:
        return OrdinalFit(tuple(models), None, None, n_ratings, n_attacks, f"{NOT_ESTIMABLE}: {separated}", separated=True)

    cells = np.zeros((n_models, N_CATEGORIES))
    np.add.at(cells, code, counts)
    cell_model, cell_value = np.nonzero(cells)
    weight = cells[cell_model, cell_value]
    exog = (cell_model[:, None] == np.arange(1, n_models)[None, :]).astype(np.float64)
    try:
        with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
            warnings.simplefilter("always")
            model = _cell_model(cell_value.astype(np.float64), exog, weight)
            # Newton's test is on the step, and this Hessian is numerical: at 155,844 ratings its
            # noise kept every step above 1e-8, so the fit ran all 100 iterations (5.8 s) to the
            # point 3 iterations reach (0.17 s; 9e-8 apart, a thousandth of a standard error).
            fitted = model.fit(method="newton", maxiter=50, tol=1e-6, disp=False)
            params = np.asarray(fitted.params, dtype=np.float64)
            hessian_inv = np.linalg.inv(model.hessian(params))
            per_rating = model.score_obs(params) / weight[:, None]  # each cell's score for one rating
    except (np.linalg.LinAlgError, ValueError) as error:
        return OrdinalFit(tuple(models), None, None, n_ratings, n_attacks, f"the ordinal fit failed ({type(error).__name__})")
    # Newton's own test is on the step; a score near 0 per rating is as good a sign of the maximum
    # (separation, where the score also goes to 0, is ruled out above).
    converged = fitted.mle_retvals.get("converged", False) or np.abs(model.score(params)).max() < 1e-6 * n_ratings
    if not converged or not np.all(np.isfinite(params)) or not np.all(np.isfinite(hessian_inv)):
        said = "; ".join(sorted({f"{w.category.__name__}: {w.message}" for w in caught}))
        reason = "the ordinal fit did not converge" + (f" (statsmodels: {said})" if said else "")
        return OrdinalFit(tuple(models), None, None, n_ratings, n_attacks, reason)

    # Each attack's score: the sum over its ratings of its (model, value) cell's score.
    score_of = np.zeros((n_models, N_CATEGORIES, len(params)))
    score_of[cell_model, cell_value] = per_rating
    attack_scores = np.einsum("nk,nkp->np", counts, score_of[code])
    meat = attack_scores.T @ attack_scores
    k = len(params)
    if n_ratings <= k:
        return OrdinalFit(tuple(models), None, None, n_ratings, n_attacks, f"too few ratings ({n_ratings}) for the {k} parameters of the ordinal fit")
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


# --- proportional odds: one binary logit per cut ------------------------------------------------


@dataclass(frozen=True)
class CutComparison:
    """The pair's log odds ratio of rating >= cut (first against second), its interval and p."""

    cut: int
    log_odds_ratio: Estimate
    ci95: Interval
    p_value: float | None

    def as_json(self) -> dict:
        out: dict = {"cut": self.cut}
        put(out, "log_odds_ratio", self.log_odds_ratio)
        put(out, "log_odds_ratio_ci95", self.ci95)
        out["p_value"] = self.p_value
        return out


@dataclass(frozen=True)
class ProportionalOdds:
    """The per-cut comparisons of a pair and the Brant-type test that they are equal."""

    cuts: tuple[CutComparison, ...]
    chi2: float | None
    df: int | None
    p_value: float | None
    reason: str | None = None

    @property
    def holds(self) -> bool | None:
        """False when the test rejects equal log odds ratios at 0.05; None without a test."""
        return None if self.p_value is None else bool(self.p_value >= 0.05)

    def as_json(self) -> dict:
        return {
            "method": CUT_METHOD, "cuts": [c.as_json() for c in self.cuts], "chi2": self.chi2, "df": self.df,
            "p_value": self.p_value, "p_value_reason": self.reason, "holds": self.holds,
        }


def no_cut_comparisons(reason: str) -> ProportionalOdds:
    return ProportionalOdds(tuple(CutComparison(c, Estimate(None, reason), _null_interval(reason), None) for c in CUTS), None, None, None, reason)


def cut_comparisons(counts, is_first, names: tuple[str, str]) -> ProportionalOdds:
    """One binary logit per cut of a pair's ratings, clustered by attack, and their equality test.

    counts : int (n, 5), the pair's rated attacks; is_first : bool (n,). With one binary covariate
    the fit is closed-form: each model's pooled share p of ratings >= cut, log odds ratio
    logit(p_first) - logit(p_second). Its clustered variance, and the covariance across cuts, come
    from each attack's influence (ratings >= cut - n_ratings p) / (N p (1 - p)) with the sign of its
    model, times statsmodels' small-sample factor G/(G-1) (N-1)/(N-2) of a single cut's fit.
    """
    counts = np.asarray(counts, dtype=np.float64)
    is_first = np.asarray(is_first, dtype=bool)
    n = counts.sum(axis=1)
    above = np.cumsum(counts[:, ::-1], axis=1)[:, ::-1][:, 1:]  # (n, 4): ratings >= cut
    groups = (is_first, ~is_first)
    ratings = np.array([n[g].sum() for g in groups])  # (2,)
    shares = np.array([above[g].sum(axis=0) for g in groups]) / ratings[:, None]  # (2, 4)
    estimable = np.all((shares > 0) & (shares < 1), axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        logits = np.log(shares / (1 - shares))
        information = ratings[:, None] * shares * (1 - shares)  # (2, 4)
        g = np.where(is_first, 0, 1)
        influence = (above - n[:, None] * shares[g]) / information[g] * np.where(is_first, 1.0, -1.0)[:, None]
        estimate = np.where(estimable, logits[0] - logits[1], 0.0)  # 0 where undefined: never used, keeps products finite
    n_attacks, n_ratings = len(counts), ratings.sum()
    if n_ratings <= 2:
        return no_cut_comparisons("too few ratings for a binary logit per cut")
    correction = n_attacks / (n_attacks - 1.0) * (n_ratings - 1.0) / (n_ratings - 2.0)
    influence = np.where(estimable, influence, 0.0)
    cov = influence.T @ influence * correction  # (4, 4)
    z_975 = special.ndtri(0.975)
    found = []
    for index, cut in enumerate(CUTS):
        if not estimable[index]:
            edge = [name for name, share in zip(names, shares[:, index]) if share in (0.0, 1.0)]
            side = ["none" if shares[names.index(e), index] == 0 else "all" for e in edge]
            reason = "separation at this cut: " + "; ".join(f"{s} of the ratings of {e} are >= {cut}" for s, e in zip(side, edge))
            found.append(CutComparison(cut, Estimate(None, reason), _null_interval(reason), None))
            continue
        error = float(np.sqrt(cov[index, index]))
        value = float(estimate[index])
        if not error > 0:
            reason = "the clustered standard error is not defined"
            found.append(CutComparison(cut, Estimate(value), _null_interval(reason), None))
            continue
        found.append(CutComparison(
            cut, Estimate(value), Interval(value - z_975 * error, value + z_975 * error),
            float(2 * special.ndtr(-abs(value / error))),
        ))
    usable = np.flatnonzero([c.p_value is not None for c in found])
    if len(usable) < 2:
        return ProportionalOdds(tuple(found), None, None, None, "fewer than 2 cuts with an estimable log odds ratio")
    contrast = np.diff(np.eye(len(CUTS))[usable], axis=0)  # consecutive differences of the usable cuts
    difference = contrast @ estimate
    try:
        chi2 = float(difference @ np.linalg.solve(contrast @ cov @ contrast.T, difference))
    except np.linalg.LinAlgError:
        return ProportionalOdds(tuple(found), None, None, None, "the clustered covariance of the cuts is singular")
    df = len(usable) - 1
    return ProportionalOdds(tuple(found), chi2, df, float(special.chdtrc(df, chi2)))
