"""Catch-up: keep the ledger complete from the Label Studio API, costing what changed.

Label Studio sends each webhook once, with no retry, so anything sent while the worker was down
exists only in the API. Two reads serve that:
- the first sync of a project reads Label Studio's full export once, parsed as it arrives (the
  export carries the transcripts: each task's data is dropped as soon as its attack_id is read),
  and records it in batches; each task's updated_at as read is noted with it, so a sync that
  stopped (a crash, Label Studio down) reads the export again and records only what it had not;
  milestones met during it are missed, and each reviewer's latest becomes the one check-in at
  the end;
- every later pass first asks for the ids and updated_at of the tasks Label Studio changed since
  the last pass (a Data Manager filter on the task's updated_at, which creating, updating,
  skipping or deleting an annotation all move: 0.13 s when nothing changed), then reads with
  their annotations only those the ledger has not read at that updated_at, and replaces each one's
  annotations in the ledger, which also catches deletions.
Recording is idempotent (store.py), so catch-up and a webhook for the same change never count
a task twice, and a late read never undoes a newer webhook.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from workers.pacing import NO_NUDGES, PacingRules
from workers.label_studio_api import ExportTooLong, LabelStudioTask, UnknownProject, time_filter_value
from workers.store import LATEST, MISSED, Store
from workers.webhook import CAUGHT_UP, RequestRefused, annotation_seen

log = logging.getLogger(__name__)

# Each pass re-reads the tasks changed in the last few minutes before the previous pass: a change
# committed late, or a server clock a little behind the worker's, is still seen. Recording is
# idempotent, so the overlap costs a few re-read tasks and nothing else.
OVERLAP_SECONDS = 300.0
# The first sync logs its progress at most this often.
PROGRESS_SECONDS = 10.0
# The first sync records the export this many tasks at a time (one transaction each).
SYNC_BATCH_TASKS = 500
# ... and asks for it in parts of this many task ids, sent in the URL as Label Studio reads them
# (`ids[]=N`): 400 keep the request line under 8 kB, which proxies such as nginx accept by default.
EXPORT_PART_IDS = 400
# A pass reads unread tasks by id up to this many; more, and most of what changed unread (a bulk
# change), it pages through the changed tasks instead.
BY_ID_AT_MOST = 1000


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
    """Read the project's full export into the ledger, in parts of task ids, resuming after the last
    part an earlier sync recorded; within a part, only tasks not recorded at their updated_at.

    While it runs, the store records every milestone as missed; at the end each reviewer's latest
    becomes a pending check-in, unless `scheduling` is MISSED (a worker without Slack).
    """
    state = store.ledger.state(project)
    started = state.sync_started_at
    if started is None:
        started = time.time()
        # Changes made while the sync reads (or between a crash and the restart) are caught by the
        # first pass after it: it asks for every change since this.
        store.ledger.note(project, sync_started_at=started, changed_after=time_filter_value(started - OVERLAP_SECONDS))
    after = state.sync_after_task or 0
    recorded = store.ledger.read_versions(project)
    resumed = f", resuming after task {after}" if after else ""
    log.info("first sync of project %s: reading Label Studio's export into the ledger%s", project, resumed)
    read_at = time.time()
    tasks_read = new = removed = 0
    logged = time.monotonic()
    for ids, tasks in _export(label_studio, project, after):
        for batch in _batches(tasks, SYNC_BATCH_TASKS):
            tasks_read += len(batch)
            unrecorded = [task for task in batch if task.updated_at is None or recorded.get(task.id) != task.updated_at]
            if unrecorded:
                batch_new, batch_removed, _ = _record_tasks(store, project, unrecorded, every, read_at, scheduling, rules)
                new, removed = new + batch_new, removed + batch_removed
            if time.monotonic() - logged > PROGRESS_SECONDS:
                logged = time.monotonic()
                log.info("first sync of project %s: %d tasks read%s", project, tasks_read, resumed and " since resuming")
        if ids is not None:
            store.ledger.note(project, sync_after_task=ids[-1])
    now = time.time()
    store.ledger.note(project, sync_done_at=now, last_catch_up_at=now, tasks_listed_at=now)
    due = store.checkins.promote_latest_missed(project, since=started) if scheduling != MISSED else 0
    log.info("first sync of project %s done: %d tasks, %d new exposure(s); %d check-in(s) due", project, tasks_read, new, due)
    return CatchUpReport((project,), tasks_read, new, removed, due)


def export_parts(span: tuple[int, int] | None, tasks: int, after: int, size: int) -> list[list[int]] | None:
    """The project's task ids from `span` (its lowest and highest), after `after`, in parts of
    `size`; None when the ids are too sparse for that (other projects' tasks between them) and one
    whole export serves better."""
    if span is None:
        return []
    low, high = max(span[0], after + 1), span[1]
    if span[1] - span[0] + 1 > 2 * tasks + size:
        return None
    return [list(range(start, min(start + size, high + 1))) for start in range(low, high + 1, size)]


def _export(label_studio, project: int, after: int) -> Iterator[tuple[list[int] | None, Iterable[LabelStudioTask]]]:
    """(ids, their tasks) of the project's export, part by part: Label Studio builds the next part
    while the worker records this one (one whole export would leave all the recording after its
    last byte). (None, the whole export) when parts do not serve."""
    parts = export_parts(label_studio.task_id_span(project), label_studio.task_count(project), after, EXPORT_PART_IDS)
    if parts is None:
        yield None, label_studio.export_tasks(project)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-part") as pool:
        ahead = pool.submit(_read_part, label_studio, project, parts[0]) if parts else None
        for n, ids in enumerate(parts):
            try:
                tasks = ahead.result()
            except ExportTooLong as error:
                # A proxy before Label Studio refuses long URLs: one whole export, as parts would have read.
                log.warning("%s: reading the whole export at once instead", error)
                yield None, label_studio.export_tasks(project)
                return
            ahead = pool.submit(_read_part, label_studio, project, parts[n + 1]) if n + 1 < len(parts) else None
            yield ids, tasks


def _read_part(label_studio, project: int, ids: list[int]) -> list[LabelStudioTask]:
    return list(label_studio.export_tasks(project, ids))


def changes_since(
    store: Store, label_studio, project: int, changed_after: str | None, every: int, scheduling: str = LATEST,
    rules: PacingRules = NO_NUDGES,
) -> CatchUpReport:
    """Record the tasks Label Studio changed after `changed_after` that the ledger has not read at
    their present updated_at, and note the new watermark."""
    started = time.time()
    tasks_read = new = removed = due = 0
    for page in _unread_tasks(store, label_studio, project, changed_after):
        page_new, page_removed, page_due = _record_tasks(store, project, page, every, started, scheduling, rules)
        tasks_read, new, removed, due = tasks_read + len(page), new + page_new, removed + page_removed, due + page_due
    store.ledger.note(
        project, changed_after=time_filter_value(started - OVERLAP_SECONDS), last_catch_up_at=time.time()
    )
    listed = _follow_task_list(store, label_studio, project, every, started, scheduling, rules)
    return CatchUpReport(
        (project,), tasks_read + listed.tasks_read, new + listed.exposures_new, removed + listed.annotations_removed,
        due + listed.checkins_due,
    )


def _unread_tasks(store: Store, label_studio, project: int, changed_after: str | None) -> Iterator[list[LabelStudioTask]]:
    """Pages of the tasks changed after `changed_after` that catch-up has not read at their present
    updated_at, with their annotations.

    The look-back re-lists the same changed tasks for 5 minutes, so a pass first compares how many
    tasks changed and the newest change with what the ledger read (one request for one task): equal,
    nothing is read. Otherwise it lists the changed tasks' ids and updated_at (no annotations) and
    reads only those unread; when the ledger read few of the changed ones (a bulk change), it pages
    through the changed tasks with their annotations at once, as listing them first would add to
    reading them.
    """
    summary = label_studio.changed_summary(project, changed_after)
    read = store.ledger.read_summary(project, changed_after)
    if summary[0] == 0 or summary == read:
        return
    recorded = store.ledger.read_versions(project)
    if 2 * read[0] < summary[0]:
        unread = None
    else:
        versions = {v.id: v.updated_at for page in label_studio.task_versions(project, changed_after) for v in page}
        unread = sorted(task for task, version in versions.items() if version is None or recorded.get(task) != version)
        if not unread:
            return
    if unread is not None and len(unread) <= BY_ID_AT_MOST:
        yield from label_studio.tasks(project, ids=unread)
        return
    after = unread[0] - 1 if unread else 0
    for page in label_studio.tasks(project, after_task=after, changed_after=changed_after):
        # Read at this updated_at already: left alone.
        page = [task for task in page if task.updated_at is None or recorded.get(task.id) != task.updated_at]
        if page:
            yield page


def _batches(tasks: Iterable[LabelStudioTask], size: int) -> Iterator[list[LabelStudioTask]]:
    batch: list[LabelStudioTask] = []
    for task in tasks:
        batch.append(task)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


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
    # Last: a crash before this leaves the tasks unread, to be read (and recorded, idempotently) again.
    store.ledger.note_read(project, {task.id: task.updated_at for task in tasks})
    return sum(r.counted for r in recorded), removed, sum(len(r.milestones) for r in recorded)


def _attack_id(task: LabelStudioTask) -> int | None:
    value = task.attack_id
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _follow_task_list(
    store: Store, label_studio, project: int, every: int, read_at: float, scheduling: str, rules: PacingRules
) -> CatchUpReport:
    """Keep ledger_tasks the project's task list: tasks imported since are read and recorded,
    deleted ones go. Label Studio's task count costs one request; the ids are listed (without
    annotations) only when it differs from the ledger's."""
    known = store.ledger.task_ids(project)
    if label_studio.task_count(project) == len(known):
        return CatchUpReport((project,))
    listed = {version.id for page in label_studio.task_versions(project) for version in page}
    tasks_read = new = due = 0
    for page in label_studio.tasks(project, ids=listed - known) if listed - known else ():
        page_new, _, page_due = _record_tasks(store, project, page, every, read_at, scheduling, rules)
        tasks_read, new, due = tasks_read + len(page), new + page_new, due + page_due
    # The change feed cannot show a task that is gone: those the list no longer has.
    removed = store.ledger.forget_tasks(project, known - listed)
    return CatchUpReport((project,), tasks_read, new, removed, due)
