"""The review's ledger: every annotation's rating, topics and validity, kept current by the worker.

Label Studio is the source of truth, but its only complete read path (the full export) carries
every transcript: 214 MB and 77-106 s on 2 cores (benchmarks/bench_scale.py) for the whole dataset. The worker already sees every
annotation (webhooks, then catch-up for what it missed), so it keeps one row per annotation,
made by the same parser as `export`'s table (schema.read_annotation), and the lead's commands
read that instead. The ledger can always be rebuilt from Label Studio (catch_up.full_sync).

Rules, each enforced in SQL so they hold with several worker processes:
- an annotation's row is replaced only by a version at least as new (by updated_at), so a late
  or replayed webhook never undoes a later change;
- a deletion removes the row, and an annotation once deleted is never written again (its
  ANNOTATIONS_DELETED event stays in `events`);
- `ledger_tasks` knows every task of the project (task id, attack_id), so tasks nobody annotated
  still count in the lead's reports.

Functions here take `run(sql, params)`, one statement on the caller's transaction ($1, $2, ...
placeholders, as the store writes them), so the store can apply them inside the transaction that
records the webhook (events.py). `Ledger` is the store's part that keeps the ledger current from
catch-up (catch_up.py); the lead's reads of it are in ledger_reads.py.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from review_project.schema import AnnotationRecord
from workers.webhook import AnnotationsDeleted

Run = Callable[..., Any]

_COLUMNS = (
    "project, annotation_id, task, attack_id, reviewer, success, topics, skipped, valid, invalid_reason,"
    " lead_time, created_at, updated_at, updated_by, recorded_at"
)


def write(run: Run, project: int, record: AnnotationRecord, now: float) -> None:
    """Add or replace one annotation's row, unless a newer version is there or it was deleted.

    The caller notes its task too (note_tasks), after the rows only its reviewer touches."""
    run(write_sql(), write_params(project, record, now))


# An annotation deleted once is never written again (its ANNOTATIONS_DELETED event stays).
_NOT_DELETED = (
    "NOT EXISTS (SELECT 1 FROM events WHERE project = {project} AND action = 'ANNOTATIONS_DELETED'"
    " AND annotation_id = {annotation_id})"
)
# A row is replaced only by a version at least as new.
_REPLACE_IF_NEWER = (
    " ON CONFLICT (project, annotation_id) DO UPDATE SET task = excluded.task,"
    " attack_id = coalesce(excluded.attack_id, ledger.attack_id), reviewer = excluded.reviewer,"
    " success = excluded.success, topics = excluded.topics, skipped = excluded.skipped,"
    " valid = excluded.valid, invalid_reason = excluded.invalid_reason, lead_time = excluded.lead_time,"
    " created_at = excluded.created_at, updated_at = excluded.updated_at, updated_by = excluded.updated_by,"
    " recorded_at = excluded.recorded_at"
    " WHERE ledger.updated_at IS NULL OR excluded.updated_at >= ledger.updated_at"
)


@functools.lru_cache(maxsize=None)
def write_sql() -> str:
    """write's statement, its parameters write_params."""
    n = [f"${i + 1}" for i in range(15)]
    return (
        f"INSERT INTO ledger ({_COLUMNS}) SELECT {', '.join(n)}"
        f" WHERE {_NOT_DELETED.format(project=n[0], annotation_id=n[1])}{_REPLACE_IF_NEWER}"
    )


def write_rows_sql(source: str, alias: str, when: str, order: str, recorded_at: str) -> str:
    """write's statement for many rows at once: those of `source` (a FROM list) where `when`, in
    `order`; `alias` names the columns (as the ledger's, but recorded_at, given apart)."""
    columns = [name.strip() for name in _COLUMNS.split(",")][:-1]
    values = ", ".join(f"{alias}.{name}" for name in columns)
    not_deleted = _NOT_DELETED.format(project=f"{alias}.project", annotation_id=f"{alias}.annotation_id")
    return (
        f"INSERT INTO ledger ({_COLUMNS}) SELECT {values}, {recorded_at} FROM {source}"
        f" WHERE {when} AND {not_deleted} ORDER BY {order}{_REPLACE_IF_NEWER}"
    )


def write_params(project: int, record: AnnotationRecord, now: float) -> tuple:
    """write_sql's 15 parameters for one annotation."""
    rating = record.rating
    return (
        project, record.annotation_id, record.task_id, record.attack_id, record.reviewer_id, rating.success,
        json.dumps(list(rating.topics), ensure_ascii=False), int(rating.skipped), int(rating.valid),
        rating.invalid_reason, record.lead_time, record.created_at, record.updated_at, record.updated_by, now,
    )


def note_tasks(run: Run, tasks: list[tuple[tuple[int, int], int | None]]) -> None:
    """Remember tasks, ((project, task), attack_id) each, with their attack_id when known; in one
    statement, writing them in the order given."""
    # Every reviewer of a task notes it. An upsert would lock the row until the commit even when
    # it changes nothing, so concurrent batches sharing tasks would queue behind each other's
    # fsync: a row that already says as much is left alone, unlocked.
    if not tasks:
        return
    # (A None attack_id has no type of its own: the CAST gives PostgreSQL one.)
    rows = ", ".join(f"(${3 * n + 1}, ${3 * n + 2}, CAST(${3 * n + 3} AS BIGINT))" for n in range(len(tasks)))
    run(
        f"WITH v (project, task, attack_id) AS (VALUES {rows})"
        " INSERT INTO ledger_tasks (project, task, attack_id) SELECT project, task, attack_id FROM v"
        " WHERE NOT EXISTS (SELECT 1 FROM ledger_tasks t WHERE t.project = v.project AND t.task = v.task"
        " AND (v.attack_id IS NULL OR t.attack_id = v.attack_id))"
        " ON CONFLICT (project, task) DO UPDATE SET attack_id = coalesce(excluded.attack_id, ledger_tasks.attack_id)",
        tuple(value for (project, task), attack_id in tasks for value in (project, task, attack_id)),
    )


def note_read(run: Run, project: int, versions: list[tuple[int, str | None]]) -> None:
    """Remember each task's updated_at as catch-up read it with its annotations, (task, updated_at)
    each, in one statement; tasks the ledger does not know are left out."""
    if not versions:
        return
    rows = ", ".join(f"(CAST(${2 * n + 2} AS BIGINT), CAST(${2 * n + 3} AS TEXT))" for n in range(len(versions)))
    run(
        f"WITH v (task, read_updated_at) AS (VALUES {rows})"
        " UPDATE ledger_tasks SET read_updated_at = v.read_updated_at FROM v"
        " WHERE ledger_tasks.project = $1 AND ledger_tasks.task = v.task",
        (project, *(value for task, updated_at in versions for value in (task, updated_at))),
    )


def read_versions(run: Run, project: int) -> dict[int, str | None]:
    """Task id -> its updated_at as catch-up last read it with its annotations (None: never)."""
    return dict(run("SELECT task, read_updated_at FROM ledger_tasks WHERE project = $1", (project,)).fetchall())


def read_summary(run: Run, project: int, after: str | None) -> tuple[int, str | None]:
    """How many tasks catch-up last read at an updated_at later than `after`, and the newest of those."""
    count, newest = run(
        "SELECT count(*), max(read_updated_at) FROM ledger_tasks WHERE project = $1 AND read_updated_at > $2",
        (project, after or ""),
    ).fetchone()
    return int(count), newest


def note_webhook(run: Run, project: int, now: float) -> None:
    """Set the project's last_webhook_at to `now`, unless it is already within a second of it."""
    # Every batch of webhooks notes this one row; rewriting it each time would lock it until the
    # commit and so queue concurrent batches behind each other's fsync. For "last webhook 3
    # minutes ago", a second's precision is plenty; and it never moves back.
    run(
        "INSERT INTO ledger_projects (project, last_webhook_at) SELECT $1, $2"
        " WHERE NOT EXISTS (SELECT 1 FROM ledger_projects WHERE project = $1 AND last_webhook_at >= $2 - 1.0)"
        " ON CONFLICT (project) DO UPDATE SET last_webhook_at = excluded.last_webhook_at"
        " WHERE ledger_projects.last_webhook_at IS NULL OR ledger_projects.last_webhook_at < excluded.last_webhook_at",
        (project, now),
    )


def remove(run: Run, project: int, annotation_ids: Iterable[int]) -> None:
    """Take deleted annotations out (the caller records their ANNOTATIONS_DELETED events)."""
    for annotation_id in annotation_ids:
        run("DELETE FROM ledger WHERE project = $1 AND annotation_id = $2", (project, annotation_id))


def note(run: Run, project: int, column: str, value) -> None:
    """Set one of ledger_projects' columns for a project (how current the ledger is, the sync's progress)."""
    if column not in _PROJECT_COLUMNS:
        raise ValueError(f"not a ledger_projects column: {column}")
    run(
        f"INSERT INTO ledger_projects (project, {column}) VALUES ($1, $2)"
        f" ON CONFLICT (project) DO UPDATE SET {column} = excluded.{column}",
        (project, value),
    )


_PROJECT_COLUMNS = (
    "last_webhook_at", "last_catch_up_at", "changed_after", "sync_started_at", "sync_after_task", "sync_done_at",
    "tasks_listed_at", "gone_at", "title", "reviewers_per_task", "members", "facts_at",
)


@dataclass(frozen=True)
class ProjectState:
    """How current the ledger is for one project, and where its first full sync stands."""

    project: int
    last_webhook_at: float | None = None
    last_catch_up_at: float | None = None
    changed_after: str | None = None
    sync_started_at: float | None = None
    sync_after_task: int | None = None
    sync_done_at: float | None = None
    tasks_listed_at: float | None = None
    gone_at: float | None = None  # when catch-up found the project deleted in Label Studio
    # What the lead's commands last learned from Label Studio (remember_facts), and when.
    title: str | None = None
    reviewers_per_task: int | None = None
    members: str | None = None  # JSON: {"users": {id: email}, "lead": the id that asked}
    facts_at: float | None = None

    @property
    def syncing(self) -> bool:
        """The first full sync started and has not finished: the ledger is not complete yet."""
        return self.sync_started_at is not None and self.sync_done_at is None


def project_state(run: Run, project: int) -> ProjectState:
    """The ledger_projects row of a project (all None when the worker never met it)."""
    row = run(f"SELECT {', '.join(_PROJECT_COLUMNS)} FROM ledger_projects WHERE project = $1", (project,)).fetchone()
    return ProjectState(project, *row) if row else ProjectState(project)


@dataclass(frozen=True)
class LedgerRows:
    """A project's ledger as plain rows: annotations (export.COLUMNS order, reviewer_email None) and tasks."""

    annotations: list[tuple]
    tasks: list[tuple[int, int | None]]
    state: ProjectState


def read(run: Run, project: int) -> LedgerRows:
    """Every annotation and task the ledger holds for a project."""
    rows = run(
        "SELECT attack_id, task, annotation_id, reviewer, success, topics, skipped, lead_time, created_at,"
        " updated_at, updated_by, valid, invalid_reason FROM ledger WHERE project = $1 ORDER BY task, annotation_id",
        (project,),
    ).fetchall()
    # A few hundred distinct topic pairs among 155,844 rows: parse each once.
    parsed = {text: tuple(json.loads(text)) for text in {row[5] for row in rows}}
    annotations = [
        (attack_id, task, annotation_id, reviewer, None, success, list(parsed[topics]), bool(skipped), lead_time,
         created_at, updated_at, updated_by,
         updated_by is not None and reviewer is not None and updated_by != reviewer, bool(valid), invalid_reason)
        for (attack_id, task, annotation_id, reviewer, success, topics, skipped, lead_time, created_at, updated_at,
             updated_by, valid, invalid_reason) in rows
    ]
    tasks = run("SELECT task, attack_id FROM ledger_tasks WHERE project = $1 ORDER BY task", (project,)).fetchall()
    return LedgerRows(annotations, [tuple(t) for t in tasks], project_state(run, project))


def task_attack_ids(run: Run, project: int) -> dict[int, int | None]:
    """Task id -> attack_id of every task the ledger knows in the project."""
    return dict(run("SELECT task, attack_id FROM ledger_tasks WHERE project = $1", (project,)).fetchall())


class Ledger:
    """The store's ledger upkeep (catch_up.py) and its reads, each in a transaction of its own."""

    def __init__(self, backend, events):
        self.backend = backend
        self.events = events

    def state(self, project: int) -> ProjectState:
        """How current the ledger is for a project, and where its first sync stands."""
        with self.backend.transaction(write=False) as cur:
            return project_state(self.backend.runner(cur), project)

    def note(self, project: int, **values) -> None:
        """Set ledger_projects columns of a project (ProjectState's fields)."""
        with self.backend.transaction() as cur:
            for name, value in values.items():
                note(self.backend.runner(cur), project, name, value)

    def note_tasks(self, project: int, tasks: list[tuple[int, int | None]]) -> None:
        """Remember tasks of the project with their attack_ids (unannotated tasks count in reports)."""
        with self.backend.transaction() as cur:
            # In task order, as record_events notes them: concurrent transactions lock the rows in one order.
            note_tasks(self.backend.runner(cur), sorted({(project, task): attack_id for task, attack_id in tasks}.items()))

    def note_read(self, project: int, versions: dict[int, str | None]) -> None:
        """Remember the updated_at at which each of these tasks was read with its annotations and
        recorded: a later pass reads a task again only when Label Studio shows another one."""
        # In task order, as note_tasks writes them; chunks keep each statement's parameters few.
        ordered = sorted(versions.items())
        with self.backend.transaction() as cur:
            for start in range(0, len(ordered), 500):
                note_read(self.backend.runner(cur), project, ordered[start:start + 500])

    def read_versions(self, project: int) -> dict[int, str | None]:
        """Task id -> the updated_at at which catch-up last read it with its annotations (None: never)."""
        with self.backend.transaction(write=False) as cur:
            return read_versions(self.backend.runner(cur), project)

    def read_summary(self, project: int, after: str | None) -> tuple[int, str | None]:
        """(tasks read at an updated_at later than `after`, the newest such updated_at): what Label
        Studio's changed_summary gives when nothing changed since catch-up read it."""
        with self.backend.transaction(write=False) as cur:
            return read_summary(self.backend.runner(cur), project, after)

    def forget_missing(self, project: int, present: dict[int, set[int]], read_at: float) -> int:
        """Remove ledger rows of these tasks whose annotation Label Studio no longer has.

        present : task -> ids of its annotations in a read that started at `read_at`; a row
        recorded after that (a webhook that raced the read) is newer than the read and stays.
        A deletion never un-counts an exposure. Returns how many rows went.
        """
        tasks = sorted(present)
        gone: list[int] = []
        with self.backend.transaction() as cur:
            run = self.backend.runner(cur)
            # One query per 500 tasks, not one per task: a first sync passes every task here.
            for start in range(0, len(tasks), 500):
                chunk = tasks[start:start + 500]
                marks = ", ".join(f"${n + 3}" for n in range(len(chunk)))
                rows = run(
                    f"SELECT task, annotation_id FROM ledger WHERE project = $1 AND recorded_at < $2 AND task IN ({marks})",
                    (project, read_at, *chunk),
                ).fetchall()
                gone += sorted(annotation for task, annotation in rows if annotation not in present[task])
            if gone:
                # As a deletion webhook would: the event keeps a late replay from bringing it back.
                self.events.record_deletion(cur, AnnotationsDeleted(project, tuple(gone)), time.time())
                remove(run, project, gone)
        return len(gone)

    def read(self, project: int) -> LedgerRows:
        """The project's ledger (annotations, tasks, how current), read from one snapshot."""
        with self.backend.snapshot() as cur:
            return read(self.backend.runner(cur), project)

    def task_attack_ids(self, project: int) -> dict[int, int | None] | None:
        """Task id -> attack_id of every task, or None until the project's first sync finished."""
        with self.backend.snapshot() as cur:
            run = self.backend.runner(cur)
            if project_state(run, project).sync_done_at is None:
                return None
            return task_attack_ids(run, project)

    def task_ids(self, project: int) -> set[int]:
        """The ids of every task the ledger knows in the project."""
        with self.backend.transaction(write=False) as cur:
            rows = self.backend.run(cur, "SELECT task FROM ledger_tasks WHERE project = $1", (project,))
            return {row[0] for row in rows}

    def last_annotated(self, project: int) -> dict[int, str]:
        """Label Studio user id -> the time of their latest annotation in the project."""
        with self.backend.transaction(write=False) as cur:
            rows = self.backend.run(
                cur, "SELECT reviewer, max(coalesce(updated_at, created_at)) FROM ledger"
                " WHERE project = $1 AND reviewer IS NOT NULL GROUP BY reviewer", (project,),
            ).fetchall()
        return {int(reviewer): when for reviewer, when in rows if when}

    def forget_tasks(self, project: int, tasks: set[int]) -> int:
        """Tasks deleted in Label Studio leave the ledger with their annotations; returns annotations removed."""
        removed = 0
        with self.backend.transaction() as cur:
            run = self.backend.runner(cur)
            for task in tasks:
                removed += run("DELETE FROM ledger WHERE project = $1 AND task = $2", (project, task)).rowcount
                run("DELETE FROM ledger_tasks WHERE project = $1 AND task = $2", (project, task))
        return removed
