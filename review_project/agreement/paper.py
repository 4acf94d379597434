"""The paper's equal-n figure: Fleiss' kappa over the complete tasks, as Ganguli et al. 2022 report it.

A complete task has exactly `reviewers_per_task` valid ratings. Over them: Fleiss' kappa on the
0-4 scale and the binary one, alone and with the author's self-rating as one more rater, each
with a percentile bootstrap interval (one stratified resampling serves the whole sample and
every model); and the paper's own footing, 3 reviewers and the author, on tasks rated by 4.
Pure: numpy arrays in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from review_project.agreement import kappa
from review_project.agreement.arrays import N_CATEGORIES
from review_project.agreement.contract import JsonRecord, fields, put
from review_project.agreement.kappa import Estimate, Interval

N_AUTHOR = 1  # the red team member's own self-rating counts as one more rater
NO_AUTHOR = "no author self-rating for these tasks (it comes from the sample manifest: --manifest)"


@dataclass(frozen=True)
class FleissKappas:
    """Fleiss' kappa of the complete tasks on the 0-4 scale and the binary one, with 95% intervals.

    An interval around an undefined kappa carries the kappa's reason.
    """

    fleiss_kappa: Estimate
    binary_fleiss_kappa: Estimate
    ci95: Interval
    binary_ci95: Interval

    @property
    def landis_koch(self) -> str | None:
        return kappa.landis_koch(self.fleiss_kappa.value)

    @property
    def binary_landis_koch(self) -> str | None:
        return kappa.landis_koch(self.binary_fleiss_kappa.value)

    def as_json(self) -> dict:
        out: dict = {}
        put(out, "fleiss_kappa", self.fleiss_kappa)
        out["landis_koch"] = self.landis_koch
        put(out, "binary_fleiss_kappa", self.binary_fleiss_kappa)
        out["binary_landis_koch"] = self.binary_landis_koch
        put(out, "ci95", self.ci95)
        put(out, "binary_ci95", self.binary_ci95)
        return out


@dataclass(frozen=True)
class AuthorKappas(FleissKappas):
    """The paper's view: the same kappas with the author's self-rating as one more rater.

    items : complete tasks whose self-rating is known; raters : reviewers per task + the
    author, None without complete tasks.
    """

    items: int
    raters: int | None

    def as_json(self) -> dict:
        return {"items": self.items, "raters": self.raters, **super().as_json()}


@dataclass(frozen=True)
class PaperFooting(JsonRecord):
    """The paper's footing with 4 reviewers per task: 3 reviewers and the author, as Ganguli et al.
    rated. Each complete task's ratings are ordered by reviewer id and each position is left out
    in turn, giving 4 kappas; fleiss_kappa and binary_fleiss_kappa are their mean, the *_range
    their lowest and highest (not a confidence interval).

    items : complete tasks (exactly 4 valid ratings) whose self-rating is known; raters : 3 + the
    author, None when undefined.
    """

    items: int
    raters: int | None
    fleiss_kappa: Estimate
    fleiss_kappa_range: Interval
    binary_fleiss_kappa: Estimate
    binary_fleiss_kappa_range: Interval


@dataclass(frozen=True)
class Paper:
    """What Ganguli et al. 2022 report (section 3.5): Fleiss' kappa, no intervals given."""

    with_author_fleiss_kappa: float = 0.32
    with_author_binary_fleiss_kappa: float = 0.49
    reviewers_binary_fleiss_kappa: float = 0.55
    reviewers: int = 3
    source: str = "Ganguli et al. 2022, Red Teaming Language Models to Reduce Harms, section 3.5"


PAPER = Paper()


def author_category(author: np.ndarray) -> np.ndarray:
    """Self-ratings as categories 0..4, -1 where unknown or not a whole number 0-4."""
    usable = np.isfinite(author) & (author == np.round(author)) & (author >= 0) & (author < N_CATEGORIES)
    return np.where(usable, np.nan_to_num(author), -1).astype(np.int64)


def _with_author(counts: np.ndarray, author: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts with the author's rating added, and which rows have one. counts (M, K), author (M,)."""
    known = author >= 0
    added = counts[known].copy()
    added[np.arange(known.sum()), author[known]] += 1
    return added, known


STATISTICS = ("raw", "binary", "with_author", "with_author_binary")


def kappa_sections(counts, author, intervals: dict | None, threshold: int) -> tuple[FleissKappas, AuthorKappas]:
    """Fleiss' kappa (raw, binary) of complete tasks, alone and with the author, with intervals.

    counts : (M, K) complete tasks; author : (M,) categories or -1; intervals : one
    kappa.Interval per name of STATISTICS, or None when there was no bootstrap.
    """
    too_few = Interval(None, None, f"fewer than 2 tasks with complete ratings ({len(counts)})")
    intervals = intervals or dict.fromkeys(STATISTICS, too_few)
    reviewers = _kappas(counts, threshold, intervals["raw"], intervals["binary"])
    with_author, known = _with_author(counts, author)
    no_author = NO_AUTHOR if len(counts) and not known.any() else None
    author_kappas = _kappas(with_author, threshold, intervals["with_author"], intervals["with_author_binary"], no_author)
    raters = int(counts[0].sum() + N_AUTHOR) if len(counts) else None
    return reviewers, AuthorKappas(**fields(author_kappas), items=int(known.sum()), raters=raters)


def paper_footing(ratings: np.ndarray, author: np.ndarray, reviewers_per_task: int, threshold: int) -> PaperFooting:
    """3 reviewers + the author on tasks rated by 4: each reviewer position left out in turn.

    ratings : (M, R) complete tasks, NaN where a reviewer gave none, columns in reviewer-id order;
    author : (M,) self-rating categories, -1 where unknown. Only tasks with a self-rating count.
    """
    kept = PAPER.reviewers
    if reviewers_per_task != kept + 1:
        if reviewers_per_task == kept:
            reason = f"with {kept} reviewers per task, the reviewers + author figure is already the paper's footing"
        else:
            reason = (
                f"the paper's footing leaves one of {kept + 1} reviewers out ({kept} + the author); "
                f"this summary counts tasks with {reviewers_per_task} ratings"
            )
        return _undefined_footing(0, reason)
    known = author >= 0
    if len(ratings) and not known.any():
        return _undefined_footing(0, NO_AUTHOR)
    rows, author = ratings[known], author[known]
    if len(rows) < 2:
        return _undefined_footing(int(len(rows)), f"fewer than 2 tasks with complete ratings ({len(rows)})")
    # Each row holds exactly kept + 1 ratings; a stable sort of "missing" keeps reviewer-id order.
    order = np.argsort(np.isnan(rows), axis=1, kind="stable")
    ordered = np.take_along_axis(rows, order, axis=1)[:, : kept + 1]
    raw, binary = [], []
    for position in range(kept + 1):
        counts = kappa.count_table(np.delete(ordered, position, axis=1), N_CATEGORIES)
        counts[np.arange(len(counts)), author] += 1
        raw.append(kappa.fleiss_kappa(counts))
        binary.append(kappa.fleiss_kappa(kappa.binarise(counts, threshold)))
    fleiss, fleiss_range = _mean_and_range(raw)
    binary_fleiss, binary_range = _mean_and_range(binary)
    return PaperFooting(
        items=int(len(rows)),
        raters=kept + N_AUTHOR if fleiss.value is not None or binary_fleiss.value is not None else None,
        fleiss_kappa=fleiss,
        fleiss_kappa_range=fleiss_range,
        binary_fleiss_kappa=binary_fleiss,
        binary_fleiss_kappa_range=binary_range,
    )


def _undefined_footing(items: int, reason: str) -> PaperFooting:
    return PaperFooting(items, None, Estimate(None, reason), Interval(None, None, reason), Estimate(None, reason), Interval(None, None, reason))


def _mean_and_range(kappas: list[Estimate]) -> tuple[Estimate, Interval]:
    """The mean of the left-one-out kappas and their range; undefined if any one is."""
    undefined = [(position, k.reason) for position, k in enumerate(kappas, start=1) if k.value is None]
    if undefined:
        reasons = {reason for _, reason in undefined}
        if len(undefined) == len(kappas) and len(reasons) == 1:
            reason = reasons.pop()
        else:
            position, why = undefined[0]
            reason = f"undefined leaving out reviewer position {position} of {len(kappas)}: {why}"
        return Estimate(None, reason), Interval(None, None, reason)
    values = np.array([k.value for k in kappas])
    return Estimate(float(values.mean())), Interval(float(values.min()), float(values.max()))


def _kappas(counts, threshold: int, ci95: Interval, binary_ci95: Interval, reason: str | None = None) -> FleissKappas:
    """Fleiss' kappa of count rows (M, K), raw and binary; `reason`, when given, replaces theirs."""
    raw = kappa.fleiss_kappa(counts)
    binary = kappa.fleiss_kappa(kappa.binarise(counts, threshold))
    if reason:
        raw, binary = Estimate(raw.value, reason), Estimate(binary.value, reason)
    return FleissKappas(raw, binary, _around(raw, ci95), _around(binary, binary_ci95))


def _around(point: Estimate, interval: Interval) -> Interval:
    """No interval around an undefined kappa: the kappa's reason instead."""
    return interval if point.value is not None else Interval(None, None, point.reason)


def bootstrap_intervals(counts, author, model_code, n_models: int, threshold: int, n_resamples: int, seed: int) -> list[dict]:
    """Intervals of every STATISTICS for the whole sample (entry 0) and each model (1..n_models).

    counts : (M, K) complete tasks; author : (M,); model_code : (M,), n_models = unknown.
    One stratified resampling serves all; one matrix product gives every kappa of every resample.
    """
    keys = np.column_stack([counts, author])
    draws = kappa.resample_tasks(keys, n_resamples, seed, model_code if n_models else None)
    rows, known = draws.rows[:, :N_CATEGORIES], draws.rows[:, N_CATEGORIES] >= 0
    with_author = rows.copy()
    with_author[known, draws.rows[known, N_CATEGORIES]] += 1
    with_author[~known] = 0

    def padded(table):
        return np.pad(kappa.binarise(table, threshold), ((0, 0), (0, N_CATEGORIES - 2)))

    tables = np.stack([rows, padded(rows), with_author, padded(with_author)])  # (4, D, K)
    masks = [np.ones(len(rows), dtype=bool)] + [draws.stratum == code for code in range(n_models)]
    stacked = np.concatenate([tables * mask[None, :, None] for mask in masks])  # (4 * sections, D, K)
    kappas = kappa.fleiss_kappa_resampled(stacked, draws.weights).reshape(len(masks), len(STATISTICS), -1)
    return [
        {name: kappa.percentile_interval(section[i]) for i, name in enumerate(STATISTICS)}
        for section in kappas
    ]

