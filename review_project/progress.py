"""Review progress: how far the project is, task by task and reviewer by reviewer (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas only for the table path: `status` from the ledger counts in SQL
    import pandas as pd


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


def review_progress(tasks: int, table: pd.DataFrame, reviewers_per_task: int, members: dict[int, str] | None = None) -> Progress:
    """Progress from the project's number of tasks and its annotation table (export.annotation_table).

    A task is fully reviewed when `reviewers_per_task` distinct reviewers submitted it (a skip
    is not a review), untouched when nobody has submitted or skipped it. members : id -> email
    of everyone who may review; those with no annotation are listed with 0 tasks.
    """
    from review_project.export import latest_annotations

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
    return _progress(tasks, full, untouched, reviewers_per_task, people, members)


def _progress(tasks, full, untouched, reviewers_per_task, people, members) -> Progress:
    seen = {person.reviewer_id for person in people}
    people = people + [ReviewerProgress(user, email) for user, email in (members or {}).items() if user not in seen]
    people.sort(key=lambda p: (p.email or "", p.reviewer_id))
    return Progress(
        tasks=tasks,
        fully_reviewed=full,
        in_progress=tasks - full - untouched,
        untouched=untouched,
        reviewers_per_task=reviewers_per_task,
        reviewers=people,
    )


def progress_from_counts(counts, reviewers_per_task: int, emails: dict[int, str], members: dict[int, str] | None = None) -> Progress:
    """Progress from the ledger's aggregates (workers/store/ledger.py ReviewCounts), as review_progress counts a table.

    counts.reviewers holds each reviewer's counts over the tasks they annotated once; of a task
    they annotated more than once, counts.repeated has the rows and the latest rule picks here.
    """
    tally = {reviewer: [submitted, skipped, last] for reviewer, submitted, skipped, last in counts.reviewers}
    for _task, reviewer, _annotation, skipped in latest_rows(counts.repeated):
        tally[reviewer][1 if skipped else 0] += 1
    people = [
        ReviewerProgress(reviewer_id=int(reviewer), email=emails.get(int(reviewer)), submitted=submitted, skipped=skipped, last_activity=last)
        for reviewer, (submitted, skipped, last) in tally.items()
    ]
    untouched = max(0, counts.tasks - counts.annotated_tasks)
    return _progress(counts.tasks, counts.fully_reviewed, untouched, reviewers_per_task, people, members)


def latest_rows(rows: Iterable[tuple]) -> list[tuple]:
    """Of (task, reviewer, annotation_id, skipped, updated_at, created_at) rows, each reviewer's
    latest of each task as (task, reviewer, annotation_id, skipped): export.latest_annotations' rule
    (greatest updated_at, else created_at, read as UTC times, unreadable first; then the greatest id)."""
    latest = {}
    for task, reviewer, annotation, skipped, updated_at, created_at in rows:
        key = (_moment(updated_at if updated_at is not None else created_at), annotation)
        if (task, reviewer) not in latest or key > latest[(task, reviewer)][0]:
            latest[(task, reviewer)] = (key, (task, reviewer, annotation, bool(skipped)))
    return [row for _, row in latest.values()]


_NEVER = datetime.min.replace(tzinfo=timezone.utc)


def _moment(text) -> tuple[bool, datetime]:
    """A time as pandas reads it there (ISO 8601, naive as UTC); (False, ...) when unreadable, sorting first."""
    if not isinstance(text, str):
        return (False, _NEVER)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return (False, _NEVER)
    return (True, moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc))


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


# -- consent beside the work (issue 18): status, the worker's digest and `wellbeing` share these -------


@dataclass(frozen=True)
class ConsentRow:
    """One person: their consent standing, whether they joined Label Studio, their tasks done.

    consent : 'consented', 'invited', 'declined', 'withdrawn' (their latest event), or None: never asked.
    unconsented : they annotated with no consent on record (they came in another way).
    """

    email: str
    consent: str | None
    consented_at: float | None
    joined: bool
    tasks: int
    unconsented: bool


def consent_rows(consents, tasks: dict[str, int], joined: set[str]) -> list[ConsentRow]:
    """Everyone invited or with work: `consents` have .email, .state and .consented_at (the worker's
    Consent), `tasks` counts tasks done by lower-cased email, `joined` holds the emails with an account."""
    standing = {c.email.lower(): c for c in consents}
    tasks = {email.lower(): n for email, n in tasks.items()}
    rows = []
    for email in sorted(set(standing) | {e for e, n in tasks.items() if n}):
        consent = standing.get(email)
        done = tasks.get(email, 0)
        rows.append(ConsentRow(
            email=email, consent=consent.state if consent else None,
            consented_at=consent.consented_at if consent else None,
            joined=email in joined or done > 0, tasks=done,
            unconsented=done > 0 and (consent is None or consent.consented_at is None),
        ))
    return rows


def _consent_cell(row: ConsentRow) -> str:
    from datetime import datetime

    if row.consent == "consented":
        return datetime.fromtimestamp(row.consented_at).strftime("%Y-%m-%d %H:%M")
    if row.consent == "withdrawn":
        return "withdrew"
    return {"invited": "asked, no answer", "declined": "declined"}.get(row.consent, "never asked")


def consent_lines(rows: list[ConsentRow]) -> list[str]:
    """The consent table: consented (when), joined, tasks done; and who annotated without a recorded consent."""
    if not rows:
        return []
    width = max(len("reviewer"), *(len(r.email) for r in rows))
    lines = [f"  {'reviewer':<{width}}  {'consented':<16}  joined  tasks"]
    for r in rows:
        flag = "  annotated without a recorded consent" if r.unconsented else ""
        lines.append(f"  {r.email:<{width}}  {_consent_cell(r):<16}  {'yes' if r.joined else 'no':<6}  {r.tasks:>5}{flag}")
    flagged = [r.email for r in rows if r.unconsented]
    if flagged:
        lines.append(f"{len(flagged)} annotated without a recorded consent: {', '.join(flagged)}"
                     " (they came in another way; `review-project invite` asks them)")
    return lines
