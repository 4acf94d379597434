"""Review progress: how far the project is, task by task and reviewer by reviewer (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from review_project.export import latest_annotations


@dataclass
class ReviewerProgress:
    """One reviewer's work so far."""

    reviewer_id: int
    email: str | None
    submitted: int = 0
    skipped: int = 0
    last_activity: str | None = None


@dataclass
class Progress:
    """Tasks fully reviewed, in progress and untouched, and each reviewer's counts."""

    tasks: int
    fully_reviewed: int
    in_progress: int
    untouched: int
    reviewers_per_task: int
    reviewers: list[ReviewerProgress] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "tasks": self.tasks,
            "fully_reviewed": self.fully_reviewed,
            "in_progress": self.in_progress,
            "untouched": self.untouched,
            "reviewers_per_task": self.reviewers_per_task,
            "reviewers": [vars(r) for r in self.reviewers],
        }


def review_progress(tasks: int, table: pd.DataFrame, reviewers_per_task: int) -> Progress:
    """Progress from the project's number of tasks and its annotation table (export.annotation_table).

    A task is fully reviewed when `reviewers_per_task` distinct reviewers submitted it (a skip
    is not a review), untouched when nobody has submitted or skipped it.
    """
    submitted = table[~table["skipped"]]
    reviewed_by = submitted.groupby("task_id")["reviewer_id"].nunique()
    full = int((reviewed_by >= reviewers_per_task).sum())
    untouched = max(0, tasks - int(table["task_id"].dropna().nunique()))

    people = []
    # A reviewer's latest annotation of a task replaces the earlier ones, so count tasks.
    latest_of_all = latest_annotations(table[table["reviewer_id"].notna()])[0]
    for reviewer_id, rows in table.groupby("reviewer_id"):
        latest = latest_of_all[latest_of_all["reviewer_id"] == reviewer_id]
        activity = rows["updated_at"].dropna()
        people.append(
            ReviewerProgress(
                reviewer_id=int(reviewer_id),
                email=next(iter(rows["reviewer_email"].dropna()), None),
                submitted=int((~latest["skipped"]).sum()),
                skipped=int(latest["skipped"].sum()),
                last_activity=max(activity) if len(activity) else None,
            )
        )
    people.sort(key=lambda p: (p.email or "", p.reviewer_id))
    return Progress(
        tasks=tasks,
        fully_reviewed=full,
        in_progress=tasks - full - untouched,
        untouched=untouched,
        reviewers_per_task=reviewers_per_task,
        reviewers=people,
    )


def progress_text(progress: Progress, project_id: int, title: str) -> str:
    """The table `review-project status` prints."""
    lines = [
        f"Project {project_id} {title!r}: {progress.tasks} tasks, {progress.reviewers_per_task} reviewers per task",
        f"  fully reviewed  {progress.fully_reviewed:>6}",
        f"  in progress     {progress.in_progress:>6}",
        f"  untouched       {progress.untouched:>6}",
    ]
    if not progress.reviewers:
        return "\n".join([*lines, "No reviewer has started yet."])
    width = max(len(r.email or str(r.reviewer_id)) for r in progress.reviewers)
    lines.append(f"\n  {'reviewer':<{width}}  submitted  skipped  last activity")
    for r in progress.reviewers:
        lines.append(f"  {r.email or r.reviewer_id:<{width}}  {r.submitted:>9}  {r.skipped:>7}  {r.last_activity or '-'}")
    return "\n".join(lines)
