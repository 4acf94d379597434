"""Recording annotation events: the events, exposures, ledger rows, pacing and the check-ins due.

The guarantees rest on constraints, not on process-local state:
- events are unique by (project, annotation id, action, updated_at): a replayed webhook adds nothing;
- exposures are unique by (project, reviewer, task): updates and re-submissions count once,
  and deletions never remove one;
- check-ins (and pacing's nudges) are unique in the outbox by (project, reviewer, kind,
  milestone): exactly one per milestone or trigger, whatever the number of duplicate webhooks
  or worker processes.

A reviewer's count is read under a per-reviewer lock (SQLite: the database write lock taken by
BEGIN IMMEDIATE; PostgreSQL: a transaction-scoped advisory lock), so two concurrent submits
cannot both see the count before the other and skip a milestone. A batch of events takes the
locks of all its reviewers first, then reads each one's count and pacing state once.
"""

from __future__ import annotations

import time

from workers import pacing
from workers.store import ledger
from workers.store.backend import marks
from workers.store.counting import (
    LIVE,
    SCHEDULINGS,
    Exposure,
    Outcome,
    Written,
    count_batch,
    standing,
    standing_query,
)
from workers.store.records import Recorded
from workers.webhook import AnnotationsDeleted, AnnotationSeen


_PACING_COLUMNS = "session_started_at, last_seen_at, break_clock_from, severe_run, day, day_tasks"


class Events:
    """Records annotation events in one transaction per batch (record_events) and reads what was seen."""

    def __init__(self, backend):
        self.backend = backend
        # PostgreSQL writes a whole batch in one statement (_BATCH_SQL): one round trip.
        self._batched = backend.dialect == "postgresql"

    def record_annotation(
        self, seen: AnnotationSeen, every: int, now: float | None = None, *, scheduling: str = LIVE,
        rules: pacing.PacingRules = pacing.NO_NUDGES,
    ) -> Recorded:
        """Store one annotation event; count its task once per reviewer; create check-ins newly due."""
        return self.record_events([seen], every, now, scheduling=scheduling, rules=rules)[0]

    def record_events(
        self,
        events: list[AnnotationSeen | AnnotationsDeleted],
        every: int,
        now: float | None = None,
        *,
        scheduling: str = LIVE,
        rules: pacing.PacingRules = pacing.NO_NUDGES,
    ) -> list[Recorded]:
        """Record several events in ONE transaction (one fsync): exposures, check-ins and the ledger.

        The batch first locks all of its reviewers in (project, reviewer) order, so concurrent
        batches take the per-reviewer locks in the same order and cannot deadlock; events are then
        applied in that order too. A deletion never un-counts.
        `scheduling` (LIVE, LATEST, MISSED) says which milestones become pending check-ins; while
        a project's first sync runs, all of its milestones are missed (the sync promotes the
        latest per reviewer when it ends). Returned milestones are the pending ones only.
        Every counted task advances its reviewer's pacing state; `rules` say which nudges that
        makes due, and only for LIVE events (a nudge about work nobody watched happen is stale).

        Three steps: write the events (_write_events: rows per annotation, the reviewers' standing
        read under their locks), count them (count_batch, no SQL), write what the counting made
        due (_write_outcome). Rows that several reviewers share come last, after every reviewer
        lock: the batch's tasks in (project, task) order, then the projects. Concurrent batches
        (several worker processes on one PostgreSQL) then lock them in one order too: two batches
        whose reviewers annotated the same tasks wait for each other instead of deadlocking.
        """
        if scheduling not in SCHEDULINGS:
            raise ValueError(f"scheduling must be one of {SCHEDULINGS}")
        with self.backend.transaction(batch=True) as cur:
            return self.record_on(cur, events, every, time.time() if now is None else now, scheduling, rules)

    def record_on(
        self, cur, events: list, every: int, now: float, scheduling: str, rules: pacing.PacingRules
    ) -> list[Recorded]:
        """record_events on the caller's transaction."""
        order = sorted(
            range(len(events)),
            key=lambda i: (events[i].project, getattr(events[i], "reviewer", -1), i),
        )
        ordered = [events[i] for i in order]
        reviewers = sorted({(e.project, e.reviewer) for e in events if isinstance(e, AnnotationSeen)})
        exposures = [Exposure.of(e, rules, now) if isinstance(e, AnnotationSeen) else None for e in ordered]
        written = self._write_events(cur, ordered, exposures, reviewers, now)
        outcome = count_batch(ordered, exposures, written, every, scheduling, rules)
        self._write_outcome(cur, outcome, now)
        results: list = [None] * len(events)
        for position, i in enumerate(order):
            results[i] = outcome.recorded[position]
        return results

    def _write_events(
        self, cur, ordered: list, exposures: list, reviewers: list[tuple[int, int]], now: float
    ) -> Written:
        """Lock the reviewers, read their standing, then write each event's rows in order."""
        if self._batched:
            return self._write_batch(cur, ordered, exposures, reviewers, now)
        return self._write_each(cur, ordered, exposures, reviewers, now)

    def _write_each(
        self, cur, ordered: list, exposures: list, reviewers: list[tuple[int, int]], now: float
    ) -> Written:
        """Lock the reviewers, read their standing, then write each event's rows in order, one by one."""
        run = self.backend.runner(cur)
        self.backend.lock_reviewers(cur, reviewers)
        # Read once per batch, after the locks: held to the commit, they keep each reviewer's
        # count and pacing state from changing but through this batch.
        syncing, standings = standing(run(*standing_query(reviewers)).fetchall()) if reviewers else (set(), {})
        rows = []
        for event, exposure in zip(ordered, exposures):
            if isinstance(event, AnnotationsDeleted):
                new = self.record_deletion(cur, event, now)
                ledger.remove(run, event.project, event.annotation_ids)
                rows.append((new > 0, False))
            else:
                rows.append(self._insert_event(cur, event, now, exposure.reviewed, exposure.severe))
        return Written(syncing, standings, rows)

    def _write_outcome(self, cur, outcome: Outcome, now: float) -> None:
        """Write the check-ins and nudges a batch made due, its reviewers' pacing, tasks and projects."""
        run = self.backend.runner(cur)
        if outcome.checkins:
            rows = ", ".join(f"({marks(6 * n + 2, 6)}, $1, $1)" for n in range(len(outcome.checkins)))
            run(
                "INSERT INTO outbox (project, reviewer, milestone, kind, status, last_error, due_at, next_attempt_at)"
                f" VALUES {rows} ON CONFLICT DO NOTHING",
                (now, *(value for row in outcome.checkins for value in row)),
            )
        for project, reviewer, milestone in outcome.promotions:
            self._promote(run, project, reviewer, milestone, now)
        self._save_paces(run, outcome.paces)
        ledger.note_tasks(run, sorted(outcome.tasks.items()))
        for project in outcome.webhook_projects:
            ledger.note_webhook(run, project, now)

    def _promote(self, run, project: int, reviewer: int, milestone: int, now: float) -> None:
        run(
            "UPDATE outbox SET status = 'pending', last_error = NULL, next_attempt_at = $4"
            " WHERE project = $1 AND reviewer = $2 AND milestone = $3 AND status = 'missed' AND kind = 'milestone'",
            (project, reviewer, milestone, now),
        )

    def record_deletion(self, cur, deleted: AnnotationsDeleted, now: float) -> int:
        """Insert a deletion's events; returns how many were new."""
        # RETURNING, not rowcount: PostgreSQL's batches run pipelined, where rowcount comes late.
        new = 0
        for annotation_id in deleted.annotation_ids:
            new += len(self.backend.run(
                cur,
                "INSERT INTO events (project, annotation_id, action, updated_at, received_at)"
                " VALUES ($1, $2, 'ANNOTATIONS_DELETED', '', $3) ON CONFLICT DO NOTHING RETURNING 1",
                (deleted.project, annotation_id, now),
            ).fetchall())
        return new

    def _insert_event(
        self, cur, seen: AnnotationSeen, now: float, reviewed: float, severe: bool
    ) -> tuple[bool, bool]:
        """Insert the event and, if it is new, its ledger row and the exposure; return (new event, counted)."""
        if self._batched:
            return self._insert_event_batched(cur, seen, now, reviewed, severe)
        inserted = self.backend.run(
            cur,
            "INSERT INTO events (project, annotation_id, action, updated_at, task, reviewer, skipped, received_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            (seen.project, seen.annotation_id, seen.action, seen.updated_at, seen.task, seen.reviewer,
             int(seen.skipped), now),
        ).rowcount
        if inserted != 1:
            return False, False
        if seen.record is not None:
            ledger.write(self.backend.runner(cur), seen.project, seen.record, now)
        counted = self.backend.run(
            cur,
            "INSERT INTO exposures (project, reviewer, task, annotation_id, skipped, seen_at, reviewed_at, severe)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            (seen.project, seen.reviewer, seen.task, seen.annotation_id, int(seen.skipped), now, reviewed, int(severe)),
        ).rowcount
        return True, counted == 1

    def _save_paces(self, run, paces: dict[tuple[int, int], pacing.PacingState]) -> None:
        """Write reviewers' pacing states, all in one statement."""
        if not paces:
            return
        rows = ", ".join(f"({marks(8 * n + 1, 8)})" for n in range(len(paces)))
        run(
            f"INSERT INTO pacing (project, reviewer, {_PACING_COLUMNS}) VALUES {rows}"
            " ON CONFLICT (project, reviewer) DO UPDATE SET session_started_at = excluded.session_started_at,"
            " last_seen_at = excluded.last_seen_at, break_clock_from = excluded.break_clock_from,"
            " severe_run = excluded.severe_run, day = excluded.day, day_tasks = excluded.day_tasks",
            tuple(
                value
                for (project, reviewer), state in paces.items()
                for value in (project, reviewer, state.session_started_at, state.last_seen_at, state.break_clock_from,
                              state.severe_run, state.day, state.day_tasks)
            ),
        )

    def _write_batch(
        self, cur, ordered: list, exposures: list, reviewers: list[tuple[int, int]], now: float
    ) -> Written:
        keys = [(e.project, e.annotation_id) for e in ordered if isinstance(e, AnnotationSeen)]
        if not keys or len(keys) < len(ordered) or len(set(keys)) < len(keys):
            # A deletion applies between the events around it, and a second version of an
            # annotation must find the first: such batches (rare) go one event at a time.
            return self._write_each(cur, ordered, exposures, reviewers, now)
        # The whole batch in one statement (_BATCH_SQL), queued with the locks and the standing
        # read: one round trip answers all three.
        self.backend.lock_reviewers(cur, reviewers)
        connection = cur.connection
        with connection.cursor() as standing_cursor, connection.cursor() as rows_cursor:
            self.backend.run(standing_cursor, *standing_query(reviewers))
            self.backend.run(rows_cursor, _BATCH_SQL, _batch_params(ordered, exposures, now))
            syncing, standings = standing(standing_cursor.fetchall())
            rows = [(new, counted) for _, new, counted in rows_cursor.fetchall()]
        return Written(syncing, standings, rows)

    def _insert_event_batched(
        self, cur, seen: AnnotationSeen, now: float, reviewed: float, severe: bool
    ) -> tuple[bool, bool]:
        # The batch statement for one event: _insert_event's three inserts in one round trip.
        row = self.backend.run(cur, _BATCH_SQL, _batch_params([seen], [Exposure(reviewed, severe)], now)).fetchone()
        return row[1], row[2]

    def exposure_log(self) -> list[tuple[int, int, float, bool]]:
        """(project, reviewer, when reviewed, severe) of every task a reviewer has seen, by time.

        Stores written before pacing have no review time or severity on older rows: the time the
        worker saw the task and "not severe" stand in for them.
        """
        with self.backend.transaction(write=False) as cur:
            rows = self.backend.run(
                cur,
                "SELECT project, reviewer, coalesce(reviewed_at, seen_at), coalesce(severe, 0) FROM exposures"
                " ORDER BY project, reviewer, coalesce(reviewed_at, seen_at)",
            ).fetchall()
        return [(row[0], row[1], row[2], bool(row[3])) for row in rows]

    def known_projects(self) -> list[int]:
        """Projects the worker has heard of through a webhook or catch-up."""
        with self.backend.transaction(write=False) as cur:
            return [row[0] for row in self.backend.run(cur, "SELECT DISTINCT project FROM events ORDER BY project").fetchall()]


# The arrays a batch of annotation events is sent as (PostgresStore._write_events), by column:
# the event's own, its exposure's, then its ledger row's (named as the ledger's columns).
_BATCH_COLUMNS = (
    ("project", "bigint"), ("annotation_id", "bigint"), ("event_action", "text"), ("event_updated_at", "text"),
    ("event_task", "bigint"), ("event_reviewer", "bigint"), ("event_skipped", "integer"),
    ("reviewed_at", "double precision"), ("severe", "integer"), ("has_record", "boolean"),
    ("task", "bigint"), ("attack_id", "bigint"), ("reviewer", "bigint"), ("success", "integer"), ("topics", "text"),
    ("skipped", "integer"), ("valid", "integer"), ("invalid_reason", "text"), ("lead_time", "double precision"),
    ("created_at", "text"), ("updated_at", "text"), ("updated_by", "bigint"),
)
_NOW = f"${len(_BATCH_COLUMNS) + 1}"
# The three inserts of Store._insert_event for a whole batch: the exposure and the ledger's row
# only for events that are new; per event, in order, (n, new event, counted).
_BATCH_SQL = (
    "WITH i AS (SELECT * FROM unnest("
    + ", ".join(f"CAST(${n + 1} AS {kind}[])" for n, (_, kind) in enumerate(_BATCH_COLUMNS))
    + f") WITH ORDINALITY AS i ({', '.join(name for name, _ in _BATCH_COLUMNS)}, n)),"
    " e AS (INSERT INTO events (project, annotation_id, action, updated_at, task, reviewer, skipped, received_at)"
    f" SELECT project, annotation_id, event_action, event_updated_at, event_task, event_reviewer, event_skipped, {_NOW}"
    " FROM i ORDER BY n ON CONFLICT DO NOTHING RETURNING project, annotation_id),"
    " x AS (INSERT INTO exposures (project, reviewer, task, annotation_id, skipped, seen_at, reviewed_at, severe)"
    f" SELECT i.project, i.event_reviewer, i.event_task, i.annotation_id, i.event_skipped, {_NOW}, i.reviewed_at,"
    " i.severe FROM i JOIN e USING (project, annotation_id) ORDER BY i.n"
    " ON CONFLICT DO NOTHING RETURNING project, annotation_id),"
    f" l AS ({ledger.write_rows_sql('i JOIN e USING (project, annotation_id)', 'i', 'i.has_record', 'i.n', _NOW)})"
    " SELECT i.n, e.annotation_id IS NOT NULL, x.annotation_id IS NOT NULL"
    " FROM i LEFT JOIN e USING (project, annotation_id) LEFT JOIN x USING (project, annotation_id) ORDER BY i.n"
)


def _batch_params(ordered: list[AnnotationSeen], exposures: list[Exposure], now: float) -> tuple:
    """_BATCH_SQL's parameters: one list per column of _BATCH_COLUMNS, then `now`."""
    rows = []
    for seen, exposure in zip(ordered, exposures):
        row = [seen.project, seen.annotation_id, seen.action, seen.updated_at, seen.task, seen.reviewer,
               int(seen.skipped), exposure.reviewed, int(exposure.severe), seen.record is not None]
        # write_params without project, annotation_id (the event's) and recorded_at (`now`).
        row += ledger.write_params(seen.project, seen.record, now)[2:14] if seen.record else [None] * 12
        rows.append(row)
    columns = [list(column) for column in zip(*rows)]
    lead_time = [name for name, _ in _BATCH_COLUMNS].index("lead_time")
    # psycopg types a list by its first item: an int first would not take a float after it.
    columns[lead_time] = [None if value is None else float(value) for value in columns[lead_time]]
    return (*columns, now)
