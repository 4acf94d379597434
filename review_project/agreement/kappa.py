"""Agreement statistics: can the lead trust the reviewers' ratings?

A pure, vectorised core: numpy arrays in, numbers out, no I/O and no Python loop over tasks
or bootstrap resamples. Validation happens at the public entry points (a ``ValueError`` that
states the rule); statistics that are undefined for the data (every rating the same, fewer
than 2 tasks) come back as ``value=None`` with a ``reason``, never as NaN.

Layouts used throughout (N tasks, R reviewers, K categories):

- ``counts``: ndarray, shape (N, K) - how many ratings of each category a task received
  (statsmodels' "count table", one row per task);
- ``ratings``: ndarray, shape (N, R) - reviewer r's rating of task i as a category index
  0..K-1, ``np.nan`` where r did not rate i (the transpose of the ``krippendorff`` package).

The bootstrap never touches tasks one by one: kappa depends only on each task's row of
category counts, and tasks with the same row are interchangeable, so resampling N tasks is one
multinomial draw over the D distinct rows (D <= 70 for 4 reviewers and 5 categories, x 6 with
the author's rating in the key); all B resamples of all statistics are then one (B, D) @ (D, S*K)
product. Cost: O(N log N + B * D * S * K); 38,961 tasks take well under a second (see
benchmarks/bench_agreement.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Landis & Koch (1977): inclusive upper bound of each band from 0 up; below 0 is "poor".
LANDIS_KOCH = (
    (0.20, "slight"),
    (0.40, "fair"),
    (0.60, "moderate"),
    (0.80, "substantial"),
    (1.0, "almost perfect"),
)

# 1 - P_e below this means every rating fell in one category: kappa is 0/0.
_DEGENERATE = 1e-12


@dataclass(frozen=True)
class Estimate:
    """A statistic, or ``value=None`` and the reason it is undefined for this data."""

    value: float | None
    reason: str | None = None


@dataclass(frozen=True)
class Interval:
    """A percentile bootstrap interval, or ``low=high=None`` and the reason there is none."""

    low: float | None
    high: float | None
    reason: str | None = None
    n_resamples: int = 0
    n_undefined: int = 0

    def as_list(self) -> list[float] | None:
        """``[low, high]`` for JSON, or None."""
        return None if self.low is None else [self.low, self.high]


@dataclass(frozen=True)
class Resamples:
    """Bootstrap resamples of tasks, held as multiplicities of the distinct task rows.

    rows : ndarray, shape (D, C) - the distinct key rows (per-category counts and anything
        else the caller put in the key); stratum : ndarray, shape (D,) - each row's stratum
        (0 when unstratified); weights : ndarray, shape (B, D) - how many copies of each
        distinct row resample b drew (each stratum's columns sum to its number of tasks).
    """

    rows: np.ndarray
    stratum: np.ndarray
    weights: np.ndarray


def _estimate(value: float, reason: str | None) -> Estimate:
    value = float(value)
    return Estimate(value, None) if np.isfinite(value) else Estimate(None, reason or "undefined")


def _as_counts(counts, *, equal_rows: bool) -> np.ndarray:
    table = np.asarray(counts)
    if table.ndim != 2:
        raise ValueError(f"counts must be a 2-D (tasks x categories) table, got {table.ndim}-D")
    if table.size and (not np.all(np.isfinite(table)) or np.any(table < 0)):
        raise ValueError("counts must be finite and non-negative")
    if table.size and np.any(table != np.round(table)):
        raise ValueError("counts must be whole numbers")
    table = table.astype(np.float64)
    if equal_rows and table.shape[0]:
        sums = table.sum(axis=1)
        if np.any(sums != sums[0]):
            raise ValueError(
                "Fleiss' kappa needs the same number of ratings on every task "
                f"(found {int(sums.min())} to {int(sums.max())}); leave incomplete tasks out"
            )
    return table


def _as_ratings(ratings, n_categories: int) -> np.ndarray:
    matrix = np.asarray(ratings, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"ratings must be a 2-D (tasks x reviewers) matrix, got {matrix.ndim}-D")
    given = matrix[~np.isnan(matrix)]
    if np.any((given < 0) | (given >= n_categories) | (given != np.round(given))):
        raise ValueError(f"ratings must be whole numbers 0..{n_categories - 1} or NaN for missing")
    return matrix


def count_table(ratings, n_categories: int) -> np.ndarray:
    """Category counts per task from a ratings matrix.

    ratings : shape (N, R), category indices with NaN for missing -> ndarray, shape (N, K), int.

    >>> count_table([[0, 1, 1], [2, np.nan, 2]], 3).tolist()
    [[1, 2, 0], [0, 0, 2]]
    """
    matrix = _as_ratings(ratings, n_categories)
    n_tasks = matrix.shape[0]
    rows, _ = np.nonzero(~np.isnan(matrix))
    codes = rows * n_categories + matrix[~np.isnan(matrix)].astype(np.int64)
    return np.bincount(codes, minlength=n_tasks * n_categories).reshape(n_tasks, n_categories)


def binarise(counts, threshold: int) -> np.ndarray:
    """Collapse a count table to (below threshold, at or above threshold).

    counts : shape (N, K), column k = rating k -> ndarray, shape (N, 2).

    >>> binarise([[1, 0, 2, 1, 0]], 3).tolist()
    [[3, 1]]
    """
    table = np.asarray(counts)
    if not 1 <= threshold < table.shape[1]:
        raise ValueError(f"threshold must be between 1 and {table.shape[1] - 1}, got {threshold}")
    return np.stack([table[:, :threshold].sum(axis=1), table[:, threshold:].sum(axis=1)], axis=1)


def _too_few_reason(table: np.ndarray) -> str | None:
    """Why no kappa can be computed from this many tasks and ratings, or None."""
    n_tasks = table.shape[0]
    if n_tasks < 2:
        return f"fewer than 2 tasks with complete ratings ({n_tasks})"
    if table[0].sum() < 2:
        return "fewer than 2 ratings per task"
    return None


def _fleiss_reason(table: np.ndarray) -> str | None:
    reason = _too_few_reason(table)
    if reason:
        return reason
    used = np.flatnonzero(table.sum(axis=0))
    if used.size == 1:
        return f"every rating is the same (category {int(used[0])})"
    return None


def fleiss_kappa(counts) -> Estimate:
    """Fleiss' (1971) kappa from a count table with the same number of ratings per task.

    counts : shape (N, K). Equal to ``statsmodels.stats.inter_rater.fleiss_kappa``.

    >>> wikipedia = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0],
    ...              [2, 2, 8, 1, 1], [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2],
    ...              [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    >>> round(fleiss_kappa(wikipedia).value, 14)
    0.20993070442196
    >>> fleiss_kappa([[4, 0], [4, 0]])
    Estimate(value=None, reason='every rating is the same (category 0)')
    """
    table = _as_counts(counts, equal_rows=True)
    reason = _fleiss_reason(table)
    if reason:
        return Estimate(None, reason)
    return _estimate(_fleiss_kappa_rows(table), "undefined")


def _fleiss_kappa_rows(table: np.ndarray) -> float:
    # Written as statsmodels writes it, so the two agree to the last bits.
    n_total = table.sum()
    n_rater = table.sum(axis=1).max()
    p_cat = table.sum(axis=0) / n_total
    p_rat = ((table * table).sum(axis=1) - n_rater) / (n_rater * (n_rater - 1.0))
    p_mean_exp = (p_cat * p_cat).sum()
    if 1 - p_mean_exp < _DEGENERATE:
        return float("nan")
    return (p_rat.mean() - p_mean_exp) / (1 - p_mean_exp)


def fleiss_kappa_per_category(counts) -> list[Estimate]:
    """Kappa for each category against all others (Fleiss 1971, eq. 13).

    counts : shape (N, K) -> K estimates; k_j = 1 - sum_i x_ij (n - x_ij) / (N n (n-1) p_j q_j).
    """
    table = _as_counts(counts, equal_rows=True)
    n_tasks, n_categories = table.shape
    # One category used throughout still leaves the others defined ("never used"), so only
    # too few tasks or ratings make every category undefined.
    reason = _too_few_reason(table)
    if reason:
        return [Estimate(None, reason)] * n_categories
    kappas, reasons = _binary_kappas(table, n_tasks, table[0].sum() if n_tasks else 0)
    return [_estimate(k, r) for k, r in zip(kappas, reasons)]


def _binary_kappas(present: np.ndarray, n_tasks: int, n_raters: float) -> tuple[np.ndarray, list]:
    """Kappa of each column as a yes/no question. present : shape (N, T) -> shape (T,)."""
    p = present.sum(axis=0) / (n_tasks * n_raters)
    spread = (present * (n_raters - present)).sum(axis=0)
    denominator = n_tasks * n_raters * (n_raters - 1) * p * (1 - p)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappas = np.where(denominator > 0, 1 - spread / np.where(denominator > 0, denominator, 1), np.nan)
    reasons = [
        None if d > 0 else ("never used" if q == 0 else "used by every rating")
        for d, q in zip(denominator, p)
    ]
    return kappas, reasons


def binary_fleiss_kappas(present, n_raters: int) -> list[Estimate]:
    """Fleiss' kappa of each yes/no question, e.g. "did the reviewer tag topic t?".

    present : shape (N, T), how many of the n_raters said yes to question t on task i -> T
    estimates, each equal to ``fleiss_kappa`` of the (N, 2) table [n - x, x].
    """
    table = _as_counts(present, equal_rows=False)
    n_tasks = table.shape[0]
    if n_raters < 2 or np.any(table > n_raters):
        raise ValueError(f"need 2 or more raters and at most n_raters={n_raters} yes per task")
    if n_tasks < 2:
        return [Estimate(None, f"fewer than 2 tasks with complete ratings ({n_tasks})")] * table.shape[1]
    kappas, reasons = _binary_kappas(table, n_tasks, float(n_raters))
    return [_estimate(k, r) for k, r in zip(kappas, reasons)]


def percent_agreement(counts) -> Estimate:
    """Mean share of agreeing reviewer pairs per task, over tasks with 2 or more ratings.

    counts : shape (N, K); rows may have different totals.

    >>> percent_agreement([[2, 0], [1, 1], [0, 3]]).value
    0.6666666666666666
    """
    table = _as_counts(counts, equal_rows=False)
    sizes = table.sum(axis=1)
    pairable = sizes >= 2
    if not pairable.any():
        return Estimate(None, "no task has 2 or more ratings")
    table, sizes = table[pairable], sizes[pairable]
    return Estimate(float(np.mean((table * (table - 1)).sum(axis=1) / (sizes * (sizes - 1)))))


def _distance(level: str, marginals: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Krippendorff's squared difference delta^2, shape (K, K)."""
    if level == "nominal":
        return 1.0 - np.eye(len(marginals))
    if level == "interval":
        return (values[:, None] - values[None, :]) ** 2
    if level == "ordinal":
        # delta(c, k) = (sum of n_g for g between c and k) - (n_c + n_k) / 2, squared.
        cumulative = np.cumsum(marginals)
        low = np.minimum.outer(np.arange(len(marginals)), np.arange(len(marginals)))
        high = np.maximum.outer(np.arange(len(marginals)), np.arange(len(marginals)))
        between = cumulative[high] - cumulative[low] + marginals[low]
        return (between - (marginals[:, None] + marginals[None, :]) / 2) ** 2
    raise ValueError(f"level must be 'nominal', 'ordinal' or 'interval', got {level!r}")


def krippendorff_alpha(counts, level: str = "ordinal", distance=None) -> Estimate:
    """Krippendorff's alpha from per-task value counts; tasks may have missing ratings.

    counts : shape (N, K), value k in column k (ordered for "ordinal"/"interval"); tasks
    with fewer than 2 ratings are not pairable and drop out. distance : optional shape (K, K)
    disagreement used as is (e.g. MASI between label sets) instead of ``level``.
    Coincidences are one (K, N) @ (N, K) product. Krippendorff (2011), 4 observers, 12 units:

    >>> table = count_table(np.array([
    ...     [1, 2, 3, 3, 2, 1, 4, 1, 2, np.nan, np.nan, np.nan],
    ...     [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, np.nan, 3],
    ...     [np.nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, np.nan],
    ...     [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, np.nan]]).T - 1, 5)
    >>> [round(krippendorff_alpha(table, level).value, 6) for level in ("nominal", "ordinal", "interval")]
    [0.743421, 0.815388, 0.849107]
    """
    table = _as_counts(counts, equal_rows=False)
    sizes = table.sum(axis=1)
    pairable = sizes >= 2
    if pairable.sum() < 2:
        return Estimate(None, f"fewer than 2 tasks with 2 or more ratings ({int(pairable.sum())})")
    table = table[pairable]
    weighted = table / (sizes[pairable] - 1)[:, None]
    coincidences = weighted.T @ table - np.diag(weighted.sum(axis=0))
    if distance is not None:
        distance = np.asarray(distance, dtype=np.float64)
        if distance.shape != (table.shape[1],) * 2:
            raise ValueError(f"distance must have shape {(table.shape[1],) * 2}, got {distance.shape}")
    return _alpha(coincidences, level, distance)


def _alpha(coincidences: np.ndarray, level: str, distance: np.ndarray | None) -> Estimate:
    """alpha = 1 - D_o / D_e from a (K, K) coincidence matrix."""
    marginals = coincidences.sum(axis=0)
    total = marginals.sum()
    if distance is None:
        distance = _distance(level, marginals, np.arange(len(marginals), dtype=np.float64))
    expected = (np.outer(marginals, marginals) * distance).sum()
    if expected <= _DEGENERATE * total * total:
        return Estimate(None, "every rating is the same")
    return _estimate(1 - (total - 1) * (coincidences * distance).sum() / expected, "undefined")


def _slots(group: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lay ragged groups out in a padded (G, W) grid.

    group : int (A,) -> (order : (A,) positions sorted by group, slot : (A,) column of each
    sorted item, sizes : (G,) items per group). W = sizes.max().
    """
    order = np.argsort(group, kind="stable")
    sizes = np.bincount(group, minlength=n_groups)
    slot = np.arange(group.size) - (np.cumsum(sizes) - sizes)[group[order]]
    return order, slot, sizes


def masi_distances(members) -> np.ndarray:
    """MASI distance (Passonneau 2006, as nltk computes it) between label sets.

    members : bool, shape (V, T), set v holds label t -> ndarray, shape (V, V). Two empty sets
    are identical (distance 0) where nltk divides by zero.

    >>> masi_distances([[1, 1, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]]).round(4).tolist()
    [[0.0, 0.6667, 1.0], [0.6667, 0.0, 1.0], [1.0, 1.0, 0.0]]
    """
    sets = np.asarray(members, dtype=np.float64)
    shared = sets @ sets.T
    sizes = sets.sum(axis=1)
    union = sizes[:, None] + sizes[None, :] - shared
    smaller = np.minimum.outer(sizes, sizes)
    identical = (sizes[:, None] == sizes[None, :]) & (shared == sizes[:, None])
    monotonicity = np.select(
        [identical, shared == smaller, shared > 0], [1.0, 2 / 3, 1 / 3], default=0.0
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        jaccard = np.where(union > 0, shared / np.where(union > 0, union, 1), 1.0)
    return np.where(identical, 0.0, 1 - jaccard * monotonicity)


def masi_alpha(task_index, members) -> Estimate:
    """Krippendorff's alpha over label sets with MASI distance.

    task_index : int, shape (A,), the task of each annotation; members : bool, shape (A, T),
    the labels of each annotation (an empty row is "no label"). Equal to nltk's
    ``AnnotationTask(distance=masi_distance).alpha()`` where that is defined.
    """
    tasks = np.asarray(task_index, dtype=np.int64)
    labels = np.asarray(members, dtype=bool)
    if labels.ndim != 2 or tasks.shape != (labels.shape[0],):
        raise ValueError("task_index must have shape (A,) and members shape (A, T)")
    if tasks.size == 0:
        return Estimate(None, "no annotations")
    if labels.shape[1] <= 62:
        # Rows as bit patterns: a 1-D unique instead of a slow row-wise one.
        packed = labels.astype(np.int64) @ (np.int64(1) << np.arange(labels.shape[1], dtype=np.int64))
        codes, code = np.unique(packed, return_inverse=True)
        distinct = (codes[:, None] >> np.arange(labels.shape[1])) & 1
    else:
        distinct, code = np.unique(labels, axis=0, return_inverse=True)
    _, task = np.unique(tasks, return_inverse=True)
    n_tasks, n_sets = int(task.max()) + 1, len(distinct)
    # Coincidences from each task's annotation pairs, O(A W) for at most W annotations a task.
    order, slot, sizes = _slots(task, n_tasks)
    grid = np.full((n_tasks, int(sizes.max())), -1, dtype=np.int64)
    grid[task[order], slot] = code.ravel()[order]
    pairable = sizes >= 2
    if pairable.sum() < 2:
        return Estimate(None, f"fewer than 2 tasks with 2 or more ratings ({int(pairable.sum())})")
    grid, sizes = grid[pairable], sizes[pairable]
    width = grid.shape[1]
    first, second = np.nonzero(~np.eye(width, dtype=bool))
    left, right = grid[:, first], grid[:, second]
    both = (left >= 0) & (right >= 0)
    weight = np.broadcast_to((1.0 / (sizes - 1))[:, None], left.shape)
    coincidences = np.bincount(
        (left * n_sets + right)[both], weights=weight[both], minlength=n_sets * n_sets
    ).reshape(n_sets, n_sets)
    return _alpha(coincidences, "nominal", masi_distances(distinct))


def pair_tables(ratings, n_categories: int) -> np.ndarray:
    """Joint rating tables of every pair of reviewers, on the tasks both rated.

    ratings : shape (N, R), NaN = not rated -> ndarray, shape (R, R, K, K): [a, b, k, l] =
    tasks a rated k and b rated l. One bincount over the (reviewer, reviewer, value, value)
    codes of each task's rating pairs: O(N M^2) for at most M ratings a task, whatever R.
    """
    matrix = _as_ratings(ratings, n_categories)
    n_tasks, n_reviewers = matrix.shape
    K = n_categories
    rows, cols = np.nonzero(~np.isnan(matrix))
    values = matrix[rows, cols].astype(np.int64)
    _, slot, per_task = _slots(rows, n_tasks)  # rows come sorted from np.nonzero
    width = int(per_task.max()) if rows.size else 0
    reviewer = np.full((n_tasks, width), -1, dtype=np.int64)
    value = np.zeros((n_tasks, width), dtype=np.int64)
    reviewer[rows, slot] = cols
    value[rows, slot] = values
    first, second = np.nonzero(~np.eye(width, dtype=bool))
    a, b = reviewer[:, first], reviewer[:, second]
    pair = (a >= 0) & (b >= 0)
    code = ((a * n_reviewers + b) * K + value[:, first]) * K + value[:, second]
    joint = np.bincount(code[pair], minlength=n_reviewers**2 * K * K)
    return joint.reshape(n_reviewers, n_reviewers, K, K)


def cohen_kappa_from_tables(joint, weights: str = "none") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cohen's kappa of every pair from their joint tables (shape (R, R, K, K), see pair_tables).

    weights "none" or "quadratic" -> (kappa : (R, R) float, NaN where undefined; shared :
    (R, R) int, tasks both rated; reasons : (R, R) object, None or why kappa is undefined).
    """
    if weights not in ("none", "quadratic"):
        raise ValueError(f"weights must be 'none' or 'quadratic', got {weights!r}")
    joint = np.asarray(joint, dtype=np.float64)
    n_reviewers, K = joint.shape[0], joint.shape[2]
    shared = joint.sum(axis=(2, 3))
    if weights == "quadratic":
        grid = np.arange(K, dtype=np.float64)
        agree = 1 - (grid[:, None] - grid[None, :]) ** 2 / (K - 1) ** 2
    else:
        agree = np.eye(K)
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = (joint * agree).sum(axis=(2, 3)) / shared
        first = joint.sum(axis=3) / shared[:, :, None]
        second = joint.sum(axis=2) / shared[:, :, None]
        expected = np.einsum("abk,kl,abl->ab", first, agree, second)
        defined = (shared >= 2) & (1 - expected > _DEGENERATE)
        kappa = np.where(defined, (observed - expected) / np.where(defined, 1 - expected, 1), np.nan)
    reasons = np.full((n_reviewers, n_reviewers), None, dtype=object)
    reasons[~defined] = "each gave one and the same value on every shared task"
    reasons[shared < 2] = "fewer than 2 shared tasks"
    np.fill_diagonal(reasons, "same reviewer")
    kappa[np.eye(n_reviewers, dtype=bool)] = np.nan
    return kappa, shared.astype(np.int64), reasons


def cohen_kappa_matrix(ratings, n_categories: int, weights: str = "none") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cohen's kappa between every pair of reviewers, on the tasks both rated.

    ratings : shape (N, R), NaN = not rated; weights "none" or "quadratic" -> (kappa, shared,
    reasons) as in cohen_kappa_from_tables.
    """
    if weights not in ("none", "quadratic"):
        raise ValueError(f"weights must be 'none' or 'quadratic', got {weights!r}")
    return cohen_kappa_from_tables(pair_tables(ratings, n_categories), weights)


def landis_koch(kappa: float | None) -> str | None:
    """Landis & Koch (1977) band of a kappa: poor, slight, fair, moderate, substantial, almost perfect.

    >>> landis_koch(0.32), landis_koch(0.49), landis_koch(-0.1), landis_koch(None)
    ('fair', 'moderate', 'poor', None)
    """
    if kappa is None or not np.isfinite(kappa):
        return None
    if kappa < 0:
        return "poor"
    return next((band for upper, band in LANDIS_KOCH if kappa <= upper), LANDIS_KOCH[-1][1])


def resample_tasks(keys, n_resamples: int = 2000, seed: int = 0, strata=None) -> Resamples:
    """Draw B bootstrap resamples of N tasks as multiplicities of the distinct task rows.

    keys : int, shape (N, C), what a statistic needs of a task (e.g. its category counts and
    the author's rating); strata : int, shape (N,) or None - resample within each stratum
    (the sample's design, e.g. the model), so each keeps its size. One multinomial draw per
    stratum replaces B * N index draws.
    """
    rows = np.asarray(keys, dtype=np.int64)
    if rows.ndim != 2 or rows.shape[0] == 0:
        raise ValueError("keys must be a non-empty 2-D (tasks x columns) integer array")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    group = np.zeros(rows.shape[0], dtype=np.int64) if strata is None else np.asarray(strata, dtype=np.int64)
    if group.shape != (rows.shape[0],):
        raise ValueError("strata must have one entry per task")
    full = np.column_stack([group, rows])
    # One int64 code per row (mixed radix) makes np.unique 1-D and fast.
    low = full.min(axis=0)
    radix = full.max(axis=0) - low + 1
    if np.prod(radix.astype(np.float64)) >= 2**62:
        distinct, inverse = np.unique(full, axis=0, return_inverse=True)
    else:
        codes, inverse = np.unique(np.ravel_multi_index((full - low).T, radix), return_inverse=True)
        distinct = np.column_stack(np.unravel_index(codes, radix)) + low
    frequency = np.bincount(inverse.ravel(), minlength=len(distinct))
    rng = np.random.default_rng(seed)
    weights = np.zeros((n_resamples, len(distinct)), dtype=np.float64)
    # A loop over strata (a handful of models), not over tasks or resamples.
    for stratum in np.unique(distinct[:, 0]):
        columns = np.flatnonzero(distinct[:, 0] == stratum)
        size = frequency[columns].sum()
        weights[:, columns] = rng.multinomial(size, frequency[columns] / size, size=n_resamples)
    return Resamples(rows=distinct[:, 1:], stratum=distinct[:, 0], weights=weights)


def fleiss_kappa_resampled(counts, weights) -> np.ndarray:
    """Fleiss' kappa of every resample, for one or S statistics at once.

    counts : shape (D, K) or (S, D, K), the distinct rows as each statistic sees them (e.g.
    raw, binarised, with the author); within a statistic every row sums to the same n or to
    0, and an all-zero row is left out of that statistic (a task outside a model, or without
    the author's rating). weights : shape (B, D), copies of each row per resample ->
    ndarray, shape (B,) or (S, B), NaN where undefined. All statistics share one
    (B, D) @ (D, S * (K + 1)) product.
    """
    table = np.asarray(counts, dtype=np.float64)
    copies = np.asarray(weights, dtype=np.float64)
    single = table.ndim == 2
    table = table[None] if single else table
    n_stats, n_rows, n_categories = table.shape
    if n_rows == 0:
        empty = np.full((n_stats, copies.shape[0]), np.nan)
        return empty[0] if single else empty
    n_rater = table.sum(axis=2).max(axis=1)  # (S,)
    with np.errstate(divide="ignore", invalid="ignore"):
        agreement = ((table * table).sum(axis=2) - n_rater[:, None]) / (n_rater * (n_rater - 1.0))[:, None]
    agreement = np.where(table.sum(axis=2) > 0, agreement, 0.0)
    features = np.concatenate([table, agreement[:, :, None]], axis=2)  # (S, D, K + 1)
    totals = (copies @ features.transpose(1, 0, 2).reshape(n_rows, -1)).reshape(-1, n_stats, n_categories + 1)
    totals = totals.transpose(1, 0, 2)  # (S, B, K + 1)
    ratings = totals[:, :, :-1].sum(axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        tasks = ratings / n_rater[:, None]
        p_mean = totals[:, :, -1] / tasks
        p_cat = totals[:, :, :-1] / ratings[:, :, None]
        p_exp = (p_cat * p_cat).sum(axis=2)
        defined = (tasks >= 2) & (1 - p_exp > _DEGENERATE) & (n_rater[:, None] >= 2)
        kappa = np.where(defined, (p_mean - p_exp) / np.where(defined, 1 - p_exp, 1), np.nan)
    return kappa[0] if single else kappa


def percentile_interval(values, level: float = 0.95) -> Interval:
    """Percentile interval of bootstrap values (shape (B,)); undefined resamples are dropped
    and counted, and half or more undefined gives no interval."""
    draws = np.asarray(values, dtype=np.float64)
    finite = draws[np.isfinite(draws)]
    undefined = int(draws.size - finite.size)
    if finite.size == 0 or undefined * 2 >= draws.size:
        return Interval(None, None, f"undefined in {undefined} of {draws.size} resamples", draws.size, undefined)
    low, high = np.quantile(finite, [(1 - level) / 2, (1 + level) / 2])
    return Interval(float(low), float(high), None, int(draws.size), undefined)


def fleiss_kappa_interval(counts, n_resamples: int = 2000, seed: int = 0, level: float = 0.95, strata=None) -> Interval:
    """Bootstrap percentile interval of Fleiss' kappa over tasks.

    counts : shape (N, K), equal row sums; strata : shape (N,) or None.
    """
    table = _as_counts(counts, equal_rows=True)
    reason = _fleiss_reason(table)
    if reason:
        return Interval(None, None, reason)
    draws = resample_tasks(table, n_resamples, seed, strata)
    return percentile_interval(fleiss_kappa_resampled(draws.rows, draws.weights), level)
