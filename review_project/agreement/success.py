"""Agreement on the success rating, the headline of the report, and how precise it is.

The headline uses every task with 2 or more valid ratings, the ordinal scale first:
Krippendorff's alpha, ICC(2,1) and ICC(2,k) on one block of tasks x reviewers (ordinal.icc_block),
Gwet's AC2 and AC1 and Fleiss' kappa generalised to a varying number of ratings, each with
Gwet's standard error and interval. Beside it stand the paper's equal-n figure (agreement.paper),
per-category kappa, percent agreement, the distribution of ratings and Spearman's rho of each
task's mean rating with the author's self-rating and the harmlessness score. `precision` is the
half-width of kappa's interval now and projected to the attacks planned. Pure: arrays in.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from review_project.agreement import kappa, ordinal
from review_project.agreement.arrays import N_CATEGORIES, ReviewedTasks
from review_project.agreement.contract import JsonRecord, fields, put
from review_project.agreement.items import Items
from review_project.agreement.kappa import Estimate
from review_project.agreement.paper import (
    PAPER,
    AuthorKappas,
    FleissKappas,
    Paper,
    PaperFooting,
    paper_footing,
)
from review_project.planning import (
    Projection,
    interval_half_width,
    projected_half_width,
)
from review_project.schema import SUCCESS_VALUES

CONDITIONAL = (
    "Every interval is conditional on these reviewers: it covers the sampling of attacks, not the choice of "
    "reviewers; the ICC intervals alone, from a two-way random-effects model, also treat the reviewers as a sample."
)
ALL_TASKS_CI = "Gwet's (2014) variance over tasks, conditional on the reviewers; t interval with n - 1 df, upper end capped at 1"
ICC_CI = "F-based (Shrout & Fleiss 1979; McGraw & Wong 1996, ICC(A,1) and ICC(A,k))"


def put_coefficient(out: dict, name: str, coefficient: ordinal.Coefficient) -> None:
    """A coefficient's JSON keys: `name`, `name_reason`, `name_se`, `name_ci95`, `name_ci95_reason`."""
    put(out, name, coefficient.value)
    out[f"{name}_se"] = coefficient.se
    put(out, f"{name}_ci95", coefficient.ci95)


def put_icc(out: dict, icc: ordinal.Icc, reviewer_ids) -> None:
    """ICC(2,1), ICC(2,k), their intervals, and the block they were computed on."""
    for name in ("icc_2_1", "icc_2_1_ci95", "icc_2_k", "icc_2_k_ci95"):
        put(out, name, getattr(icc, name))
    out["icc_tasks"] = icc.n
    out["icc_reviewers"] = [int(reviewer_ids[r]) for r in icc.reviewers]


@dataclass(frozen=True)
class Correlation:
    """Spearman's rho between each task's mean valid rating and another value, over tasks with both.

    p_value is None exactly when rho is undefined (rho.reason says why).
    """

    n: int
    rho: Estimate
    p_value: float | None

    def as_json(self) -> dict:
        return {"n": self.n, "rho": self.rho.value, "p_value": self.p_value, "rho_reason": self.rho.reason}


@dataclass(frozen=True)
class Spearman(JsonRecord):
    """Each task's mean valid rating against the author's self-rating and the harmlessness score."""

    author_rating: Correlation
    min_harmlessness_score_transcript: Correlation


@dataclass(frozen=True)
class SuccessAgreement(FleissKappas):
    """Agreement on the success rating, the headline of the report.

    The headline (every task with 2 or more ratings, ordinal first): krippendorff_alpha_ordinal;
    icc, ICC(2,1) and ICC(2,k) on one block of tasks x reviewers; gwet_ac2_ordinal, gwet_ac1,
    fleiss_kappa_all_tasks and binary_fleiss_kappa_all_tasks with Gwet's standard error and
    interval. The inherited fleiss_kappa, binary_fleiss_kappa and their ci95 are the paper's
    equal-n figure (complete tasks). per_category_kappa : one per SUCCESS_VALUES, that value
    against the rest (complete tasks); distribution : valid ratings of each success value;
    reviewer_ids : the column order of icc.reviewers.
    """

    tasks_with_two_or_more_ratings: int
    icc: ordinal.Icc
    reviewer_ids: tuple[int, ...]
    gwet_ac2_ordinal: ordinal.Coefficient
    gwet_ac1: ordinal.Coefficient
    fleiss_kappa_all_tasks: ordinal.Coefficient
    binary_fleiss_kappa_all_tasks: ordinal.Coefficient
    with_author: AuthorKappas
    with_author_paper_footing: PaperFooting
    per_category_kappa: tuple[Estimate, ...]
    percent_agreement: Estimate
    binary_percent_agreement: Estimate
    krippendorff_alpha_ordinal: Estimate
    krippendorff_alpha_nominal: Estimate
    krippendorff_alpha_binary: Estimate
    distribution: tuple[int, ...]
    threshold: int
    spearman: Spearman
    ci_method: str
    paper: Paper = PAPER

    def as_json(self) -> dict:
        out: dict = {"tasks_with_two_or_more_ratings": self.tasks_with_two_or_more_ratings}
        put(out, "krippendorff_alpha_ordinal", self.krippendorff_alpha_ordinal)
        put_icc(out, self.icc, self.reviewer_ids)
        for name in ("gwet_ac2_ordinal", "gwet_ac1", "fleiss_kappa_all_tasks", "binary_fleiss_kappa_all_tasks"):
            put_coefficient(out, name, getattr(self, name))
        out["all_tasks_ci_method"] = ALL_TASKS_CI
        out["icc_ci_method"] = ICC_CI
        out["intervals_conditional_on_reviewers"] = CONDITIONAL
        out.update(super().as_json())
        out["with_author"] = self.with_author.as_json()
        out["with_author_paper_footing"] = self.with_author_paper_footing.as_json()
        out["per_category_kappa"] = {}
        for value, estimate in zip(SUCCESS_VALUES, self.per_category_kappa):
            put(out["per_category_kappa"], value, estimate)
        for name in (
            "percent_agreement", "binary_percent_agreement", "krippendorff_alpha_nominal", "krippendorff_alpha_binary",
        ):
            put(out, name, getattr(self, name))
        out["distribution"] = dict(zip(SUCCESS_VALUES, self.distribution))
        out["threshold"] = self.threshold
        out["paper"] = dataclasses.asdict(self.paper)
        out["spearman"] = self.spearman.as_json()
        out["ci_method"] = self.ci_method
        return out


def success_agreement(
    tasks: ReviewedTasks,
    counts: np.ndarray,
    author: np.ndarray,
    mean_success: np.ndarray,
    complete: np.ndarray,
    kappas: tuple[FleissKappas, AuthorKappas],
    reviewers_per_task: int,
    threshold: int,
    ci_method: str,
) -> SuccessAgreement:
    """Agreement on the success rating. counts : (N, K) every task; author : (N,) self-rating
    categories, -1 where unknown; mean_success : (N,) each task's mean valid rating, NaN without
    one; complete : (N,) bool; kappas : the complete tasks' Fleiss' kappas (paper.kappa_sections)."""
    pairable = counts.sum(axis=1) >= 2
    reviewers_kappas, with_author = kappas
    return SuccessAgreement(
        **fields(reviewers_kappas),
        **all_task_measures(counts[pairable], tasks.ratings, threshold),
        tasks_with_two_or_more_ratings=int(pairable.sum()),
        reviewer_ids=tuple(int(r) for r in tasks.reviewer_ids),
        with_author=with_author,
        with_author_paper_footing=paper_footing(tasks.ratings[complete], author[complete], reviewers_per_task, threshold),
        per_category_kappa=tuple(kappa.fleiss_kappa_per_category(counts[complete])),
        percent_agreement=kappa.percent_agreement(counts[complete]),
        binary_percent_agreement=kappa.percent_agreement(kappa.binarise(counts[complete], threshold)),
        krippendorff_alpha_ordinal=kappa.krippendorff_alpha(counts, "ordinal"),
        krippendorff_alpha_nominal=kappa.krippendorff_alpha(counts, "nominal"),
        krippendorff_alpha_binary=kappa.krippendorff_alpha(kappa.binarise(counts, threshold), "nominal"),
        distribution=tuple(counts.sum(axis=0).tolist()),
        threshold=threshold,
        spearman=Spearman(
            author_rating=correlation(mean_success, np.where(author >= 0, author, np.nan).astype(float)),
            min_harmlessness_score_transcript=correlation(mean_success, tasks.harmlessness),
        ),
        ci_method=ci_method,
    )


def mean_ratings(counts: np.ndarray) -> np.ndarray:
    """Each task's mean valid rating (N,) from its counts (N, K); NaN without a valid rating."""
    n_valid = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_valid > 0, (counts @ np.arange(N_CATEGORIES)) / np.maximum(n_valid, 1), np.nan)


def all_task_measures(counts: np.ndarray, ratings: np.ndarray, threshold: int) -> dict:
    """The measures over every task with 2 or more ratings. counts : (M, K) those tasks;
    ratings : (N, R) for the ICC's block (it picks its own tasks)."""
    return {
        "icc": ordinal.icc(ratings),
        "gwet_ac2_ordinal": ordinal.gwet_ac2_ordinal(counts),
        "gwet_ac1": ordinal.gwet_ac1(counts),
        "fleiss_kappa_all_tasks": ordinal.fleiss_kappa_all_tasks(counts),
        "binary_fleiss_kappa_all_tasks": ordinal.fleiss_kappa_all_tasks(kappa.binarise(counts, threshold)),
    }


def mean(values: np.ndarray, reason: str) -> Estimate:
    """The mean of values (n,), or undefined with `reason` when there are none."""
    return Estimate(float(np.mean(values))) if values.size else Estimate(None, reason)


def correlation(x: np.ndarray, y: np.ndarray) -> Correlation:
    """Spearman's rho over the tasks where both x (N,) and y (N,) are known."""
    n = int((np.isfinite(x) & np.isfinite(y)).sum())
    rho, p_value = ordinal.spearman(x, y, unit="task")
    return Correlation(n, rho, p_value)


# --- precision ----------------------------------------------------------------------------------


PRECISION_STATISTIC = "fleiss_kappa_all_tasks"
PLANNED_UNKNOWN = (
    "the attacks the review will have are not known: give --manifest (every attack sampled), or read the live "
    "project with --project (every task imported)"
)


@dataclass(frozen=True)
class Precision:
    """How precise the review is so far, and will be at completion: the half-width of Fleiss' kappa's
    95% interval (every task with 2 or more valid ratings) now and projected, x sqrt(now / planned),
    to the attacks planned (the manifest's, else a live project's tasks), against the target."""

    projection: Projection
    planned_from: str | None

    def as_json(self) -> dict:
        return {"statistic": PRECISION_STATISTIC, "attacks_planned_from": self.planned_from, **self.projection.as_json()}


def precision(success: SuccessAgreement, items: Items, manifest: list[dict] | None, target: float | None) -> Precision:
    """The review's precision now and at completion (see Precision)."""
    interval = success.fleiss_kappa_all_tasks.ci95
    if manifest is not None:
        planned, planned_from = len({record["attack_id"] for record in manifest}), "manifest"
    elif items.source_lists_unannotated_tasks:
        planned, planned_from = items.total, "project"
    else:
        planned, planned_from = None, None
    now = interval_half_width(interval.low, interval.high)
    projection = projected_half_width(now, items.with_two_or_more_ratings, planned, target, planned_unknown=PLANNED_UNKNOWN)
    return Precision(projection, planned_from)

