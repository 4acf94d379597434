"""Plan a review before it starts, and tell a review in progress whether it will be precise enough.

Pure: numbers in, numbers out, no I/O. The method and its references are in docs/planning.md.

How many attacks for a 95% interval of Fleiss' kappa of a given half-width? Fleiss' kappa is a
smooth function of two kinds of means over attacks: each attack's share of agreeing reviewer
pairs and its share of ratings in each category. Its large-sample (delta-method) variance is
therefore V / N for N attacks, with V the variance of one attack's influence value under the
distribution of an attack's row of category counts. That distribution comes from a generating
model (the "rating model"): each attack has a latent category drawn from the category shares,
and each of its n reviewers independently gives that category with probability sqrt(kappa),
else a draw from the shares. Any two reviewers then agree beyond chance exactly as Fleiss'
kappa = kappa says, and the distribution of a row is a finite mixture of multinomials that is
enumerated exactly (70 rows for 4 reviewers and 5 categories). At kappa = 0 the variance is
Fleiss, Nee & Landis' (1979) variance under no agreement, which is meant for testing kappa = 0
(tests/test_planning.py checks both).

Shapes: n reviewers per attack, K categories, D = C(n + K - 1, K - 1) possible rows of counts.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from review_project.agreement.kappa import fleiss_kappa_resampled

# The author's self-rating of every attack in the released red-team file (paper-facts.md):
# counts of 0, 1, 2, 3 and 4. The reviewers' own shares are not published.
PAPER_SELF_RATINGS = (16_475, 4_367, 4_936, 4_249, 8_934)
# The paper's Fleiss' kappa (3 reviewers plus the author): the 0-4 scale and success >= 3.
PAPER_KAPPA = 0.32
PAPER_BINARY_KAPPA = 0.49
PAPER_THRESHOLD = 3
# The default target: a 95% interval of kappa +/- 0.05 (`plan --half-width`, `agreement --half-width`).
DEFAULT_HALF_WIDTH = 0.05
# More possible rows of counts than this would make the exact enumeration slow.
MAX_ROWS = 200_000


@dataclass(frozen=True)
class RatingModel:
    """The generating model: how one attack's n ratings fall, given kappa and the category shares.

    rows : shape (D, K), every possible row of counts; probabilities : shape (D,), each row's
    probability. An attack's latent category c has probability shares[c]; each reviewer gives
    c with probability sqrt(kappa), else a draw from the shares.
    """

    kappa: float
    reviewers: int
    shares: tuple[float, ...]
    rows: np.ndarray = field(repr=False, compare=False)
    probabilities: np.ndarray = field(repr=False, compare=False)


def check_shares(shares) -> np.ndarray:
    """Category shares as proportions (counts are normalised); ValueError unless 2+ and all positive."""
    values = np.asarray(shares, dtype=np.float64)
    if values.ndim != 1 or values.size < 2:
        raise ValueError("give the share of at least 2 categories")
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError("every category's share must be a positive number")
    return values / values.sum()


def binary_shares(shares, threshold: int) -> np.ndarray:
    """Shares of (below threshold, at or above threshold) from shares of ratings 0..K-1, shape (2,)."""
    values = check_shares(shares)
    if not 1 <= threshold < values.size:
        raise ValueError(f"threshold must be between 1 and {values.size - 1}, got {threshold}")
    return np.array([values[:threshold].sum(), values[threshold:].sum()])


def count_rows(reviewers: int, n_categories: int) -> np.ndarray:
    """Every way n reviewers' ratings can fall in K categories, shape (D, K), D = C(n+K-1, K-1)."""
    n_rows = math.comb(reviewers + n_categories - 1, n_categories - 1)
    if n_rows > MAX_ROWS:
        raise ValueError(f"{reviewers} reviewers and {n_categories} categories make {n_rows:,} possible rows; at most {MAX_ROWS:,}")
    # Stars and bars: choosing the K-1 bar positions among n+K-1 slots gives each row once.
    bars = np.array(list(itertools.combinations(range(reviewers + n_categories - 1), n_categories - 1)), dtype=np.int64)
    bars = bars.reshape(n_rows, n_categories - 1)
    edges = np.column_stack([np.full(n_rows, -1), bars, np.full(n_rows, reviewers + n_categories - 1)])
    return np.diff(edges, axis=1) - 1


def rating_model(kappa: float, reviewers: int, shares) -> RatingModel:
    """The exact distribution of an attack's row of counts under the rating model (see RatingModel)."""
    if not 0 <= kappa < 1:
        raise ValueError(f"kappa must be at least 0 and below 1, got {kappa}")
    if reviewers < 2:
        raise ValueError(f"need at least 2 reviewers per attack, got {reviewers}")
    p = check_shares(shares)
    rows = count_rows(reviewers, p.size)
    faithful = math.sqrt(kappa)
    # Row c: a reviewer's category probabilities when the attack's latent category is c.
    given_latent = faithful * np.eye(p.size) + (1 - faithful) * p
    log_multinomial = special.gammaln(reviewers + 1) - special.gammaln(rows + 1).sum(axis=1)
    likelihood = np.exp(log_multinomial[:, None] + rows @ np.log(given_latent).T)  # (D, K)
    return RatingModel(float(kappa), int(reviewers), tuple(p.tolist()), rows, likelihood @ p)


def _influence(rows: np.ndarray, probabilities: np.ndarray) -> tuple[float, np.ndarray]:
    """Population Fleiss' kappa and each row's influence value on it, shape (D,).

    kappa = (P - S) / (1 - S) with P the mean share of agreeing pairs and S = sum_k p_k^2 of the
    mean category shares p; the influence of a row is the gradient times its deviation from the means.
    """
    n = rows.sum(axis=1).max()
    agreeing = ((rows * rows).sum(axis=1) - n) / (n * (n - 1.0))
    means = np.column_stack([agreeing, rows / n])  # (D, 1 + K)
    centre = probabilities @ means
    pairs, p = centre[0], centre[1:]
    chance = float(p @ p)
    gradient = np.concatenate([[1 / (1 - chance)], 2 * p * (pairs - 1) / (1 - chance) ** 2])
    return (pairs - chance) / (1 - chance), (means - centre) @ gradient


def kappa_variance(kappa: float, reviewers: int, shares) -> float:
    """Large-sample variance of Fleiss' kappa from ONE attack: Var(kappa_hat) ~ this / N for N attacks."""
    model = rating_model(kappa, reviewers, shares)
    _, influence = _influence(model.rows, model.probabilities)
    return float(model.probabilities @ influence**2)


def _z(level: float) -> float:
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    return float(special.ndtri((1 + level) / 2))  # stats.norm.ppf, without importing scipy.stats


def attacks_for_half_width(kappa: float, reviewers: int, shares, half_width: float, level: float = 0.95) -> int:
    """Fewest attacks whose large-sample interval of Fleiss' kappa has at most this half-width."""
    if not half_width > 0:
        raise ValueError(f"half_width must be positive, got {half_width}")
    needed = _z(level) ** 2 * kappa_variance(kappa, reviewers, shares) / half_width**2
    # Guard the ceiling against a float a hair above a whole number.
    return max(2, math.ceil(needed - 1e-9))


def half_width_for_attacks(kappa: float, reviewers: int, shares, attacks: int, level: float = 0.95) -> float:
    """Large-sample half-width of the interval of Fleiss' kappa from this many attacks."""
    if attacks < 1:
        raise ValueError(f"attacks must be at least 1, got {attacks}")
    return _z(level) * math.sqrt(kappa_variance(kappa, reviewers, shares) / attacks)


def mean_rating_sd(kappa: float, reviewers: int, shares) -> float:
    """SD over attacks of an attack's mean rating (ratings 0..K-1) under the rating model.

    sigma * sqrt(kappa + (1 - kappa) / n), sigma the SD of one rating under the shares: the
    latent category carries kappa of a rating's variance, and n reviewers average the rest.
    """
    rating_model(kappa, reviewers, shares)  # validates
    p = check_shares(shares)
    values = np.arange(p.size, dtype=np.float64)
    variance = float(p @ values**2 - (p @ values) ** 2)
    return math.sqrt(variance * (kappa + (1 - kappa) / reviewers))


def _solved(solve, gap) -> float:
    """The root of gap (statsmodels' power minus the power wanted), from statsmodels' solver.

    solve_power stops at a loose tolerance (power 0.80008 at 100,000 per group), so its answer
    is polished to the exact root of the same power function with scipy's brentq. Warnings are
    held back; ValueError if no root is found.
    """
    # Imported first: on import it files an "always" filter for ConvergenceWarning, which would
    # otherwise land in front of ours inside the block and let the warning through.
    import statsmodels.tools.sm_exceptions  # noqa: F401
    from scipy import optimize

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = float(np.asarray(solve()).ravel()[0])
        if not (np.isfinite(start) and start > 0):
            raise ValueError("statsmodels' power solver found no answer")
        low, high = start / 1.5, start * 1.5
        if not gap(low) < 0 < gap(high):
            raise ValueError("statsmodels' power solver found no answer")
        return float(optimize.brentq(gap, low, high, xtol=1e-14, rtol=1e-13))


def attacks_per_model_for_difference(difference: float, sd: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Attacks per model for a two-sided two-sample t-test to detect this difference in mean rating.

    statsmodels' TTestIndPower with equal groups and Cohen's d = difference / sd.
    """
    from statsmodels.stats.power import TTestIndPower

    _check_power_inputs(sd, alpha, power)
    if not difference > 0:
        raise ValueError(f"difference must be positive, got {difference}")
    analysis = TTestIndPower()
    effect = difference / sd
    if analysis.power(effect, 2, alpha, ratio=1.0) >= power:
        return 2  # so large a difference that the smallest t-test finds it; there is no root to solve for
    n = _solved(
        lambda: analysis.solve_power(effect_size=effect, nobs1=None, alpha=alpha, power=power, ratio=1.0),
        lambda n: analysis.power(effect, n, alpha, ratio=1.0) - power,
    )
    return max(2, math.ceil(n - 1e-9))


def minimum_detectable_difference(n_first: int, n_second: int, sd: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest difference in mean rating a two-sided two-sample t-test detects at this power.

    n_first, n_second : attacks of each model (2 or more each); sd : SD of an attack's mean
    rating. statsmodels' TTestIndPower solved for Cohen's d, times sd. ValueError on bad input.
    """
    found = float(minimum_detectable_differences(n_first, n_second, sd, alpha, power)[()])
    if np.isnan(found):
        raise ValueError("the t-test's power could not be computed for these groups")
    return found


def minimum_detectable_differences(n_first, n_second, sd, alpha: float = 0.05, power: float = 0.8) -> np.ndarray:
    """minimum_detectable_difference of many groups at once (arrays, broadcast together).

    statsmodels' TTestIndPower power function, evaluated on every group in one call, is solved for
    Cohen's d by one bisection over all of them: 66 pairs of models cost one solve, not 132 of
    statsmodels' solve_power at 16 ms each. NaN where no root is found.
    """
    from scipy import stats
    from statsmodels.stats.power import TTestIndPower

    n_first, n_second, sd = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (n_first, n_second, sd)))
    _check_power_inputs(sd, alpha, power)
    if np.any(np.minimum(n_first, n_second) < 2):
        raise ValueError(f"need at least 2 attacks in each group, got {n_first.astype(np.int64).tolist()} and {n_second.astype(np.int64).tolist()}")
    analysis = TTestIndPower()
    ratio = n_second / n_first
    df = n_first + n_second - 2
    upper = stats.t.isf(alpha / 2, df)
    failed = np.zeros(sd.shape, dtype=bool)

    def above(d):
        """Whether d has more than the power wanted. statsmodels adds the lower tail, P(t < -crit),
        which scipy's noncentral t gives as NaN when it underflows (at a noncentrality of 8 with
        2 degrees of freedom, say): there the power is the upper tail alone."""
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            found = analysis.power(d, n_first, alpha, ratio=ratio)
            lost = np.isnan(found)
            if lost.any():
                noncentrality = d * np.sqrt(n_first * n_second / (n_first + n_second))
                found = np.where(lost, stats.nct.sf(upper, df, noncentrality), found)
        np.logical_or(failed, np.isnan(found), out=failed)
        return found > power

    # Bracket: 0 has power alpha < power; the normal approximation's d, doubled until it has more.
    low = np.zeros(sd.shape)
    high = (stats.norm.isf(alpha / 2) + stats.norm.ppf(power)) * np.sqrt(1 / n_first + 1 / n_second)
    short = ~above(high)
    for _ in range(60):
        if not short.any():
            break
        low, high = np.where(short, high, low), np.where(short, 2 * high, high)
        short = ~above(high)
    bracketed = ~short
    for _ in range(200):  # about 50 halvings reach the tolerance
        if np.all(high - low <= 1e-14 + 1e-13 * high):
            break
        middle = (low + high) / 2
        up = above(middle)
        low, high = np.where(up, low, middle), np.where(up, middle, high)
    bracketed &= ~failed
    return np.where(bracketed, (low + high) / 2, np.nan) * sd


def _check_power_inputs(sd, alpha: float, power: float) -> None:
    sd = np.asarray(sd, dtype=np.float64)
    if not np.all(np.isfinite(sd) & (sd > 0)):
        raise ValueError(f"sd must be a positive number, got {sd.tolist()}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    if not alpha < power < 1:
        raise ValueError(f"power must be between alpha and 1, got {power}")


@dataclass(frozen=True)
class SimulatedHalfWidth:
    """The half-width achieved in simulated reviews: z x the SD of their Fleiss' kappas, or None and why."""

    half_width: float | None
    reason: str | None
    simulations: int
    undefined: int
    mean_kappa: float | None


def simulate_half_width(
    kappa: float, reviewers: int, shares, attacks: int, simulations: int = 2000, seed: int = 0, level: float = 0.95
) -> SimulatedHalfWidth:
    """Draw `simulations` reviews of `attacks` attacks from the rating model; z x SD of their kappas.

    Each review is one multinomial draw of how many attacks got each possible row (shape
    (simulations, D)), and all their kappas come from one matrix product
    (agreement.kappa.fleiss_kappa_resampled). Reviews where kappa is undefined are dropped and counted.
    """
    if attacks < 2:
        raise ValueError(f"attacks must be at least 2, got {attacks}")
    if simulations < 2:
        raise ValueError(f"simulations must be at least 2, got {simulations}")
    model = rating_model(kappa, reviewers, shares)
    rng = np.random.default_rng(seed)
    copies = rng.multinomial(attacks, model.probabilities, size=simulations)
    kappas = fleiss_kappa_resampled(model.rows, copies)
    finite = kappas[np.isfinite(kappas)]
    undefined = int(simulations - finite.size)
    if finite.size < 2 or undefined * 2 >= simulations:
        return SimulatedHalfWidth(None, f"kappa undefined in {undefined} of {simulations} simulated reviews", simulations, undefined, None)
    return SimulatedHalfWidth(float(_z(level) * finite.std(ddof=1)), None, simulations, undefined, float(finite.mean()))


def simulate_power(
    difference: float, sd: float, attacks_per_model: int, kappa: float, reviewers: int, shares,
    simulations: int = 2000, seed: int = 0, alpha: float = 0.05,
) -> float:
    """Share of simulated pairs of models in which a two-sided Student t-test finds the difference.

    Each attack's mean rating is drawn from the rating model (its real, discrete and skewed
    shape), rescaled to SD `sd`; the second model's attacks are shifted by `difference`.
    Vectorised: one multinomial draw per model over the distinct mean ratings.
    """
    if not (np.isfinite(sd) and sd > 0) or not 0 < alpha < 1:
        raise ValueError(f"sd must be positive and alpha between 0 and 1, got {sd} and {alpha}")
    if attacks_per_model < 2 or simulations < 1:
        raise ValueError("need at least 2 attacks per model and 1 simulation")
    model = rating_model(kappa, reviewers, shares)
    means = model.rows @ np.arange(model.rows.shape[1], dtype=np.float64) / reviewers
    values, which = np.unique(np.round(means, 12), return_inverse=True)
    probabilities = np.bincount(which.ravel(), weights=model.probabilities, minlength=values.size)
    centre = probabilities @ values
    spread = math.sqrt(probabilities @ (values - centre) ** 2)
    values = (values - centre) * (sd / spread)
    rng = np.random.default_rng(seed)
    first, second = (rng.multinomial(attacks_per_model, probabilities, size=simulations) for _ in range(2))
    n = attacks_per_model

    def mean_and_variance(copies):
        total, squares = copies @ values, copies @ values**2
        return total / n, (squares - total**2 / n) / (n - 1)

    (mean_a, var_a), (mean_b, var_b) = mean_and_variance(first), mean_and_variance(second)
    pooled = (var_a + var_b) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (mean_b + difference - mean_a) / np.sqrt(pooled * 2 / n)
    p_value = 2 * special.stdtr(2 * n - 2, -np.abs(t))  # stats.t.sf(|t|, 2n - 2) on both sides
    return float(np.mean(np.nan_to_num(p_value, nan=1.0) < alpha))


@dataclass(frozen=True)
class Projection:
    """The half-width of kappa's interval now, and projected to the review's planned size (1/sqrt(n)).

    projected_half_width and target_met are None with a reason when they cannot be said.
    """

    half_width_now: float | None
    attacks_now: int
    attacks_planned: int | None
    target_half_width: float | None
    projected_half_width: float | None
    projected_half_width_reason: str | None
    attacks_needed: int | None
    target_met: bool | None
    target_met_reason: str | None

    def as_json(self) -> dict:
        """The JSON contract: nulls beside their `_reason`."""
        return {
            "half_width_now": self.half_width_now,
            "attacks_now": self.attacks_now,
            "attacks_planned": self.attacks_planned,
            "projected_half_width": self.projected_half_width,
            "projected_half_width_reason": self.projected_half_width_reason,
            "target_half_width": self.target_half_width,
            "attacks_needed": self.attacks_needed,
            "target_met": self.target_met,
            "target_met_reason": self.target_met_reason,
        }


def interval_half_width(low: float | None, high: float | None) -> float | None:
    """Half the width of an interval [low, high], or None when there is no interval."""
    return None if low is None or high is None else (high - low) / 2


def projected_half_width(
    half_width_now: float | None, attacks_now: int, attacks_planned: int | None, target: float | None = None,
    *, planned_unknown: str = "the number of attacks planned is not known",
) -> Projection:
    """Project the interval's half-width from attacks_now to attacks_planned attacks: x sqrt(now / planned).

    Assumes the attacks still to be rated are like those rated so far (same reviewers, same
    mix). attacks_needed: attacks for the target at today's rate of precision. planned_unknown :
    the reason given when attacks_planned is None (a caller can say how to make it known).
    """
    if half_width_now is not None and not (np.isfinite(half_width_now) and half_width_now >= 0):
        raise ValueError(f"half_width_now must be a non-negative number or None, got {half_width_now}")
    if target is not None and not (np.isfinite(target) and target > 0):
        raise ValueError(f"target must be a positive number or None, got {target}")
    reason = None
    if attacks_planned is None and attacks_now >= 1:
        reason = planned_unknown
    elif half_width_now is None:
        reason = "no interval yet"
    elif attacks_now < 1:
        reason = "no attacks rated yet"
    elif attacks_planned < 1:
        reason = "no attacks planned"
    elif attacks_planned < attacks_now:
        reason = f"more attacks rated ({attacks_now}) than planned ({attacks_planned})"
    projected = None if reason else half_width_now * math.sqrt(attacks_now / attacks_planned)
    needed = None
    if target is not None and half_width_now is not None and attacks_now >= 1:
        needed = max(attacks_now, math.ceil(attacks_now * (half_width_now / target) ** 2 - 1e-9))
    if target is None:
        met, met_reason = None, "no target half-width given"
    elif projected is None:
        met, met_reason = None, reason
    else:
        # A hair of tolerance: a projection equal to the target in exact arithmetic meets it.
        met, met_reason = bool(projected <= target * (1 + 1e-12)), None
    return Projection(
        half_width_now, int(attacks_now), None if attacks_planned is None else int(attacks_planned), target, projected,
        reason, needed, met, met_reason
    )


@dataclass(frozen=True)
class ScalePlan:
    """Attacks needed for one scale's kappa, with the simulation that checks the answer."""

    name: str
    kappa: float
    shares: tuple[float, ...]
    threshold: int | None
    variance_per_attack: float
    attacks_needed: int
    simulated: SimulatedHalfWidth
    half_width_at_sample: float

    def as_json(self) -> dict:
        return {
            "kappa": self.kappa,
            "categories": len(self.shares),
            "shares": list(self.shares),
            "threshold": self.threshold,
            "variance_per_attack": self.variance_per_attack,
            "attacks_needed": self.attacks_needed,
            "simulated_half_width": self.simulated.half_width,
            "simulated_half_width_reason": self.simulated.reason,
            "simulated_mean_kappa": self.simulated.mean_kappa,
            "simulations_undefined": self.simulated.undefined,
            "half_width_at_sample": self.half_width_at_sample,
        }


@dataclass(frozen=True)
class Plan:
    """`review-project plan`'s answer: attacks for kappa's interval on each scale, and per model for a difference."""

    reviewers: int
    half_width: float
    level: float
    raw: ScalePlan
    binary: ScalePlan
    difference: float
    sd: float
    sd_given: bool
    alpha: float
    power: float
    attacks_per_model: int
    simulated_power: float
    sample_per_model: int
    sample_models: int
    sample_minimum_detectable_difference: float
    simulations: int
    seed: int

    def as_json(self) -> dict:
        """Every number of the plan (keys documented in docs/planning.md)."""
        return {
            "reviewers_per_task": self.reviewers,
            "level": self.level,
            "target_half_width": self.half_width,
            "simulations": self.simulations,
            "seed": self.seed,
            "raw": self.raw.as_json(),
            "binary": self.binary.as_json(),
            "difference": {
                "difference": self.difference,
                "sd": self.sd,
                "sd_source": "given" if self.sd_given else "rating model",
                "alpha": self.alpha,
                "power": self.power,
                "attacks_per_model": self.attacks_per_model,
                "simulated_power": self.simulated_power,
            },
            "sample": {
                "attacks_per_model": self.sample_per_model,
                "models": self.sample_models,
                "attacks": self.sample_per_model * self.sample_models,
                "minimum_detectable_difference": self.sample_minimum_detectable_difference,
            },
        }

    def text(self) -> str:
        """The lead's summary, a few lines."""
        level = f"{self.level:.0%}"
        lines = [self._scale_line(scale, level) for scale in (self.raw, self.binary)]
        sd_note = "given" if self.sd_given else f"from the rating model at kappa {_number(self.raw.kappa)}"
        lines.append(
            f"To detect a difference of {_number(self.difference)} points in mean rating between two models at "
            f"{self.power:.0%} power (alpha {_number(self.alpha)}, two-sided): {self.attacks_per_model:,} attacks per model "
            f"(SD of an attack's mean rating {self.sd:.2f}, {sd_note}; simulated power {self.simulated_power:.2f})"
        )
        total = self.sample_per_model * self.sample_models
        lines.append(
            f"A sample of {self.sample_per_model:,} attacks per model ({self.sample_models} models, {total:,} attacks) gives "
            f"kappa +/- {self.raw.half_width_at_sample:.3f} (0-{len(self.raw.shares) - 1} scale) and "
            f"+/- {self.binary.half_width_at_sample:.3f} (binary), and detects differences in mean rating of "
            f"{self.sample_minimum_detectable_difference:.2f} points at {self.power:.0%} power"
        )
        lines.append(
            "Assumes independent attacks, interchangeable reviewers and the rating model of docs/planning.md."
        )
        return "\n".join(lines)

    def _scale_line(self, scale: ScalePlan, level: str) -> str:
        what = (
            f"0-{len(scale.shares) - 1} scale" if scale.threshold is None else f"binary scale, success >= {scale.threshold}"
        )
        simulated = scale.simulated
        check = (
            f"simulated with seed {self.seed}: +/- {simulated.half_width:.3f} over {self.simulations:,} reviews"
            if simulated.half_width is not None
            else f"simulation: {simulated.reason}"
        )
        return (
            f"Fleiss' kappa {_number(scale.kappa)} ({what}), {self.reviewers} reviewers per attack: "
            f"{scale.attacks_needed:,} attacks for a {level} interval of +/- {_number(self.half_width)} ({check})"
        )


def _number(value: float) -> str:
    return f"{value:g}"


def plan(
    kappa: float = PAPER_KAPPA,
    binary_kappa: float = PAPER_BINARY_KAPPA,
    reviewers: int = 4,
    shares=PAPER_SELF_RATINGS,
    threshold: int = PAPER_THRESHOLD,
    half_width: float = 0.05,
    difference: float = 0.5,
    sd: float | None = None,
    sample_per_model: int = 500,
    sample_models: int = 2,
    simulations: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
    power: float = 0.8,
    level: float = 0.95,
) -> Plan:
    """Everything `review-project plan` prints; ValueError (saying which input) on a bad one.

    sd None: the SD of an attack's mean rating under the 0-K scale's rating model (mean_rating_sd).
    """
    raw_shares = check_shares(shares)
    two_shares = binary_shares(raw_shares, threshold)
    scales = []
    for name, k, p, cut in (("raw", kappa, raw_shares, None), ("binary", binary_kappa, two_shares, threshold)):
        needed = attacks_for_half_width(k, reviewers, p, half_width, level)
        scales.append(
            ScalePlan(
                name, float(k), tuple(p.tolist()), cut, kappa_variance(k, reviewers, p), needed,
                simulate_half_width(k, reviewers, p, needed, simulations, seed, level),
                half_width_for_attacks(k, reviewers, p, sample_per_model * sample_models, level),
            )
        )
    spread = mean_rating_sd(kappa, reviewers, raw_shares) if sd is None else float(sd)
    per_model = attacks_per_model_for_difference(difference, spread, alpha, power)
    return Plan(
        reviewers=int(reviewers), half_width=float(half_width), level=float(level), raw=scales[0], binary=scales[1],
        difference=float(difference), sd=spread, sd_given=sd is not None, alpha=float(alpha), power=float(power),
        attacks_per_model=per_model,
        simulated_power=simulate_power(difference, spread, per_model, kappa, reviewers, raw_shares, simulations, seed, alpha),
        sample_per_model=int(sample_per_model), sample_models=int(sample_models),
        sample_minimum_detectable_difference=minimum_detectable_difference(sample_per_model, sample_per_model, spread, alpha, power),
        simulations=int(simulations), seed=int(seed),
    )
