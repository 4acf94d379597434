"""How every task and annotation counted: the table facts beside the statistics.

Items counts each task once (complete + the three exclusions = total); AnnotationCounts says
what happened to the annotations; InvalidAnnotation lists each one left out and why;
ManifestCheck says how the project and the sample manifest match. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from review_project.agreement.arrays import Reviews
from review_project.agreement.contract import JsonRecord


@dataclass(frozen=True)
class Items(JsonRecord):
    """Every task counted once: complete + the three exclusions = total.

    without_rating : tasks with no valid rating; source_lists_unannotated_tasks : whether the
    source lists the tasks nobody annotated (True: a live project, or an export that holds such
    tasks; False: a table, which lists annotated tasks only; None: unknown, an export whose every
    task has an annotation, as an export of annotated tasks only has).
    """

    total: int
    complete: int
    excluded_incomplete: int
    excluded_invalid: int
    excluded_extra_ratings: int
    with_two_or_more_ratings: int
    reviewers_per_task: int
    without_rating: int = 0
    source_lists_unannotated_tasks: bool | None = None


@dataclass(frozen=True)
class AnnotationCounts(JsonRecord):
    """What happened to the annotations: replaced, without a reviewer, skips, invalid, ratings."""

    total: int
    replaced_by_later: int
    without_reviewer: int
    skipped: int
    invalid: int
    ratings: int
    edited_by_other: int


@dataclass(frozen=True)
class InvalidAnnotation(JsonRecord):
    """An annotation left out because it breaks the labelling contract, and why."""

    task_id: int
    attack_id: int | None
    annotation_id: int | None
    reviewer: int
    reviewer_email: str | None
    reason: str


@dataclass(frozen=True)
class ManifestCheck(JsonRecord):
    """How the project and the sample manifest match."""

    attacks: int
    tasks_not_in_manifest: int
    attacks_not_in_project: int
    duplicate_attack_ids_in_project: int


def count_items(n_valid: np.ndarray, invalid: np.ndarray, reviewers_per_task: int) -> Items:
    """Every task counted once. n_valid : (N,) valid ratings per task; invalid : (N,) invalid annotations."""
    return Items(
        total=int(len(n_valid)),
        complete=int((n_valid == reviewers_per_task).sum()),
        excluded_incomplete=int(((n_valid < reviewers_per_task) & (invalid == 0)).sum()),
        excluded_invalid=int(((n_valid < reviewers_per_task) & (invalid > 0)).sum()),
        excluded_extra_ratings=int((n_valid > reviewers_per_task).sum()),
        with_two_or_more_ratings=int((n_valid >= 2).sum()),
        reviewers_per_task=reviewers_per_task,
        without_rating=int((n_valid == 0).sum()),
    )


def annotation_counts(reviewed: Reviews) -> AnnotationCounts:
    """What happened to the annotations of a table, after the inclusion rules (arrays.reviews)."""
    latest = reviewed.latest
    return AnnotationCounts(
        total=reviewed.annotations,
        replaced_by_later=reviewed.replaced,
        without_reviewer=reviewed.without_reviewer,
        skipped=int(latest["skipped"].sum()),
        invalid=int(latest["invalid"].sum()),
        ratings=int(latest["rating"].sum()),
        edited_by_other=int(latest["edited_by_other"].astype(bool).sum()),
    )


def invalid_annotations(latest: pd.DataFrame) -> tuple[InvalidAnnotation, ...]:
    """Every invalid latest annotation, by task and reviewer."""
    invalid = latest[latest["invalid"]].sort_values(["task_id", "reviewer_id"])
    return tuple(
        InvalidAnnotation(
            task_id=int(r.task_id),
            attack_id=None if pd.isna(r.attack_id) else int(r.attack_id),
            annotation_id=None if pd.isna(r.annotation_id) else int(r.annotation_id),
            reviewer=int(r.reviewer_id),
            reviewer_email=r.reviewer_email,
            reason=r.invalid_reason or "invalid",
        )
        for r in invalid.itertuples()
    )


def manifest_check(all_tasks: pd.DataFrame, manifest: list[dict] | None) -> ManifestCheck | None:
    """How the project's tasks and the manifest's attacks match; None without a manifest."""
    if manifest is None:
        return None
    in_manifest = {r["attack_id"] for r in manifest}
    in_project = set(all_tasks["attack_id"].astype(np.int64).tolist())
    return ManifestCheck(
        attacks=len(in_manifest),
        tasks_not_in_manifest=int(len(in_project - in_manifest)),
        attacks_not_in_project=int(len(in_manifest - in_project)),
        duplicate_attack_ids_in_project=int(all_tasks["attack_id"].duplicated().sum()),
    )

