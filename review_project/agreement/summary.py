"""The agreement summary a lead reads: every statistic, typed, and how each task and annotation counted.

`summarise` gives a Summary: frozen dataclasses in which every statistic is a kappa.Estimate (a
value, or None and the reason) and every interval a kappa.Interval. `Summary.as_json()` is the
dict `review-project agreement --json` writes, a contract (agreement.contract): an undefined
statistic is null beside its `<name>_reason`, never NaN. `statistics` is the numeric part over
arrays (agreement.arrays), which the benchmark times alone. Pure: no I/O.

Each job has its module: success (the headline and precision), paper (the paper's equal-n
figure), models (per model and between models), topics, reviewers (each reviewer and every
pair), disagreement (the most disputed tasks), items (how every task and annotation counted).

Which ratings each statistic uses:
- the headline measures use every task with 2 or more valid ratings: Krippendorff's alpha,
  Gwet's AC1 and AC2, Fleiss' kappa generalised to a varying number of ratings
  (`*_all_tasks`), percent agreement on pairs and pairwise Cohen's kappa; ICC(2,1) and ICC(2,k)
  use the block of tasks rated by one and the same set of reviewers (ordinal.icc_block);
- the paper's equal-n figure (`fleiss_kappa`, `binary_fleiss_kappa`, their intervals, the
  with-author and paper-footing views, per-category and per-tag kappa) uses only complete tasks
  (exactly `reviewers_per_task` valid ratings);
- every task is counted once in `items`: complete + excluded_incomplete + excluded_invalid
  (short of ratings because an annotation was invalid) + excluded_extra_ratings = total.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from review_project.agreement import arrays, kappa
from review_project.agreement.arrays import N_CATEGORIES, ReviewedTasks
from review_project.agreement.contract import fields
from review_project.agreement.disagreement import DisputedTask, most_disagreement
from review_project.agreement.items import (
    AnnotationCounts,
    InvalidAnnotation,
    Items,
    ManifestCheck,
    annotation_counts,
    count_items,
    invalid_annotations,
    manifest_check,
)
from review_project.agreement.models import NO_MANIFEST, ModelAgreement, ModelKappaDifference, model_agreement, model_kappa_differences
from review_project.agreement.paper import author_category, bootstrap_intervals, kappa_sections
from review_project.agreement.reviewers import (
    ReviewerAgreement,
    ReviewerPairs,
    ReviewerRatings,
    reviewer_activity,
    reviewer_pairs,
    reviewer_ratings,
)
from review_project.agreement.success import Precision, SuccessAgreement, mean_ratings, precision, success_agreement
from review_project.agreement.topics import Topics, topic_agreement
from review_project.planning import DEFAULT_HALF_WIDTH


@dataclass(frozen=True)
class AgreementSettings:
    """What the summary was asked for. source : how reports name the annotations' source;
    include_text : whether disputed tasks carry their transcripts (not a JSON key: each
    disputed task then has `text`)."""

    reviewers_per_task: int
    threshold: int
    n_resamples: int
    seed: int
    manifest: bool
    source: str | None = None
    include_text: bool = False

    def as_json(self) -> dict:
        out = {name: getattr(self, name) for name in ("reviewers_per_task", "threshold", "n_resamples", "seed", "manifest")}
        if self.source is not None:
            out["source"] = self.source
        return out


@dataclass(frozen=True)
class Statistics:
    """Every statistic computed from the arrays alone (see `statistics`)."""

    items: Items
    success: SuccessAgreement
    per_model: tuple[ModelAgreement, ...]
    per_model_reason: str | None
    model_kappa_differences: tuple[ModelKappaDifference, ...]
    topics: Topics
    reviewers: tuple[ReviewerRatings, ...]
    reviewer_pairs: ReviewerPairs
    disagreement: tuple[DisputedTask, ...]


@dataclass(frozen=True)
class Summary:
    """The agreement summary: the statistics, and how every task and annotation counted.

    per_model is empty, with per_model_reason, when no model is known; manifest is None
    without a manifest.
    """

    items: Items
    success: SuccessAgreement
    per_model: tuple[ModelAgreement, ...]
    per_model_reason: str | None
    model_kappa_differences: tuple[ModelKappaDifference, ...]
    topics: Topics
    reviewers: tuple[ReviewerAgreement, ...]
    reviewer_pairs: ReviewerPairs
    disagreement: tuple[DisputedTask, ...]
    annotations: AnnotationCounts
    invalid_annotations: tuple[InvalidAnnotation, ...]
    manifest: ManifestCheck | None
    settings: AgreementSettings
    precision: Precision

    def as_json(self) -> dict:
        """The dict `review-project agreement --json` writes (JSON-ready: no NaN, no numpy types)."""
        return {
            "items": self.items.as_json(),
            "success": self.success.as_json(),
            "per_model": {section.model: section.as_json() for section in self.per_model},
            "per_model_reason": self.per_model_reason,
            "model_kappa_differences": {" - ".join(d.models): d.as_json() for d in self.model_kappa_differences},
            "topics": self.topics.as_json(),
            "reviewers": {str(reviewer.reviewer_id): reviewer.as_json() for reviewer in self.reviewers},
            "reviewer_pairs": self.reviewer_pairs.as_json(),
            "disagreement": [task.as_json(self.settings.include_text) for task in self.disagreement],
            "annotations": self.annotations.as_json(),
            "invalid_annotations": [entry.as_json() for entry in self.invalid_annotations],
            "manifest": None if self.manifest is None else self.manifest.as_json(),
            "precision": self.precision.as_json(),
            "settings": self.settings.as_json(),
        }


# --- from an annotation table -------------------------------------------------------------------


def summarise(
    table: pd.DataFrame,
    manifest: list[dict] | None = None,
    tasks: pd.DataFrame | None = None,
    reviewers_per_task: int = 4,
    threshold: int = 3,
    n_resamples: int = 2000,
    seed: int = 0,
    top_disagreements: int = 20,
    texts: dict[int, str] | None = None,
    source: str | None = None,
    lists_every_task: bool = False,
    target_half_width: float | None = DEFAULT_HALF_WIDTH,
) -> Summary:
    """The agreement summary of an annotation table (export.COLUMNS).

    tasks : optional DataFrame (task_id, attack_id) of every task the source lists, so tasks
    nobody annotated still count in items.total; lists_every_task : the source is a live
    project, whose tasks are all of them; texts : attack_id -> transcript text, put beside the
    most disputed tasks only when the lead asks for it (--include-text); source : how reports
    name where the table came from; target_half_width : the planned half-width of kappa's interval
    (`precision`).
    """
    if reviewers_per_task < 2:
        raise ValueError(f"reviewers_per_task must be at least 2, got {reviewers_per_task}")
    reviewed = arrays.reviews(table, manifest, tasks)
    result = statistics(reviewed.arrays, reviewers_per_task, threshold, n_resamples, seed, top_disagreements)
    activity = reviewer_activity(reviewed.latest)
    disputed = result.disagreement
    if texts is not None:
        disputed = tuple(dataclasses.replace(task, text=texts.get(task.attack_id)) for task in disputed)
    unannotated = int((~reviewed.all_tasks["task_id"].isin(table["task_id"].dropna())).sum())
    listed = True if lists_every_task or unannotated else (False if tasks is None else None)
    items = dataclasses.replace(result.items, source_lists_unannotated_tasks=listed)
    return Summary(
        **{
            **fields(result),
            "items": items,
            "reviewers": tuple(ReviewerAgreement(ratings, activity[ratings.reviewer_id]) for ratings in result.reviewers),
            "disagreement": disputed,
        },
        annotations=annotation_counts(reviewed),
        invalid_annotations=invalid_annotations(reviewed.latest),
        manifest=manifest_check(reviewed.all_tasks, manifest),
        settings=AgreementSettings(
            reviewers_per_task=reviewers_per_task,
            threshold=threshold,
            n_resamples=n_resamples,
            seed=seed,
            manifest=manifest is not None,
            source=source,
            include_text=texts is not None,
        ),
        precision=precision(result.success, items, manifest, target_half_width),
    )


def statistics(
    tasks: ReviewedTasks,
    reviewers_per_task: int = 4,
    threshold: int = 3,
    n_resamples: int = 2000,
    seed: int = 0,
    top_disagreements: int = 20,
) -> Statistics:
    """Every agreement statistic of the summary, from arrays (no table, no I/O)."""
    counts = kappa.count_table(tasks.ratings, N_CATEGORIES)
    n_valid = counts.sum(axis=1)
    complete = n_valid == reviewers_per_task
    pairable = n_valid >= 2
    author = author_category(tasks.author)
    mean_success = mean_ratings(counts)
    # factorize codes known models 0..; None becomes -1, mapped to its own stratum below.
    model_code, models = pd.factorize(tasks.model, sort=True)
    models = [str(m) for m in models]
    model_code = np.where(model_code < 0, len(models), model_code).astype(np.int64)

    # One stratified bootstrap (by model when known: the sample's design) serves every interval.
    intervals = None
    if complete.sum() >= 2:
        intervals = bootstrap_intervals(
            counts[complete], author[complete], model_code[complete], len(models), threshold, n_resamples, seed
        )
    kappas = kappa_sections(counts[complete], author[complete], intervals[0] if intervals else None, threshold)
    ci_method = f"percentile bootstrap over complete tasks, {n_resamples} resamples, seed {seed}" + (
        ", stratified by model" if models else ""
    )
    success = success_agreement(tasks, counts, author, mean_success, complete, kappas, reviewers_per_task, threshold, ci_method)
    per_model = model_agreement(tasks, counts, author, mean_success, complete, model_code, models, intervals, threshold)
    pairs, versus_others = reviewer_pairs(tasks)
    return Statistics(
        items=count_items(n_valid, tasks.invalid, reviewers_per_task),
        success=success,
        per_model=per_model,
        per_model_reason=None if models else NO_MANIFEST,
        model_kappa_differences=model_kappa_differences(
            counts[pairable], model_code[pairable], per_model, threshold, n_resamples, seed
        ),
        topics=topic_agreement(tasks, complete, reviewers_per_task),
        reviewers=reviewer_ratings(tasks, versus_others),
        reviewer_pairs=pairs,
        disagreement=most_disagreement(tasks, counts, author, top_disagreements),
    )
