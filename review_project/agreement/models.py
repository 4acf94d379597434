"""Agreement on the attacks made on each model, and the difference of every two models' kappas.

Each model gets the paper's equal-n kappas (agreement.paper) and the measures over its tasks
with 2 or more ratings (agreement.success.all_task_measures); every pair of models the
difference of their generalised Fleiss' kappa with a percentile bootstrap interval, tasks
resampled within each model. Pure: arrays in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from review_project.agreement import kappa, ordinal
from review_project.agreement.arrays import N_CATEGORIES, ReviewedTasks
from review_project.agreement.contract import JsonRecord, fields, put
from review_project.agreement.kappa import Estimate, Interval
from review_project.agreement.paper import AuthorKappas, FleissKappas, kappa_sections
from review_project.agreement.success import (
    all_task_measures,
    mean,
    put_coefficient,
    put_icc,
)

NO_MANIFEST = "no manifest given (models come from the sample manifest)"


@dataclass(frozen=True)
class ModelAgreement(FleissKappas):
    """Agreement on the attacks made on one model. items : its tasks; complete : those complete
    (the paper's equal-n kappa); tasks_with_two_or_more_ratings : those the other measures use."""

    model: str
    items: int
    complete: int
    with_author: AuthorKappas
    krippendorff_alpha_ordinal: Estimate
    mean_success: Estimate
    mean_author_rating: Estimate
    tasks_with_two_or_more_ratings: int
    gwet_ac2_ordinal: ordinal.Coefficient
    fleiss_kappa_all_tasks: ordinal.Coefficient
    binary_fleiss_kappa_all_tasks: ordinal.Coefficient
    icc: ordinal.Icc
    reviewer_ids: tuple[int, ...]

    def as_json(self) -> dict:
        out = {"items": self.items, **super().as_json(), "with_author": self.with_author.as_json(), "complete": self.complete}
        put(out, "krippendorff_alpha_ordinal", self.krippendorff_alpha_ordinal)
        out["tasks_with_two_or_more_ratings"] = self.tasks_with_two_or_more_ratings
        for name in ("gwet_ac2_ordinal", "fleiss_kappa_all_tasks", "binary_fleiss_kappa_all_tasks"):
            put_coefficient(out, name, getattr(self, name))
        put_icc(out, self.icc, self.reviewer_ids)
        out["mean_success"] = self.mean_success.value
        out["mean_author_rating"] = self.mean_author_rating.value
        return out


@dataclass(frozen=True)
class ModelKappaDifference(JsonRecord):
    """first - second (models in name order): the generalised Fleiss' kappa over each model's
    tasks with 2 or more ratings, raw and binary, each with a percentile bootstrap interval of
    the difference resample by resample (tasks resampled within each model)."""

    models: tuple[str, str]
    fleiss_kappa_all_tasks: Estimate
    fleiss_kappa_all_tasks_ci95: Interval
    binary_fleiss_kappa_all_tasks: Estimate
    binary_fleiss_kappa_all_tasks_ci95: Interval


def model_agreement(
    tasks: ReviewedTasks,
    counts: np.ndarray,
    author: np.ndarray,
    mean_success: np.ndarray,
    complete: np.ndarray,
    model_code: np.ndarray,
    models: list[str],
    intervals: list[dict] | None,
    threshold: int,
) -> tuple[ModelAgreement, ...]:
    """One ModelAgreement per model. counts : (N, K); author : (N,) categories, -1 = unknown;
    mean_success : (N,); complete : (N,) bool; model_code : (N,) index into models (len(models)
    when unknown); intervals : paper.bootstrap_intervals' (entry code + 1 is the model's), or None."""
    n_valid = counts.sum(axis=1)
    pairable = n_valid >= 2
    reviewer_ids = tuple(int(r) for r in tasks.reviewer_ids)
    per_model = []
    for code, model in enumerate(models):
        in_model = model_code == code
        mask = complete & in_model
        model_kappas, model_author = kappa_sections(counts[mask], author[mask], intervals[code + 1] if intervals else None, threshold)
        per_model.append(
            ModelAgreement(
                **fields(model_kappas),
                model=model,
                items=int(in_model.sum()),
                complete=int(mask.sum()),
                with_author=model_author,
                krippendorff_alpha_ordinal=kappa.krippendorff_alpha(counts[in_model], "ordinal"),
                mean_success=mean(mean_success[in_model & (n_valid > 0)], "no valid rating of this model's tasks"),
                mean_author_rating=mean(author[in_model & (author >= 0)], "no known self-rating of this model's attacks"),
                tasks_with_two_or_more_ratings=int((in_model & pairable).sum()),
                **{
                    name: value
                    for name, value in all_task_measures(counts[in_model & pairable], tasks.ratings[in_model], threshold).items()
                    if name != "gwet_ac1"
                },
                reviewer_ids=reviewer_ids,
            )
        )
    return tuple(per_model)


def model_kappa_differences(counts, model_code, per_model, threshold: int, n_resamples: int, seed: int) -> tuple:
    """Every pair of models: the difference of their generalised Fleiss' kappa (raw, binary) with a
    percentile bootstrap interval, the difference taken resample by resample.

    counts : (M, K) tasks with 2 or more ratings; model_code : (M,), len(per_model) = unknown.
    Tasks are resampled within each model (the sample's design), as the equal-n intervals are.
    """
    n_models = len(per_model)
    if n_models < 2:
        return ()
    draws = kappa.resample_tasks(counts, n_resamples, seed, model_code)
    rows = draws.rows
    rows_binary = np.pad(kappa.binarise(rows, threshold), ((0, 0), (0, N_CATEGORIES - 2)))
    masks = [(draws.stratum == code)[:, None] for code in range(n_models)]
    tables = np.stack([table * mask for mask in masks for table in (rows, rows_binary)])  # (2 * models, D, K)
    resampled = ordinal.fleiss_kappa_all_tasks_resampled(tables, draws.weights).reshape(n_models, 2, -1)
    out = []
    for first in range(n_models):
        for second in range(first + 1, n_models):
            a, b = per_model[first], per_model[second]
            pair = []
            for scale, name in enumerate(("fleiss_kappa_all_tasks", "binary_fleiss_kappa_all_tasks")):
                left, right = getattr(a, name).value, getattr(b, name).value
                if left.value is None or right.value is None:
                    reason = f"{(a if left.value is None else b).model}: {(left if left.value is None else right).reason}"
                    pair += [Estimate(None, reason), Interval(None, None, reason)]
                else:
                    pair += [
                        Estimate(left.value - right.value),
                        kappa.percentile_interval(resampled[first, scale] - resampled[second, scale]),
                    ]
            out.append(ModelKappaDifference((a.model, b.model), *pair))
    return tuple(out)

