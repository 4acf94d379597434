"""Reviewer diagnostics: is one reviewer far from the others, or drifting? Pure: arrays and the
latest annotations in, numbers out.

For each reviewer, over their shared tasks (tasks they rated validly that at least one other
reviewer also rated validly):
- agreement with the others: Cohen's quadratic-weighted kappa of their rating against the median
  of the others' valid ratings of the task (half steps when the others are even in number). With
  the weights (a - b)^2 on the values themselves this is 1 - mean((a - b)^2) / (var a + var b +
  (mean a - mean b)^2), population moments, so six sums per reviewer give it (tests check it
  against statsmodels' cohens_kappa on the half-step table);
- mean offset: the mean of (their rating - the mean of the others' ratings); positive means they
  rate attacks as more successful than the others do;
- both with a 95% percentile bootstrap interval over the reviewer's shared tasks (seeded). A
  task's part depends only on (own rating, the others' median, their sum, their count), so the
  resamples are multinomial draws over those few distinct keys per reviewer
  (kappa.resample_tasks), with no loop over tasks or resamples;
- skip rate: skips / annotations, on each reviewer's latest annotation of each task;
- drift: the same kappa per block of `block_size` shared tasks in the order the reviewer gave
  the ratings (their latest annotation's updated_at, else created_at, then its id); the last
  block may be shorter;
- a flag, by FLAG_RULE (below).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from review_project.agreement.arrays import ReviewedTasks
from review_project.agreement.contract import JsonRecord, put
from review_project.agreement.kappa import Estimate, Interval, percentile_interval, resample_tasks

MIN_SHARED_FOR_FLAG = 20
FLAG_Z = -3.5
FLAG_GAP = 0.10
FLAG_RULE = (
    "modified z-score (Iglewicz & Hoaglin 1993) of the reviewer's quadratic kappa against the others: "
    "0.6745 (kappa - median) / MAD over the reviewers with 20 or more shared tasks (at least 3 of them; "
    "1.2533 x the mean absolute deviation when the MAD is 0); flagged below -3.5 and 0.10 or more under the median"
)
DEFAULT_BLOCK_SIZE = 50
_UNDEFINED = "each gave one and the same value on every shared task"


@dataclass(frozen=True)
class DriftBlock(JsonRecord):
    """One block of a reviewer's shared tasks in time order: its number (from 1), size, the time of
    its first and last rating (ISO 8601, None when unknown) and the kappa against the others."""

    block: int
    tasks: int
    first: str | None
    last: str | None
    quadratic_kappa: Estimate


@dataclass(frozen=True)
class ReviewerResult:
    """One reviewer's diagnostics (see the module docstring)."""

    reviewer_id: int
    email: str | None
    annotations: int
    skipped: int
    ratings: int
    shared_tasks: int
    quadratic_kappa: Estimate
    quadratic_kappa_ci95: Interval
    mean_offset: Estimate
    mean_offset_ci95: Interval
    drift: tuple[DriftBlock, ...]
    modified_z: Estimate
    flagged: bool
    flag_reason: str | None

    @property
    def skip_rate(self) -> float | None:
        return self.skipped / self.annotations if self.annotations else None

    def as_json(self) -> dict:
        out = {
            "email": self.email,
            "annotations": self.annotations,
            "skipped": self.skipped,
            "skip_rate": self.skip_rate,
            "ratings": self.ratings,
            "shared_tasks": self.shared_tasks,
        }
        for name in ("quadratic_kappa", "quadratic_kappa_ci95", "mean_offset", "mean_offset_ci95", "modified_z"):
            put(out, name, getattr(self, name))
        out["flagged"] = self.flagged
        out["flag_reason"] = self.flag_reason
        out["drift"] = [block.as_json() for block in self.drift]
        return out


@dataclass(frozen=True)
class ReviewerResults:
    reviewers: tuple[ReviewerResult, ...]
    block_size: int
    rule: str = FLAG_RULE

    def as_json(self) -> dict:
        return {str(r.reviewer_id): r.as_json() for r in self.reviewers}


@dataclass(frozen=True)
class SharedRatings:
    """Every valid rating that has at least one other valid rating of its task, in arrays (P,):
    task, reviewer (a column of the ratings), own rating, the others' median, sum and count."""

    task: np.ndarray
    reviewer: np.ndarray
    own: np.ndarray
    others_median: np.ndarray
    others_sum: np.ndarray
    others_count: np.ndarray

    @property
    def offset(self) -> np.ndarray:
        return self.own - self.others_sum / self.others_count


def shared_ratings(ratings) -> SharedRatings:
    """Each valid rating beside the others' ratings of its task.

    ratings : float (N, R), NaN = none. Works on the ratings packed into each task's M slots
    (M = the most ratings a task has), so the cost is O(N M^2) whatever R.
    """
    matrix = np.asarray(ratings, dtype=np.float64)
    task, reviewer = np.nonzero(~np.isnan(matrix))  # row-major: each task's ratings are together
    own = matrix[task, reviewer]
    per_task = np.bincount(task, minlength=len(matrix))
    start = np.r_[0, np.cumsum(per_task)[:-1]] if len(matrix) else np.zeros(0, dtype=np.int64)
    slot = np.arange(len(task)) - start[task]
    width = int(per_task.max()) if len(task) else 0
    if width < 2:
        empty = np.zeros(0)
        return SharedRatings(empty.astype(np.int64), empty.astype(np.int64), empty, empty, empty, empty)
    packed = np.full((len(matrix), width), np.nan)
    packed[task, slot] = own
    # The other slots of each slot: (width, width - 1).
    other_slots = np.array([[s for s in range(width) if s != mine] for mine in range(width)])
    others = np.sort(packed[task[:, None], other_slots[slot]], axis=1)  # NaN sorts last
    count = per_task[task] - 1
    keep = count >= 1
    task, reviewer, own, others, count = task[keep], reviewer[keep], own[keep], others[keep], count[keep]
    rows = np.arange(len(task))
    median = (others[rows, (count - 1) // 2] + others[rows, count // 2]) / 2
    total = np.nansum(others, axis=1)
    return SharedRatings(task, reviewer, own, median, total, count.astype(np.float64))


def quadratic_kappa(n, sum_a, sum_b, sum_aa, sum_bb, sum_ab):
    """Cohen's quadratic-weighted kappa from the sums of (a, b, a^2, b^2, ab) over n pairs (arrays
    of any shape; NaN where fewer than 2 pairs or no variation at all)."""
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_a, mean_b = sum_a / n, sum_b / n
        var_a = sum_aa / n - mean_a**2
        var_b = sum_bb / n - mean_b**2
        covariance = sum_ab / n - mean_a * mean_b
        expected = var_a + var_b + (mean_a - mean_b) ** 2
        return np.where((n >= 2) & (expected > 1e-12), 2 * covariance / np.where(expected > 1e-12, expected, 1), np.nan)


def _moments(pairs: SharedRatings) -> np.ndarray:
    """Per pair: 1, a, b, a^2, b^2, ab, offset: (P, 7)."""
    a, b = pairs.own, pairs.others_median
    return np.column_stack([np.ones_like(a), a, b, a * a, b * b, a * b, pairs.offset])


def _kappa_of(totals: np.ndarray) -> np.ndarray:
    return quadratic_kappa(*(totals[..., i] for i in range(6)))


def reviewer_results(
    tasks: ReviewedTasks,
    latest: pd.DataFrame,
    block_size: int = DEFAULT_BLOCK_SIZE,
    n_resamples: int = 2000,
    seed: int = 0,
) -> ReviewerResults:
    """Every reviewer's diagnostics.

    latest : each reviewer's latest annotation of each task (agreement.arrays.Reviews.latest:
    task_id, reviewer_id, reviewer_email, skipped, rating, updated_at, created_at, annotation_id).
    """
    if block_size < 1:
        raise ValueError(f"block_size must be at least 1, got {block_size}")
    reviewer_ids = np.asarray(tasks.reviewer_ids, dtype=np.int64)
    n_reviewers = len(reviewer_ids)
    pairs = shared_ratings(tasks.ratings)
    moments = _moments(pairs)
    totals = np.stack([np.bincount(pairs.reviewer, weights=moments[:, i], minlength=n_reviewers) for i in range(7)], axis=1)
    kappas = _kappa_of(totals)
    kappa_draws, offset_draws = _bootstrap(pairs, n_reviewers, n_resamples, seed)
    drift = _drift(pairs, moments, _rating_times(tasks, latest), n_reviewers, block_size)
    activity = _activity(latest, reviewer_ids)
    shared = totals[:, 0].astype(np.int64)
    z, flagged, reasons = flags(kappas, shared)

    results = []
    for index, reviewer_id in enumerate(reviewer_ids):
        n = int(shared[index])
        none = "no shared task (no task this reviewer rated that another reviewer rated too)"
        kappa_reason = none if n == 0 else ("fewer than 2 shared tasks" if n < 2 else _UNDEFINED)
        email, annotations, skipped = activity[int(reviewer_id)]
        results.append(
            ReviewerResult(
                reviewer_id=int(reviewer_id),
                email=email,
                annotations=annotations,
                skipped=skipped,
                ratings=int((~np.isnan(tasks.ratings[:, index])).sum()),
                shared_tasks=n,
                quadratic_kappa=Estimate(float(kappas[index])) if np.isfinite(kappas[index]) else Estimate(None, kappa_reason),
                quadratic_kappa_ci95=percentile_interval(kappa_draws[index]) if n >= 2 else Interval(None, None, kappa_reason),
                mean_offset=Estimate(float(totals[index, 6] / n)) if n else Estimate(None, none),
                mean_offset_ci95=percentile_interval(offset_draws[index]) if n else Interval(None, None, none),
                drift=drift[index],
                modified_z=z[index],
                flagged=bool(flagged[index]),
                flag_reason=reasons[index],
            )
        )
    return ReviewerResults(tuple(results), block_size)


def _bootstrap(pairs: SharedRatings, n_reviewers: int, n_resamples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap draws of each reviewer's kappa and mean offset: two (R, B) arrays."""
    kappa_draws = np.full((n_reviewers, n_resamples), np.nan)
    offset_draws = np.full((n_reviewers, n_resamples), np.nan)
    if not len(pairs.own):
        return kappa_draws, offset_draws
    keys = np.column_stack([pairs.own, 2 * pairs.others_median, pairs.others_sum, pairs.others_count]).astype(np.int64)
    drawn = resample_tasks(keys, n_resamples, seed, strata=pairs.reviewer)
    own, doubled_median, total, count = drawn.rows.T.astype(np.float64)
    distinct = SharedRatings(np.zeros(len(own), dtype=np.int64), drawn.stratum, own, doubled_median / 2, total, count)
    moments = _moments(distinct)
    for reviewer in np.unique(drawn.stratum):
        columns = drawn.stratum == reviewer
        totals = drawn.weights[:, columns] @ moments[columns]  # (B, 7)
        kappa_draws[reviewer] = _kappa_of(totals)
        offset_draws[reviewer] = totals[:, 6] / totals[:, 0]
    return kappa_draws, offset_draws


def _rating_times(tasks: ReviewedTasks, latest: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """When each valid rating was given, as (N, R) int64 nanoseconds (the smallest int64 when
    unknown), and its annotation id, to order a reviewer's ratings."""
    rated = latest[latest["rating"]]
    row = pd.Index(tasks.task_id).get_indexer(rated["task_id"].to_numpy(dtype=np.int64))
    column = pd.Index(tasks.reviewer_ids).get_indexer(rated["reviewer_id"].to_numpy(dtype=np.int64))
    changed = rated["updated_at"].where(rated["updated_at"].notna(), rated["created_at"])
    when = pd.to_datetime(changed, utc=True, errors="coerce", format="ISO8601")
    nanoseconds = np.where(when.isna(), np.iinfo(np.int64).min, when.to_numpy(dtype="datetime64[ns]").astype(np.int64))
    times = np.full(tasks.ratings.shape, np.iinfo(np.int64).min, dtype=np.int64)
    ids = np.zeros(tasks.ratings.shape, dtype=np.int64)
    times[row, column] = nanoseconds
    ids[row, column] = rated["annotation_id"].fillna(0).to_numpy(dtype=np.int64)
    return times, ids


def _drift(pairs: SharedRatings, moments: np.ndarray, timing, n_reviewers: int, block_size: int) -> list[tuple[DriftBlock, ...]]:
    """Each reviewer's kappa per block of block_size shared tasks, in the order they rated them."""
    times, ids = timing
    when = times[pairs.task, pairs.reviewer]
    order = np.lexsort((ids[pairs.task, pairs.reviewer], when, pairs.reviewer))
    reviewer = pairs.reviewer[order]
    first_of_reviewer = np.searchsorted(reviewer, np.arange(n_reviewers))
    block = (np.arange(len(order)) - first_of_reviewer[reviewer]) // block_size
    n_blocks = int(block.max()) + 1 if len(block) else 0
    code = reviewer * n_blocks + block
    size = n_reviewers * n_blocks
    totals = np.stack([np.bincount(code, weights=moments[order, i], minlength=size) for i in range(6)], axis=1)
    kappas = _kappa_of(totals).reshape(n_reviewers, n_blocks) if n_blocks else np.zeros((n_reviewers, 0))
    counts = totals[:, 0].reshape(n_reviewers, n_blocks) if n_blocks else np.zeros((n_reviewers, 0))
    ordered_when = when[order]
    known = ordered_when != np.iinfo(np.int64).min
    earliest = _extreme(code[known], ordered_when[known], size, np.minimum)
    latest = _extreme(code[known], ordered_when[known], size, np.maximum)
    drift = []
    for r in range(n_reviewers):
        blocks = []
        for b in range(n_blocks):
            n = int(counts[r, b])
            if not n:
                continue
            value = kappas[r, b]
            reason = "fewer than 2 tasks in the block" if n < 2 else _UNDEFINED
            at = r * n_blocks + b
            blocks.append(
                DriftBlock(b + 1, n, _iso(earliest[at]), _iso(latest[at]), Estimate(float(value)) if np.isfinite(value) else Estimate(None, reason))
            )
        drift.append(tuple(blocks))
    return drift


def _extreme(code: np.ndarray, values: np.ndarray, size: int, ufunc) -> np.ndarray:
    start = np.iinfo(np.int64).max if ufunc is np.minimum else np.iinfo(np.int64).min
    out = np.full(size, start, dtype=np.int64)
    ufunc.at(out, code, values)
    return out


def _iso(nanoseconds: int) -> str | None:
    if nanoseconds in (np.iinfo(np.int64).min, np.iinfo(np.int64).max):
        return None
    return pd.Timestamp(int(nanoseconds), tz="UTC").isoformat().replace("+00:00", "Z")


def _activity(latest: pd.DataFrame, reviewer_ids: np.ndarray) -> dict[int, tuple[str | None, int, int]]:
    """reviewer id -> (email, annotations, skips), on each reviewer's latest annotation of each task."""
    with_reviewer = latest[latest["reviewer_id"].notna()]
    by_reviewer = with_reviewer.groupby(with_reviewer["reviewer_id"].astype(np.int64))
    annotations = by_reviewer.size()
    skipped = by_reviewer["skipped"].sum()
    emails = with_reviewer.dropna(subset=["reviewer_email"]).groupby(
        with_reviewer["reviewer_id"].astype(np.int64)
    )["reviewer_email"].last()
    return {
        int(r): (emails.get(int(r)), int(annotations.get(int(r), 0)), int(skipped.get(int(r), 0)))
        for r in reviewer_ids
    }


def flags(kappas, shared) -> tuple[list[Estimate], np.ndarray, list[str | None]]:
    """FLAG_RULE: each reviewer's modified z-score, whether they are flagged, and why.

    kappas : float (R,), NaN when undefined; shared : int (R,), shared tasks.
    """
    kappas = np.asarray(kappas, dtype=np.float64)
    eligible = np.isfinite(kappas) & (np.asarray(shared) >= MIN_SHARED_FOR_FLAG)
    n = len(kappas)
    if eligible.sum() < 3:
        reason = f"fewer than 3 reviewers with a kappa on {MIN_SHARED_FOR_FLAG} or more shared tasks"
        return [Estimate(None, reason)] * n, np.zeros(n, dtype=bool), [None] * n
    values = kappas[eligible]
    median = float(np.median(values))
    mad = float(np.median(np.abs(values - median)))
    if mad > 0:
        z = 0.6745 * (kappas - median) / mad
    else:
        spread = 1.2533 * float(np.mean(np.abs(values - median)))
        z = (kappas - median) / spread if spread > 0 else np.zeros(n)
    estimates, flagged, reasons = [], np.zeros(n, dtype=bool), []
    for i in range(n):
        if not eligible[i]:
            why = "no kappa" if not np.isfinite(kappas[i]) else f"fewer than {MIN_SHARED_FOR_FLAG} shared tasks"
            estimates.append(Estimate(None, why))
            reasons.append(None)
            continue
        estimates.append(Estimate(float(z[i])))
        flagged[i] = z[i] < FLAG_Z and median - kappas[i] >= FLAG_GAP
        reasons.append(
            f"quadratic kappa {kappas[i]:.2f} against a median of {median:.2f}: modified z {z[i]:.1f} (below {FLAG_Z})"
            if flagged[i] else None
        )
    return estimates, flagged, reasons
