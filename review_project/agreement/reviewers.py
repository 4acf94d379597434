"""Each reviewer against the others, and every two reviewers: Cohen's kappa on shared tasks.

ReviewerAgreement is one reviewer: their valid ratings and kappa with the others (from the arrays)
and what they did (from the table: annotations, skips, invalid ones, lead time). ReviewerPairs
holds Cohen's kappa of every pair, plain and quadratic-weighted. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from review_project.agreement import kappa
from review_project.agreement.arrays import N_CATEGORIES, ReviewedTasks
from review_project.agreement.contract import put
from review_project.agreement.kappa import Estimate
from review_project.agreement.success import mean
from review_project.schema import SUCCESS_VALUES


@dataclass(frozen=True)
class ReviewerRatings:
    """One reviewer's valid ratings and how far they agree with the others' (Cohen's kappa,
    weighted by shared tasks). success_counts : one per SUCCESS_VALUES."""

    reviewer_id: int
    n: int
    mean_success: Estimate
    success_counts: tuple[int, ...]
    cohen_kappa_vs_others: Estimate
    quadratic_kappa_vs_others: Estimate

    def as_json(self) -> dict:
        out = {
            "n": self.n,
            "mean_success": self.mean_success.value,
            "success_counts": dict(zip(SUCCESS_VALUES, self.success_counts)),
        }
        put(out, "cohen_kappa_vs_others", self.cohen_kappa_vs_others)
        put(out, "quadratic_kappa_vs_others", self.quadratic_kappa_vs_others)
        return out


@dataclass(frozen=True)
class ReviewerActivity:
    """What one reviewer did, counted on their latest annotation of each task."""

    email: str | None
    annotations: int
    skipped: int
    invalid: int
    median_lead_time: Estimate

    @property
    def skip_rate(self) -> float:
        return self.skipped / self.annotations

    def as_json(self) -> dict:
        return {
            "email": self.email,
            "annotations": self.annotations,
            "skipped": self.skipped,
            "invalid": self.invalid,
            "skip_rate": self.skip_rate,
            "median_lead_time": self.median_lead_time.value,
        }


@dataclass(frozen=True)
class ReviewerAgreement:
    """One reviewer: their ratings (from the arrays) and their activity (from the table)."""

    ratings: ReviewerRatings
    activity: ReviewerActivity

    @property
    def reviewer_id(self) -> int:
        return self.ratings.reviewer_id

    @property
    def email(self) -> str | None:
        return self.activity.email

    def as_json(self) -> dict:
        return {**self.ratings.as_json(), **self.activity.as_json()}


@dataclass(frozen=True)
class ReviewerPairs:
    """Cohen's kappa of every two reviewers on the tasks both rated: (R, R) tables in the order
    of reviewer_ids, plain and quadratic-weighted; shared_tasks : tasks both rated."""

    reviewer_ids: tuple[int, ...]
    cohen_kappa: tuple[tuple[Estimate, ...], ...]
    quadratic_kappa: tuple[tuple[Estimate, ...], ...]
    shared_tasks: tuple[tuple[int, ...], ...]

    def as_json(self) -> dict:
        return {
            "reviewers": [str(reviewer) for reviewer in self.reviewer_ids],
            "cohen_kappa": [[e.value for e in row] for row in self.cohen_kappa],
            "quadratic_kappa": [[e.value for e in row] for row in self.quadratic_kappa],
            "shared_tasks": [list(row) for row in self.shared_tasks],
            # One table of reasons in the JSON: the weights never change why a kappa is undefined.
            "reasons": [[e.reason for e in row] for row in self.quadratic_kappa],
        }


def reviewer_ratings(tasks: ReviewedTasks, versus_others: dict[str, list[Estimate]]) -> tuple[ReviewerRatings, ...]:
    """Each reviewer's valid ratings, with their kappa against the others (reviewer_pairs' second part)."""
    given = ~np.isnan(tasks.ratings)
    reviewers = []
    for index, reviewer in enumerate(tasks.reviewer_ids):
        column = tasks.ratings[given[:, index], index].astype(np.int64)
        reviewers.append(
            ReviewerRatings(
                reviewer_id=int(reviewer),
                n=int(column.size),
                mean_success=mean(column, "no valid rating"),
                success_counts=tuple(np.bincount(column, minlength=N_CATEGORIES).tolist()),
                cohen_kappa_vs_others=versus_others["none"][index],
                quadratic_kappa_vs_others=versus_others["quadratic"][index],
            )
        )
    return tuple(reviewers)


def reviewer_pairs(tasks: ReviewedTasks) -> tuple[ReviewerPairs, dict[str, list[Estimate]]]:
    """Reviewer-by-reviewer Cohen's kappa, and each reviewer's shared-task-weighted mean of it
    (per weighting, "none" and "quadratic", one Estimate per reviewer)."""
    joint = kappa.pair_tables(tasks.ratings, N_CATEGORIES)
    tables, versus_others = {}, {}
    for weights in ("none", "quadratic"):
        values, shared, reasons = kappa.cohen_kappa_from_tables(joint, weights)
        tables[weights] = tuple(
            tuple(Estimate(None if np.isnan(v) else float(v), r) for v, r in zip(value_row, reason_row))
            for value_row, reason_row in zip(values, reasons)
        )
        versus_others[weights] = [_versus_others(row, shared_row) for row, shared_row in zip(values, shared)]
    pairs = ReviewerPairs(
        reviewer_ids=tuple(int(i) for i in tasks.reviewer_ids),
        cohen_kappa=tables["none"],
        quadratic_kappa=tables["quadratic"],
        shared_tasks=tuple(tuple(row) for row in shared.tolist()),  # shared does not depend on the weights
    )
    return pairs, versus_others


def _versus_others(row: np.ndarray, shared: np.ndarray) -> Estimate:
    """One reviewer's kappas with the others (R,), NaN = undefined, weighted by shared tasks (R,)."""
    weight = np.where(np.isnan(row), 0, shared)
    if weight.sum() == 0:
        return Estimate(None, "no other reviewer with a defined kappa on shared tasks")
    return Estimate(float(np.nansum(row * weight) / weight.sum()))


def reviewer_activity(latest: pd.DataFrame) -> dict[int, ReviewerActivity]:
    """Each reviewer's annotations, skips, invalid annotations, median lead time and email."""
    by_reviewer = latest.groupby(latest["reviewer_id"].astype(np.int64))
    counts = pd.DataFrame(
        {
            "annotations": by_reviewer.size(),
            "skipped": by_reviewer["skipped"].sum(),
            "invalid": by_reviewer["invalid"].sum(),
            "median_lead_time": by_reviewer["lead_time"].median(),
        }
    )
    emails = latest.dropna(subset=["reviewer_email"]).groupby(latest["reviewer_id"].astype(np.int64))["reviewer_email"].last()
    activity = {}
    for reviewer, row in counts.iterrows():
        lead = row["median_lead_time"]
        activity[int(reviewer)] = ReviewerActivity(
            email=emails.get(int(reviewer)),
            annotations=int(row["annotations"]),
            skipped=int(row["skipped"]),
            invalid=int(row["invalid"]),
            median_lead_time=Estimate(None, "no lead time recorded") if pd.isna(lead) else Estimate(float(lead)),
        )
    return activity

