"""Agreement measures that use every task with 2 or more ratings, and the order of the 0-4 scale.

Vectorised like kappa: numpy arrays in, Estimates and Intervals out, no Python loop over tasks.

- ``chance_corrected``: Gwet's AC1 / AC2 and Fleiss' kappa generalised to a varying number of
  ratings per task (Gwet 2014, Handbook of Inter-Rater Reliability, 4th ed., ch. 2 and 5; the
  formulas of irrCAC's ``gwet.ac1.raw`` and ``fleiss.kappa.raw``), with Gwet's standard error
  (conditional on the raters: it covers the sampling of tasks) and a t interval;
- ``icc``: ICC(2,1) and ICC(2,k), two-way random effects, absolute agreement (Shrout & Fleiss
  1979), with the F-based 95% intervals of McGraw & Wong (1996, case 2A), on the block of tasks
  rated by one and the same set of k reviewers (``icc_block`` says which);
- ``fleiss_kappa_all_tasks_resampled``: the generalised Fleiss' kappa of bootstrap resamples
  (kappa.resample_tasks), so differences between models get an interval;
- ``spearman``: Spearman's rank correlation of two values per task or attack, computed as
  scipy.stats.spearmanr computes it, which the agreement summary and the results' proxy check
  both use.

scipy.special, not scipy.stats: importing scipy.stats takes 0.5 s, a quarter of `agreement`'s
2 s budget at the whole dataset's size, for three functions that are scipy.special's underneath
(t.ppf is stdtrit, f.ppf is fdtri, the t test of rho is stdtr).

Layouts as in kappa: ``counts`` (N, K) category counts per task, any row sums; ``ratings``
(N, R) with NaN where a reviewer gave none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from review_project.agreement.kappa import _DEGENERATE, Estimate, Interval, _as_counts

LEVEL = 0.95


@dataclass(frozen=True)
class Coefficient:
    """A chance-corrected agreement coefficient with Gwet's standard error and its 95% t interval.

    n : tasks used (2 or more ratings); se : None when the coefficient is undefined.
    """

    value: Estimate
    se: float | None
    ci95: Interval
    n: int


def ordinal_weights(n_categories: int) -> np.ndarray:
    """Gwet's ordinal weights (2014, ch. 3; irrCAC's ``ordinal.weights``), shape (K, K):
    w_kl = 1 - C(|k - l| + 1, 2) / C(K, 2).

    >>> ordinal_weights(3).tolist()
    [[1.0, 0.6666666666666667, 0.0], [0.6666666666666667, 1.0, 0.6666666666666667], [0.0, 0.6666666666666667, 1.0]]
    """
    steps = np.abs(np.subtract.outer(np.arange(n_categories), np.arange(n_categories)))
    pairs = (steps + 1) * steps / 2.0
    return 1.0 - pairs / pairs.max() if n_categories > 1 else np.ones((1, 1))


def chance_corrected(counts, kind: str = "gwet", weights=None, level: float = LEVEL) -> Coefficient:
    """Gwet's AC1 (AC2 with weights) or Fleiss' generalised kappa, any number of ratings per task.

    counts : shape (N, K); tasks without a rating drop out, tasks with one rating count in the
    category shares only (as irrCAC does). weights : shape (K, K), identity when None. The
    interval is coefficient -/+ t(n - 1) x se, its upper end capped at 1, as irrCAC gives it.
    """
    if kind not in ("gwet", "fleiss"):
        raise ValueError(f"kind must be 'gwet' or 'fleiss', got {kind!r}")
    table = _as_counts(counts, equal_rows=False)
    n_categories = table.shape[1]
    w = np.eye(n_categories) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (n_categories, n_categories):
        raise ValueError(f"weights must have shape {(n_categories, n_categories)}, got {w.shape}")
    table, frequency = _distinct_rows(table[table.sum(axis=1) > 0])
    sizes = table.sum(axis=1)
    pairable = sizes >= 2
    n, n_pairable = int(frequency.sum()), int(frequency[pairable].sum())
    if n_pairable < 2:
        return _undefined(f"fewer than 2 tasks with 2 or more ratings ({n_pairable})", n_pairable)
    used = np.flatnonzero(table.sum(axis=0))
    if used.size == 1:
        return _undefined(f"every rating is the same (category {int(used[0])})", n_pairable)
    if n_categories < 2:
        return _undefined("fewer than 2 categories", n_pairable)
    weighted = table @ w.T  # r*_ik = sum_l w_kl r_il
    pair_count = np.where(pairable, sizes * (sizes - 1), 1.0)
    agreement = np.where(pairable, (table * (weighted - 1)).sum(axis=1) / pair_count, 0.0)
    p_agree = (frequency * agreement)[pairable].sum() / n_pairable
    shares = frequency @ (table / sizes[:, None]) / n
    if kind == "gwet":
        scale = w.sum() / (n_categories * (n_categories - 1))
        p_chance = scale * (shares * (1 - shares)).sum()
        chance_by_task = scale * (table @ (1 - shares)) / sizes
    else:
        p_chance = (w * np.outer(shares, shares)).sum()
        chance_by_task = table @ ((w @ shares + w.T @ shares) / 2) / sizes
    if 1 - p_chance < _DEGENERATE:
        return _undefined("chance agreement is 1: every rating in one category", n_pairable)
    value = (p_agree - p_chance) / (1 - p_chance)
    # Gwet's linearised per-task terms; their spread gives the variance (finite population N = inf).
    by_task = (n / n_pairable) * (agreement - p_chance * pairable) / (1 - p_chance)
    by_task = by_task - 2 * (1 - value) * (chance_by_task - p_chance) / (1 - p_chance)
    se = float(np.sqrt((frequency * (by_task - value) ** 2).sum() / (n * (n - 1))))
    if se == 0:
        interval = Interval(None, None, "Gwet's variance is 0: no interval")
    else:
        half = special.stdtrit(n - 1, (1 + level) / 2) * se  # stats.t.ppf((1 + level) / 2, n - 1)
        interval = Interval(float(value - half), float(min(1.0, value + half)))
    return Coefficient(Estimate(float(value)), se, interval, n_pairable)


def _distinct_rows(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct count rows (D, K) and how many tasks have each (D,): every statistic here is
    a sum over tasks of a function of the task's row, and D <= 126 for 4 ratings and 5 values."""
    if table.size == 0:
        return table, np.zeros(0)
    radix = int(table.max()) + 1
    codes = table.astype(np.int64) @ (radix ** np.arange(table.shape[1], dtype=np.int64))
    if radix ** table.shape[1] <= 1 << 20:
        frequency = np.bincount(codes, minlength=radix ** table.shape[1])
        present = np.flatnonzero(frequency)
        frequency = frequency[present]
    else:
        present, frequency = np.unique(codes, return_counts=True)
    rows = (present[:, None] // (radix ** np.arange(table.shape[1], dtype=np.int64))) % radix
    return rows.astype(np.float64), frequency.astype(np.float64)


def _undefined(reason: str, n: int) -> Coefficient:
    return Coefficient(Estimate(None, reason), None, Interval(None, None, reason), n)


def gwet_ac1(counts) -> Coefficient:
    """Gwet's AC1 (unweighted) over every task with 2 or more ratings. counts : shape (N, K)."""
    return chance_corrected(counts, "gwet")


def gwet_ac2_ordinal(counts) -> Coefficient:
    """Gwet's AC2 with ordinal weights (ordinal_weights) over every task with 2 or more ratings."""
    table = np.asarray(counts)
    return chance_corrected(table, "gwet", ordinal_weights(table.shape[1]))


def fleiss_kappa_all_tasks(counts) -> Coefficient:
    """Fleiss' kappa generalised to a varying number of ratings per task (irrCAC's
    fleiss.kappa.raw), with Gwet's standard error; equal to fleiss_kappa when every row has n."""
    return chance_corrected(counts, "fleiss")


# --- ICC ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Icc:
    """ICC(2,1) and ICC(2,k) with their 95% intervals, on one block of tasks x reviewers.

    n : tasks in the block; k : reviewers in it (None without a block); reviewers : their
    column indices in the ratings matrix.
    """

    icc_2_1: Estimate
    icc_2_1_ci95: Interval
    icc_2_k: Estimate
    icc_2_k_ci95: Interval
    n: int
    k: int | None
    reviewers: tuple[int, ...]


def icc_block(ratings) -> tuple[np.ndarray, np.ndarray]:
    """The tasks and reviewers the ICC uses: the k reviewers who rated the most tasks together,
    and every task all k rated.

    ratings : shape (N, R), NaN = none -> (tasks : int (n,), reviewers : int (k,)). k is the
    most common number of valid ratings of a task with 2 or more (the larger on a tie); the
    candidate sets are those of the tasks with exactly k ratings; a tie between sets goes to
    the one that sorts first by reviewer column. Empty arrays when no task has 2 ratings.
    """
    given = ~np.isnan(np.asarray(ratings, dtype=np.float64))
    sizes = given.sum(axis=1)
    if not np.any(sizes >= 2):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    frequency = np.bincount(sizes[sizes >= 2])
    k = int(len(frequency) - 1 - np.argmax(frequency[::-1]))
    exact = given[sizes == k]
    if given.shape[1] <= 62:
        # Each reviewer set as one bit pattern: a 1-D unique instead of a slow row-wise one.
        bits = np.int64(1) << np.arange(given.shape[1], dtype=np.int64)
        codes, tally = np.unique(exact.astype(np.int64) @ bits, return_counts=True)
        members = (codes[:, None] & bits) > 0  # (C, R)
    else:
        members, tally = np.unique(exact, axis=0, return_counts=True)
    larger = given[sizes > k]
    if len(larger):
        # A task rated by more than k reviewers counts for every k-set inside it.
        tally = tally + ((larger.astype(np.int32) @ members.T.astype(np.int32)) == k).sum(axis=0)
    # Ties: the set that sorts first by its reviewer columns (lowest first).
    columns = np.sort(np.where(members, np.arange(members.shape[1]), members.shape[1]), axis=1)[:, :k]
    order = np.lexsort(columns.T[::-1])
    best = order[np.argmax(tally[order])]
    reviewers = np.flatnonzero(members[best])
    tasks = np.flatnonzero(given[:, reviewers].all(axis=1))
    return tasks, reviewers


def icc(ratings, level: float = LEVEL) -> Icc:
    """ICC(2,1) and ICC(2,k) (Shrout & Fleiss 1979; McGraw & Wong's ICC(A,1), ICC(A,k)) on icc_block.

    ratings : shape (N, R), NaN = none. Equal to pingouin's ``intraclass_corr`` ICC2 and ICC2k.
    """
    matrix = np.asarray(ratings, dtype=np.float64)
    tasks, reviewers = icc_block(matrix)
    block = matrix[np.ix_(tasks, reviewers)]
    return icc_of_block(block, tuple(int(r) for r in reviewers), level)


def icc_of_block(block, reviewers: tuple[int, ...] = (), level: float = LEVEL) -> Icc:
    """ICC(2,1) and ICC(2,k) of a complete (n tasks, k reviewers) matrix, with F-based intervals."""
    y = np.asarray(block, dtype=np.float64)
    n, k = y.shape if y.ndim == 2 else (0, 0)
    if n < 2 or k < 2:
        reason = f"fewer than 2 tasks rated by the same {k} reviewers ({n})" if k >= 2 else "no 2 reviewers rated the same tasks"
        return _undefined_icc(reason, n, k or None, reviewers)
    grand = y.mean()
    ss_tasks = k * ((y.mean(axis=1) - grand) ** 2).sum()
    ss_reviewers = n * ((y.mean(axis=0) - grand) ** 2).sum()
    ss_total = ((y - grand) ** 2).sum()
    if ss_total <= _DEGENERATE * max(1.0, grand * grand) * n * k:
        return _undefined_icc("every rating is the same", n, k, reviewers)
    ms_tasks = ss_tasks / (n - 1)
    ms_reviewers = ss_reviewers / (k - 1)
    ms_error = max(ss_total - ss_tasks - ss_reviewers, 0.0) / ((n - 1) * (k - 1))
    if ms_tasks <= _DEGENERATE and ms_error <= _DEGENERATE:
        return _undefined_icc("every task has the same ratings: no variation between tasks", n, k, reviewers)
    single_denominator = ms_tasks + (k - 1) * ms_error + k * (ms_reviewers - ms_error) / n
    average_denominator = ms_tasks + (ms_reviewers - ms_error) / n
    if single_denominator <= _DEGENERATE or average_denominator <= _DEGENERATE:
        return _undefined_icc("undefined: the variance components leave no between-task variance", n, k, reviewers)
    single = (ms_tasks - ms_error) / single_denominator
    average = (ms_tasks - ms_error) / average_denominator
    if ms_error <= 0:
        reason = "no residual variance (the reviewers differ by a constant at most): no F-based interval"
        return Icc(Estimate(float(single)), Interval(None, None, reason), Estimate(float(average)), Interval(None, None, reason), n, k, reviewers)
    alpha = 1 - level
    f_reviewers = ms_reviewers / ms_error
    spread = n * (1 + (k - 1) * single) - k * single
    df = ((k - 1) * (n - 1) * (k * single * f_reviewers + spread) ** 2) / ((n - 1) * (k * single * f_reviewers) ** 2 + spread**2)
    f_upper = special.fdtri(n - 1, df, 1 - alpha / 2)  # stats.f.ppf(1 - alpha / 2, n - 1, df)
    f_lower = special.fdtri(df, n - 1, 1 - alpha / 2)
    scale = k * ms_reviewers + (k * n - k - n) * ms_error
    low = n * (ms_tasks - f_upper * ms_error) / (f_upper * scale + n * ms_tasks)
    high = n * (f_lower * ms_tasks - ms_error) / (scale + n * f_lower * ms_tasks)
    if not (np.isfinite(low) and np.isfinite(high)):
        reason = "the F-based interval is undefined for these mean squares"
        single_ci = average_ci = Interval(None, None, reason)
    else:
        single_ci = Interval(float(low), float(high))
        average_ci = Interval(float(low * k / (1 + low * (k - 1))), float(high * k / (1 + high * (k - 1))))
    return Icc(Estimate(float(single)), single_ci, Estimate(float(average)), average_ci, n, k, reviewers)


def _undefined_icc(reason: str, n: int, k: int | None, reviewers: tuple[int, ...]) -> Icc:
    return Icc(Estimate(None, reason), Interval(None, None, reason), Estimate(None, reason), Interval(None, None, reason), n, k, reviewers)


# --- bootstrap ----------------------------------------------------------------------------------


def fleiss_kappa_all_tasks_resampled(counts, weights) -> np.ndarray:
    """Generalised Fleiss' kappa of every resample, for one or S statistics at once.

    counts : shape (D, K) or (S, D, K), distinct task rows, each with 2 or more ratings or all
    zero (an all-zero row is outside that statistic, e.g. another model's task); weights : shape
    (B, D), copies of each row per resample -> shape (B,) or (S, B), NaN where undefined. One
    (B, D) @ (D, S * (K + 2)) product: a resample's kappa needs only the sums of each task's
    category shares, its pair agreement and 1.
    """
    table = np.asarray(counts, dtype=np.float64)
    copies = np.asarray(weights, dtype=np.float64)
    single = table.ndim == 2
    table = table[None] if single else table
    n_stats, n_rows, n_categories = table.shape
    sizes = table.sum(axis=2)
    inside = sizes >= 2
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = np.where(inside[:, :, None], table / sizes[:, :, None], 0.0)
        agreement = np.where(inside, (table * (table - 1)).sum(axis=2) / (sizes * (sizes - 1)), 0.0)
    features = np.concatenate([shares, agreement[:, :, None], inside[:, :, None].astype(np.float64)], axis=2)
    totals = (copies @ features.transpose(1, 0, 2).reshape(n_rows, -1)).reshape(-1, n_stats, n_categories + 2)
    totals = totals.transpose(1, 0, 2)  # (S, B, K + 2)
    tasks = totals[:, :, -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        p_cat = totals[:, :, :n_categories] / tasks[:, :, None]
        p_agree = totals[:, :, n_categories] / tasks
        p_chance = (p_cat * p_cat).sum(axis=2)
        defined = (tasks >= 2) & (1 - p_chance > _DEGENERATE)
        kappa = np.where(defined, (p_agree - p_chance) / np.where(defined, 1 - p_chance, 1), np.nan)
    return kappa[0] if single else kappa


# --- Spearman's rho -----------------------------------------------------------------------------

# Why rho is undefined, in each report's words: the agreement summary counts tasks, results attacks.
_NO_VARIATION = {"task": "one of the two is the same on every task", "attack": "one of the two is the same for every attack"}


def spearman(x, y, unit: str = "attack") -> tuple[Estimate, float | None]:
    """Spearman's rho and its two-sided p-value (as scipy's) over the pairs where x (N,) and y (N,) are
    both finite; the p-value is None exactly when rho is undefined. unit : "task" or "attack"."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    both = np.isfinite(x) & np.isfinite(y)
    n = int(both.sum())
    if n < 3:
        return Estimate(None, f"fewer than 3 {unit}s with both values ({n})"), None
    if np.ptp(x[both]) == 0 or np.ptp(y[both]) == 0:
        return Estimate(None, _NO_VARIATION[unit]), None
    rho = float(np.corrcoef(average_ranks(x[both]), average_ranks(y[both]))[0, 1])
    # As scipy.stats.spearmanr: a t-test of rho on n - 2 degrees of freedom (rho of +-1: p = 0).
    with np.errstate(divide="ignore"):
        t = rho * np.sqrt(np.clip((n - 2) / np.float64((1.0 + rho) * (1.0 - rho)), 0, None))
    return Estimate(rho), float(2 * special.stdtr(n - 2, -abs(t)))


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..N with ties given their average rank, as scipy.stats.rankdata(method="average")."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    sizes = np.diff(np.r_[starts, len(values)])
    ranks = np.empty(len(values))
    ranks[order] = np.repeat(starts + (sizes + 1) / 2, sizes)
    return ranks
