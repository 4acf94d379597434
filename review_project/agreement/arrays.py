"""From an annotation table (the columns of export.COLUMNS) and the manifest to the arrays the
statistics read. Pure: no I/O.

The inclusion rules live here:
- a reviewer's latest annotation of a task replaces the earlier ones (export.latest_annotations,
  the one rule status, export and agreement share);
- a skip (`was_cancelled`) is not a rating; an invalid annotation (design.md) is not a rating
  and is listed;
- an annotation without a reviewer is left out (and counted).
Which ratings each statistic then uses (complete tasks, or every task with 2 or more ratings)
is the business of the modules that compute them (agreement.summary lists which).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from review_project import export
from review_project.manifest import model_key
from review_project.schema import SUCCESS_VALUES, TOPICS
from review_project.shared import ExportError

N_CATEGORIES = len(SUCCESS_VALUES)  # a valid success rating is a category 0..N_CATEGORIES - 1


@dataclass(frozen=True)
class ReviewedTasks:
    """One project as arrays: N tasks, R reviewers, A valid ratings, T topics.

    task_id, attack_id : int (N,); ratings : float (N, R), valid success ratings, NaN = none;
    reviewer_ids : int (R,); invalid : int (N,), invalid annotations per task;
    topic_task : int (A,), the task index of each valid rating; topic_members : bool (A, T);
    author : float (N,), the author's self-rating, NaN = unknown; harmlessness : float (N,);
    model : object (N,), "<model_type> <num_params>" or None.
    """

    task_id: np.ndarray
    attack_id: np.ndarray
    ratings: np.ndarray
    reviewer_ids: np.ndarray
    invalid: np.ndarray
    topic_task: np.ndarray
    topic_members: np.ndarray
    author: np.ndarray
    harmlessness: np.ndarray
    model: np.ndarray


@dataclass(frozen=True, eq=False)  # tables do not compare as one value
class Reviews:
    """A project's annotations after the inclusion rules.

    arrays : what the statistics read; latest : each reviewer's latest annotation of each task
    (export.COLUMNS plus `rating`, a usable success rating, and `invalid`); all_tasks : task_id
    and attack_id of every task known, by task_id; annotations, replaced, without_reviewer :
    how many annotations the table held, were replaced by a later one, had no reviewer.
    """

    arrays: ReviewedTasks
    latest: pd.DataFrame
    all_tasks: pd.DataFrame
    annotations: int
    replaced: int
    without_reviewer: int


def reviews(table: pd.DataFrame, manifest: list[dict] | None = None, tasks: pd.DataFrame | None = None) -> Reviews:
    """Apply the inclusion rules to an annotation table and join the manifest.

    tasks : optional DataFrame (task_id, attack_id) of every task in the project, so tasks
    nobody annotated still count.
    """
    without_reviewer = int(table["reviewer_id"].isna().sum())
    unknown_attack = table[table["attack_id"].isna()]
    if len(unknown_attack):
        raise ExportError(f"task {unknown_attack['task_id'].iloc[0]}: its data has no attack_id (see design.md)")
    classified = _classified(table[table["reviewer_id"].notna()])
    latest, replaced = export.latest_annotations(classified)
    known = latest[["task_id", "attack_id"]]
    if tasks is not None:
        known = pd.concat([tasks[["task_id", "attack_id"]], known])
    all_tasks = known.drop_duplicates("task_id").sort_values("task_id").reset_index(drop=True)
    return Reviews(
        arrays=reviewed_tasks(latest, all_tasks, manifest),
        latest=latest,
        all_tasks=all_tasks,
        annotations=int(len(classified) + without_reviewer),
        replaced=int(replaced),
        without_reviewer=without_reviewer,
    )


def _classified(table: pd.DataFrame) -> pd.DataFrame:
    """Adds `rating` (a usable success rating) and `invalid` (excluded and listed) columns."""
    skipped = table["skipped"].astype(bool)
    missing = table["success"].isna()
    valid = table["valid"].astype(bool)
    reason = table["invalid_reason"].where(~valid, None)
    # A non-skip without a success value is invalid even if an older table said otherwise.
    reason = reason.where(~(~skipped & valid & missing), "success missing")
    return table.assign(
        rating=~skipped & valid & ~missing,
        invalid=~skipped & (~valid | missing),
        invalid_reason=reason,
    )


def reviewed_tasks(latest: pd.DataFrame, all_tasks: pd.DataFrame, manifest: list[dict] | None) -> ReviewedTasks:
    """Arrays of the project from the latest annotations and every task (task_id, attack_id)."""
    task_ids = all_tasks["task_id"].to_numpy(dtype=np.int64)
    attack_ids = all_tasks["attack_id"].to_numpy(dtype=np.int64)
    task_index = pd.Index(task_ids)
    # Only the columns used: a copy of every column of 155,844 rows was 11 MB more of the peak.
    rated = latest.loc[latest["rating"].to_numpy(dtype=bool), ["task_id", "reviewer_id", "success", "topics"]]
    reviewer_ids = np.array(sorted(latest["reviewer_id"].dropna().astype(np.int64).unique()), dtype=np.int64)
    row = task_index.get_indexer(rated["task_id"].to_numpy(dtype=np.int64))
    column = pd.Index(reviewer_ids).get_indexer(rated["reviewer_id"].to_numpy(dtype=np.int64))
    ratings = np.full((len(task_ids), len(reviewer_ids)), np.nan)
    ratings[row, column] = rated["success"].to_numpy(dtype=np.float64)
    invalid_rows = latest.loc[latest["invalid"].to_numpy(dtype=bool), ["task_id"]]
    invalid = np.bincount(task_index.get_indexer(invalid_rows["task_id"].to_numpy(dtype=np.int64)), minlength=len(task_ids))
    topic_index = pd.Index(TOPICS)
    exploded = rated["topics"].reset_index(drop=True).explode()
    members = np.zeros((len(rated), len(TOPICS)), dtype=bool)
    positions = topic_index.get_indexer(exploded.dropna().to_numpy())
    members[exploded.dropna().index.to_numpy()[positions >= 0], positions[positions >= 0]] = True
    author = np.full(len(task_ids), np.nan)
    harmlessness = np.full(len(task_ids), np.nan)
    model = np.full(len(task_ids), None, dtype=object)
    if manifest:
        # attack_ids may repeat in a project (the same attack imported twice): reindex copes.
        fields = pd.DataFrame(
            {
                "attack_id": np.array([r["attack_id"] for r in manifest], dtype=np.int64),
                "author": [_number(r.get("rating")) for r in manifest],
                "harmlessness": [_number(r.get("min_harmlessness_score_transcript")) for r in manifest],
                "model": [model_key(r) if r.get("model_type") is not None else None for r in manifest],
            }
        ).drop_duplicates("attack_id").set_index("attack_id")
        joined = fields.reindex(attack_ids)
        author = joined["author"].to_numpy(dtype=np.float64)
        harmlessness = joined["harmlessness"].to_numpy(dtype=np.float64)
        model = np.array([m if isinstance(m, str) else None for m in joined["model"]], dtype=object)
    return ReviewedTasks(
        task_id=task_ids,
        attack_id=attack_ids,
        ratings=ratings,
        reviewer_ids=reviewer_ids,
        invalid=invalid,
        topic_task=row.astype(np.int64),
        topic_members=members,
        author=author,
        harmlessness=harmlessness,
        model=model,
    )


def _number(value) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else np.nan
