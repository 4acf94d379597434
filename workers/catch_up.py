"""Catch-up: keep the ledger complete from the Label Studio API, costing what changed.

Label Studio sends each webhook once, with no retry, so anything sent while the worker was down
exists only in the API. Two reads serve that, neither of which carries a transcript:
- the first sync of a project reads every task with its annotations, in pages in task-id order,
  and records after each page how far it got, so a restart resumes there (70 s for the whole
  dataset); milestones met during it are missed, and each reviewer's latest becomes the one
  check-in at the end;
- every later pass asks only for the tasks Label Studio changed since the last pass (a Data
  Manager filter on the task's updated_at, which creating, updating, skipping or deleting an
  annotation all move: 0.13 s when nothing changed), and replaces each changed task's
  annotations in the ledger, which also catches deletions.
Recording is idempotent (store.py), so catch-up and a webhook for the same change never count
a task twice, and a late read never undoes a newer webhook.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from workers.pacing import NO_NUDGES, PacingRules
from workers.label_studio_api import LabelStudioTask, UnknownProject, time_filter_value
from workers.store import LATEST, MISSED, Store
from workers.webhook import CAUGHT_UP, RequestRefused, annotation_seen

log = logging.getLogger(__name__)

# Each pass re-reads the tasks changed in the last few minutes before the previous pass: a change
# committed late, or a server clock a little behind the worker's, is still seen. Recording is
# idempotent, so the overlap costs a few re-read tasks and nothing else.
OVERLAP_SECONDS = 300.0
# The first sync logs its progress at most this often.
PROGRESS_SECONDS = 10.0


@dataclass(frozen=True)
class CatchUpReport:
    """What one pass did: tasks read, exposures the worker had not counted (a reviewer's first
    annotation of a task), annotations gone from Label Studio, and check-ins made due."""

    projects: tuple[int, ...]
    tasks_read: int = 0
    exposures_new: int = 0
    annotations_removed: int = 0
    checkins_due: int = 0


def projects_to_watch(store: Store, label_studio, webhook_secret: str) -> list[int]:
    """Projects the store has heard of, plus those whose webhook carries this worker's secret."""
    return sorted(set(store.events.known_projects()) | label_studio.watched_projects(webhook_secret))


def catch_up(
    store: Store, label_studio, projects: Iterable[int], every: int, scheduling: str = LATEST,
    rules: PacingRules = NO_NUDGES,
) -> CatchUpReport:
    """One pass over `projects`: the first sync where it has not finished, else the changes since
    the last pass. `scheduling` is store.LATEST, or store.MISSED for a worker without Slack;
    `rules` say which tasks are severe (catch-up advances pacing but sends no nudge).
    LabelStudioUnavailable propagates (the next pass goes on from where this one stopped); a
    project Label Studio no longer has (UnknownProject) is marked gone and skipped from then on."""
    projects = tuple(projects)
    totals = CatchUpReport(projects)
    for project in projects:
        state = store.ledger.state(project)
        if state.gone_at is not None:
            continue
        try:
            if state.sync_done_at is None:
                report = full_sync(store, label_studio, project, every, scheduling, rules)
            else:
                report = changes_since(store, label_studio, project, state.changed_after, every, scheduling, rules)
        except UnknownProject as error:
            # Projects go in id order: a deleted one must not stop the catch-up of every later one.
            log.warning("%s: the project is gone from Label Studio; marked gone in the store, catch-up skips it", error)
            store.ledger.note(project, gone_at=time.time())
            continue
        totals = CatchUpReport(
            projects,
            totals.tasks_read + report.tasks_read,
            totals.exposures_new + report.exposures_new,
            totals.annotations_removed + report.annotations_removed,
            totals.checkins_due + report.checkins_due,
        )
    return totals


def full_sync(
    store: Store, label_studio, project: int, every: int, scheduling: str = LATEST, rules: PacingRules = NO_NUDGES
) -> CatchUpReport:
    """Read every task of the project into the ledger, resuming where an earlier sync stopped.

    While it runs, the store records every milestone as missed; at the end each reviewer's latest
    becomes a pending check-in, unless `scheduling` is MISSED (a worker without Slack).
    """
    state = store.ledger.state(project)
    started = state.sync_started_at
    if started is None:
        started = time.time()
        # Changes made while the sync reads are caught by the first pass after it.
        store.ledger.note(project, sync_started_at=started, changed_after=time_filter_value(started - OVERLAP_SECONDS))
    total = label_studio.task_count(project)
    resumed = "" if state.sync_after_task is None else f", resuming after task {state.sync_after_task}"
    log.info("first sync of project %s: reading its %d tasks into the ledger%s", project, total, resumed)
    tasks_read = new = removed = 0
    logged = time.monotonic()
    for page in label_studio.tasks(project, after_task=state.sync_after_task or 0):
        page_new, page_removed, _ = _record_tasks(store, project, page, every, time.time(), scheduling, rules)
        store.ledger.note(project, sync_after_task=page[-1].id)
        tasks_read, new, removed = tasks_read + len(page), new + page_new, removed + page_removed
        if time.monotonic() - logged > PROGRESS_SECONDS:
            logged = time.monotonic()
            log.info("first sync of project %s: %d tasks read%s", project, tasks_read, resumed and " since resuming")
    now = time.time()
    store.ledger.note(project, sync_done_at=now, last_catch_up_at=now, tasks_listed_at=now)
    due = store.checkins.promote_latest_missed(project, since=started) if scheduling != MISSED else 0
    log.info("first sync of project %s done: %d tasks, %d new exposure(s); %d check-in(s) due", project, tasks_read, new, due)
    return CatchUpReport((project,), tasks_read, new, removed, due)


def changes_since(
    store: Store, label_studio, project: int, changed_after: str | None, every: int, scheduling: str = LATEST,
    rules: PacingRules = NO_NUDGES,
) -> CatchUpReport:
    """Record the tasks Label Studio changed after `changed_after`, and note the new watermark."""
    started = time.time()
    pages = list(label_studio.tasks(project, changed_after=changed_after))
    changed = [task for page in pages for task in page]
    new, removed, due = _record_tasks(store, project, changed, every, started, scheduling, rules) if changed else (0, 0, 0)
    store.ledger.note(
        project, changed_after=time_filter_value(started - OVERLAP_SECONDS), last_catch_up_at=time.time()
    )
    removed += _follow_task_list(store, label_studio, project)
    return CatchUpReport((project,), len(changed), new, removed, due)


def _record_tasks(
    store: Store, project: int, tasks: list[LabelStudioTask], every: int, read_at: float, scheduling: str,
    rules: PacingRules,
) -> tuple[int, int, int]:
    """Record a read of these tasks; returns (exposures new, rows removed, check-ins due)."""
    events, present = [], {}
    for task in tasks:
        present[task.id] = {a.get("id") for a in task.annotations}
        for annotation in task.annotations:
            try:
                events.append(annotation_seen(project, annotation, CAUGHT_UP, task.attack_id))
            except RequestRefused as error:
                log.warning("project %s: an annotation from the API was not usable: %s", project, error)
    store.ledger.note_tasks(project, [(task.id, _attack_id(task)) for task in tasks])
    recorded = store.events.record_events(events, every, scheduling=scheduling, rules=rules) if events else []
    removed = store.ledger.forget_missing(project, present, read_at)
    return sum(r.counted for r in recorded), removed, sum(len(r.milestones) for r in recorded)


def _attack_id(task: LabelStudioTask) -> int | None:
    value = task.attack_id
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _follow_task_list(store: Store, label_studio, project: int) -> int:
    """Keep ledger_tasks the project's task list: tasks imported since are added, deleted ones
    go. Label Studio's task count costs one request; the list is read only when it differs."""
    known = store.ledger.task_ids(project)
    count = label_studio.task_count(project)
    if count == len(known):
        return 0
    if count > len(known):
        after = max(known, default=0)
        for page in label_studio.tasks(project, after_task=after):
            store.ledger.note_tasks(project, [(task.id, _attack_id(task)) for task in page])
        known = store.ledger.task_ids(project)
        if count == len(known):
            return 0
    # Tasks were deleted (the change feed cannot show a task that is gone): read the whole list.
    listed: set[int] = set()
    for page in label_studio.tasks(project):
        listed.update(task.id for task in page)
        store.ledger.note_tasks(project, [(task.id, _attack_id(task)) for task in page])
    return store.ledger.forget_tasks(project, known - listed)
