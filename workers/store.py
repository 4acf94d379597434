"""The worker's durable store: SQLite (default) or PostgreSQL behind one small interface.

Every guarantee the worker makes rests on a constraint here, not on process-local state:
- a webhook is answered once its event is committed to the inbox (receive), and each event
  there is applied once, in arrival order, by the transaction that also takes it out of the
  inbox (apply_received; inbox.py says why);
- events are unique by (project, annotation id, action, updated_at): a replayed webhook adds nothing;
- exposures are unique by (project, reviewer, task): updates and re-submissions count once,
  and deletions never remove one;
- check-ins (and pacing's nudges) are unique by (project, reviewer, kind, milestone): exactly one
  per milestone or trigger, whatever the number of duplicate webhooks or worker processes;
- a check-in is claimed by one atomic UPDATE before it is posted, so two workers never post it.

A reviewer's count is read under a per-reviewer lock (SQLite: the database write lock taken by
BEGIN IMMEDIATE; PostgreSQL: a transaction-scoped advisory lock), so two concurrent submits
cannot both see the count before the other and skip a milestone. A batch of events takes the
locks of all its reviewers first, then reads each one's count and pacing state once.

The schema has a version; opening a store applies the migrations it lacks (store_migrations.py)
under the same kinds of lock, so several processes opening one store at once upgrade it once.

Every query is written once with PostgreSQL's numbered placeholders ($1, $2, ...): psycopg's
RawCursor sends them as they are, and SQLite reads `$1` as a parameter named "1", so each backend
only reshapes the parameters, never the SQL, and a repeated `$1` is one value in both.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from review_project.shared import WorkerError
from workers import inbox, ledger, pacing
from workers.milestones import milestones_crossed
from workers.store_migrations import migrate
from workers.survey import ITEMS, SurveyAnswer, column
from workers.webhook import CAUGHT_UP, AnnotationsDeleted, AnnotationSeen

STATUSES = ("pending", "sending", "sent", "failed", "paused", "missed")
# How milestones reached by a batch of events are scheduled (record_events):
LIVE = "live"  # each becomes a pending check-in (webhooks: the reviewer just got there)
LATEST = "latest"  # per reviewer, only the highest is pending, the others missed (catching up)
MISSED = "missed"  # all missed, none sent (the first sync of a project; a worker without Slack)
SCHEDULINGS = (LIVE, LATEST, MISSED)
MISSED_REASONS = {
    LATEST: "reached while the worker was not watching; a check-in went out for a later milestone",
    MISSED: "reached before the worker watched this reviewer, or while it had no Slack settings",
    "syncing": "reached before the worker's first sync of the project finished",
}
# PostgreSQL advisory lock namespace (an arbitrary constant): (it, 0) guards migrations,
# (it + 1, key) a reviewer's counting, (it + 2, 0) applying the inbox.
_LOCK_NAMESPACE = 0x5EED


class StoreUnreachable(WorkerError):
    """The database did not answer when the store was opened (it may come back: try again later)."""


# How long a PostgreSQL caller waits for a connection before the store counts as down, and how
# long the pool tries to reconnect before a caller starts over (PostgresStore).
STORE_WAIT_SECONDS = 5.0
RECONNECT_SECONDS = 5.0


@dataclass(frozen=True)
class Recorded:
    """What one annotation event changed: new_event False means a replay; milestones newly due."""

    new_event: bool
    counted: bool
    milestones: tuple[int, ...]
    # Pacing nudges (pacing.NUDGES) this event made due.
    nudges: tuple[str, ...] = ()


@dataclass(frozen=True)
class Applied:
    """What one apply_received did: how many inbox events it applied, and each one's Recorded."""

    events: int = 0
    recorded: list[Recorded] = field(default_factory=list)

    @property
    def checkins_due(self) -> bool:
        """Whether a check-in or a nudge fell due (delivery should look now)."""
        return any(r.milestones or r.nudges for r in self.recorded)


@dataclass(frozen=True)
class InboxState:
    """The inbox at a glance: events waiting to be applied, when the oldest came, events set aside."""

    waiting: int
    oldest_received_at: float | None
    set_aside: int


@dataclass(frozen=True)
class CheckIn:
    """One (project, reviewer, milestone) check-in and where its delivery stands."""

    id: int
    project: int
    reviewer: int
    milestone: int
    status: str
    attempts: int
    due_at: float
    next_attempt_at: float
    last_error: str | None
    slack_user_id: str | None
    channel: str | None
    sent_at: float | None
    declined_at: float | None
    # When chat.postMessage was first attempted: set means the DM may already be in Slack.
    post_started_at: float | None = None
    # pacing.MILESTONE, or a nudge (pacing.NUDGES) whose milestone is the task count at its trigger.
    kind: str = pacing.MILESTONE


@dataclass(frozen=True)
class StoredAnswer:
    """An answer with the check-in it belongs to."""

    checkin_id: int
    project: int
    reviewer: int
    milestone: int
    answered_at: float
    answer: SurveyAnswer
    kind: str = pacing.MILESTONE


@dataclass(frozen=True)
class Reviewer:
    """A Label Studio user as cached by the worker."""

    reviewer: int
    email: str
    name: str


@dataclass(frozen=True)
class DayDigest:
    """The lead's digest of one local day (YYYY-MM-DD) and where its posting stands.

    status : 'sending' (claimed by `claimed_by`), 'pending' (to be tried again at
    next_attempt_at), 'posted' or 'failed'; post_started_at : set once a post may have reached
    the channel, so it is looked for there before any new post.
    """

    day: str
    status: str
    claimed_by: str
    claimed_at: float
    attempts: int
    next_attempt_at: float | None
    post_started_at: float | None
    channel: str | None
    message_ts: str | None
    posted_at: float | None
    last_error: str | None


_DIGEST_COLUMNS = (
    "day, status, claimed_by, claimed_at, attempts, next_attempt_at, post_started_at, channel, message_ts,"
    " posted_at, last_error"
)
_CHECKIN_COLUMNS = (
    "id, project, reviewer, milestone, status, attempts, due_at, next_attempt_at, last_error, "
    "slack_user_id, channel, sent_at, declined_at, post_started_at, kind"
)
_PACING_COLUMNS = "session_started_at, last_seen_at, break_clock_from, severe_run, day, day_tasks"
_ITEM_COLUMNS = ", ".join(column(item) for item in ITEMS)


def _inbox_insert(events: list, now: float) -> tuple[str, tuple]:
    """The statement (and its parameters) that adds events to the inbox, in order, all received at `now`."""
    rows = ", ".join(f"($1, ${n + 2})" for n in range(len(events)))
    return f"INSERT INTO inbox (received_at, event) VALUES {rows}", (now, *(inbox.encode(event) for event in events))


def _marks(first: int, count: int) -> str:
    """`$first, ..., $(first + count - 1)`: numbered placeholders for a list of values."""
    return ", ".join(f"${n}" for n in range(first, first + count))


def _checkin(row) -> CheckIn:
    return CheckIn(*row)


@dataclass
class _Standing:
    """One reviewer's exposure count and pacing state as a batch advances them (record_events)."""

    count: int
    pace: pacing.PacingState
    paced: bool = False


@dataclass(frozen=True)
class _Exposure:
    """What an annotation's exposure row keeps besides its ids: when it was reviewed, and whether it was severe."""

    reviewed: float
    severe: bool

    @classmethod
    def of(cls, seen: AnnotationSeen, rules: pacing.PacingRules, now: float) -> _Exposure:
        record = seen.record
        return cls(
            pacing.reviewed_at(record.created_at if record else None, now),
            pacing.is_severe(record.rating if record else None, rules.severe_topics),
        )


@dataclass
class _Written:
    """A batch's events as written (record_events): which of its projects are in their first sync,
    each reviewer's standing before the batch, and per event (new event, counted)."""

    syncing: set[int]
    standing: dict[tuple[int, int], _Standing]
    rows: list[tuple[bool, bool]]


@dataclass
class _Outcome:
    """What a batch made due, ready to write (record_events): check-in rows (project, reviewer,
    milestone, kind, status, reason), promotions of missed milestones, reviewers' pacing states,
    the tasks seen with their attack_id, the projects that sent webhooks; and per event, its Recorded."""

    recorded: list[Recorded] = field(default_factory=list)
    checkins: list[tuple] = field(default_factory=list)
    promotions: list[tuple[int, int, int]] = field(default_factory=list)
    paces: dict[tuple[int, int], pacing.PacingState] = field(default_factory=dict)
    tasks: dict[tuple[int, int], int | None] = field(default_factory=dict)
    webhook_projects: list[int] = field(default_factory=list)


def _standing_query(reviewers: list[tuple[int, int]]) -> tuple[str, tuple]:
    """One statement reading each (project, reviewer)'s exposure count and pacing state, and
    whether its project's first sync is running (ledger.ProjectState.syncing); see _standing."""
    pairs = ", ".join(f"(${2 * n + 1}, ${2 * n + 2})" for n in range(len(reviewers)))
    return (
        f"WITH r (project, reviewer) AS (VALUES {pairs})"
        " SELECT r.project, r.reviewer,"
        " (SELECT count(*) FROM exposures x WHERE x.project = r.project AND x.reviewer = r.reviewer),"
        " p.session_started_at, p.last_seen_at, p.break_clock_from, coalesce(p.severe_run, 0), p.day,"
        " coalesce(p.day_tasks, 0),"
        " EXISTS (SELECT 1 FROM ledger_projects s WHERE s.project = r.project"
        " AND s.sync_started_at IS NOT NULL AND s.sync_done_at IS NULL)"
        " FROM r LEFT JOIN pacing p ON p.project = r.project AND p.reviewer = r.reviewer",
        tuple(value for key in reviewers for value in key),
    )


def _standing(rows: list) -> tuple[set[int], dict[tuple[int, int], _Standing]]:
    """_standing_query's rows as (the projects in their first sync, each reviewer's standing)."""
    syncing = {row[0] for row in rows if row[9]}
    return syncing, {(row[0], row[1]): _Standing(row[2], pacing.PacingState(*row[3:9])) for row in rows}


def _count_batch(
    ordered: list, exposures: list, written: _Written, every: int, scheduling: str, rules: pacing.PacingRules
) -> _Outcome:
    """Count a written batch's events in order: milestones, pacing and nudges, no SQL (record_events).
    Advances `written.standing` in place."""
    outcome = _Outcome()
    latest: dict[tuple[int, int], tuple[int, int]] = {}  # (project, reviewer) -> (milestone, position)
    for position, (event, exposure, (new, counted)) in enumerate(zip(ordered, exposures, written.rows)):
        if isinstance(event, AnnotationsDeleted) or not new:
            outcome.recorded.append(Recorded(new_event=new, counted=False, milestones=()))
            continue
        record = event.record
        if record is not None:
            # Applied in order, coalesce(attack_id, the row's) keeps the last one known.
            key = (event.project, record.task_id)
            outcome.tasks[key] = record.attack_id if record.attack_id is not None else outcome.tasks.get(key)
        if not counted:
            outcome.recorded.append(Recorded(new_event=True, counted=False, milestones=()))
            continue
        how = "syncing" if event.project in written.syncing else scheduling
        mine = written.standing[(event.project, event.reviewer)]
        mine.count += 1
        due = milestones_crossed(mine.count - 1, mine.count, every)
        # Pacing advances on every counted task; only a LIVE one may make a nudge due.
        mine.pace, nudges = pacing.advance(
            mine.pace, rules, exposure.reviewed, exposure.severe, record.lead_time if record else None
        )
        mine.paced = True
        nudges = nudges if how == LIVE else ()
        status, reason = ("pending", None) if how == LIVE else ("missed", MISSED_REASONS[how])
        # A nudge's milestone is the task count at its trigger (pacing.py).
        for milestone, kind in [(m, pacing.MILESTONE) for m in due] + [(mine.count, kind) for kind in nudges]:
            outcome.checkins.append((event.project, event.reviewer, milestone, kind, status, reason))
        if how == LATEST and due:
            key = (event.project, event.reviewer)
            latest[key] = max(latest.get(key, (0, position)), (max(due), position))
        outcome.recorded.append(Recorded(True, True, tuple(due) if how == LIVE else (), nudges))
    for (project, reviewer), (milestone, position) in latest.items():
        outcome.promotions.append((project, reviewer, milestone))
        recorded = outcome.recorded[position]
        outcome.recorded[position] = Recorded(recorded.new_event, recorded.counted, (milestone,), recorded.nudges)
    outcome.paces = {key: mine.pace for key, mine in written.standing.items() if mine.paced}
    outcome.webhook_projects = sorted({e.project for e in ordered if getattr(e, "action", None) != CAUGHT_UP})
    return outcome


class Store:
    """The SQL shared by both databases; subclasses supply connections, locking and parameter passing."""

    # -- backend hooks -------------------------------------------------------------------------
    @contextmanager
    def _transaction(self, write: bool = True, batch: bool = False) -> Iterator:
        """A cursor in one transaction; `batch` for record_events's (PostgreSQL pipelines its statements)."""
        raise NotImplementedError

    @contextmanager
    def _statement(self) -> Iterator:
        """A cursor for ONE writing statement, committed on its own."""
        with self._transaction() as cursor:
            yield cursor

    @contextmanager
    def _snapshot(self) -> Iterator:
        """A cursor whose reads all see one snapshot of the store (on SQLite, any read transaction)."""
        with self._transaction(write=False) as cursor:
            yield cursor

    def _lock_reviewers(self, cursor, reviewers: list[tuple[int, int]]) -> None:
        """Serialise counting for these (project, reviewer)s until the transaction ends, locking
        them in the order given (sorted: concurrent batches then cannot deadlock)."""

    _skip_locked = ""

    def _run(self, cursor, sql: str, params: tuple = ()):
        """Execute one statement written with $1, $2, ... placeholders; returns the cursor."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections."""

    def unavailable(self, error: BaseException) -> bool:
        """Whether `error` says the database cannot be reached (as opposed to a bad event)."""
        return False

    # -- helpers ---------------------------------------------------------------------------------
    def ping(self) -> None:
        """Raise if the database cannot answer a query."""
        with self._transaction(write=False) as cur:
            self._run(cur, "SELECT 1 FROM checkins LIMIT 1")

    # -- ingestion -------------------------------------------------------------------------------
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
        read under their locks), count them (_count_batch, no SQL), write what the counting made
        due (_write_outcome). Rows that several reviewers share come last, after every reviewer
        lock: the batch's tasks in (project, task) order, then the projects. Concurrent batches
        (several worker processes on one PostgreSQL) then lock them in one order too: two batches
        whose reviewers annotated the same tasks wait for each other instead of deadlocking.
        """
        if scheduling not in SCHEDULINGS:
            raise ValueError(f"scheduling must be one of {SCHEDULINGS}")
        with self._transaction(batch=True) as cur:
            return self._record(cur, events, every, time.time() if now is None else now, scheduling, rules)

    def _record(
        self, cur, events: list, every: int, now: float, scheduling: str, rules: pacing.PacingRules
    ) -> list[Recorded]:
        """record_events on the caller's transaction."""
        order = sorted(
            range(len(events)),
            key=lambda i: (events[i].project, getattr(events[i], "reviewer", -1), i),
        )
        ordered = [events[i] for i in order]
        reviewers = sorted({(e.project, e.reviewer) for e in events if isinstance(e, AnnotationSeen)})
        exposures = [_Exposure.of(e, rules, now) if isinstance(e, AnnotationSeen) else None for e in ordered]
        written = self._write_events(cur, ordered, exposures, reviewers, now)
        outcome = _count_batch(ordered, exposures, written, every, scheduling, rules)
        self._write_outcome(cur, outcome, now)
        results: list = [None] * len(events)
        for position, i in enumerate(order):
            results[i] = outcome.recorded[position]
        return results

    # -- the inbox: webhooks answered once committed, applied afterwards (inbox.py) ---------------
    def receive(self, events: list[AnnotationSeen | AnnotationsDeleted], now: float | None = None) -> None:
        """Commit events to the inbox in one statement, in order: a webhook is answered after this."""
        raise NotImplementedError

    def apply_received(
        self, every: int, *, scheduling: str = LIVE, rules: pacing.PacingRules = pacing.NO_NUDGES,
        limit: int = 256, now: float | None = None,
    ) -> Applied:
        """Apply the oldest events waiting in the inbox (at most `limit`) as record_events does, and
        mark them applied, in one transaction: each applies once, in arrival order."""
        if scheduling not in SCHEDULINGS:
            raise ValueError(f"scheduling must be one of {SCHEDULINGS}")
        with self._transaction(batch=True) as cur:
            rows = self._take_received(cur, limit)
            if not rows:
                return Applied()
            events = [inbox.decode(event) for _, _, event in rows]
            recorded = self._record(cur, events, every, time.time() if now is None else now, scheduling, rules)
            self._mark_applied(cur, rows)
        return Applied(len(rows), recorded)

    def set_aside(self, inbox_id: int, error: str, now: float | None = None) -> bool:
        """Move the oldest waiting event, if it is still `inbox_id`, out of the inbox into `set_aside`,
        with the name of the error it fails with on its own; False if it is not (another worker
        process applied it meanwhile)."""
        with self._transaction() as cur:
            rows = self._take_received(cur, 1)
            if [row[0] for row in rows] != [inbox_id]:
                return False
            [(_, received_at, event)] = rows
            self._run(
                cur,
                "INSERT INTO set_aside (inbox_id, received_at, event, error, set_aside_at) VALUES ($1, $2, $3, $4, $5)",
                (inbox_id, received_at, event, error[:200], time.time() if now is None else now),
            )
            self._mark_applied(cur, rows)
        return True

    def next_received(self) -> int | None:
        """The inbox id of the oldest event waiting (None: nothing waits)."""
        raise NotImplementedError

    def inbox_waiting(self) -> InboxState:
        """How many received events wait to be applied, since when, and how many were set aside."""
        waiting, oldest = self._received_count()
        with self._transaction(write=False) as cur:
            set_aside = self._run(cur, "SELECT count(*) FROM set_aside").fetchone()[0]
        return InboxState(waiting, oldest, set_aside)

    def anything_received(self) -> bool:
        """Whether an event waits in the inbox (a cheap look, for an idle applier)."""
        return self.next_received() is not None

    def _take_received(self, cur, limit: int) -> list[tuple[int, float, str]]:
        """The oldest `limit` waiting events, (inbox id, received_at, event), for this transaction to
        apply; none while another transaction is applying the inbox."""
        raise NotImplementedError

    def _mark_applied(self, cur, rows: list[tuple[int, float, str]]) -> None:
        """Take these events (the oldest waiting, in order) out of the inbox, in this transaction."""
        raise NotImplementedError

    def _received_count(self) -> tuple[int, float | None]:
        """(events waiting, when the oldest of them came)."""
        raise NotImplementedError

    def _runner(self, cur):
        """`run(sql, params)` on this transaction, for the ledger's and the migrations' functions."""
        return lambda sql, params=(): self._run(cur, sql, params)

    def _write_events(
        self, cur, ordered: list, exposures: list, reviewers: list[tuple[int, int]], now: float
    ) -> _Written:
        """Lock the reviewers, read their standing, then write each event's rows in order."""
        run = self._runner(cur)
        self._lock_reviewers(cur, reviewers)
        # Read once per batch, after the locks: held to the commit, they keep each reviewer's
        # count and pacing state from changing but through this batch.
        syncing, standing = _standing(run(*_standing_query(reviewers)).fetchall()) if reviewers else (set(), {})
        rows = []
        for event, exposure in zip(ordered, exposures):
            if isinstance(event, AnnotationsDeleted):
                new = self._record_deletion(cur, event, now)
                ledger.remove(run, event.project, event.annotation_ids)
                rows.append((new > 0, False))
            else:
                rows.append(self._insert_event(cur, event, now, exposure.reviewed, exposure.severe))
        return _Written(syncing, standing, rows)

    def _write_outcome(self, cur, outcome: _Outcome, now: float) -> None:
        """Write the check-ins and nudges a batch made due, its reviewers' pacing, tasks and projects."""
        run = self._runner(cur)
        if outcome.checkins:
            rows = ", ".join(f"({_marks(6 * n + 2, 6)}, $1, $1)" for n in range(len(outcome.checkins)))
            run(
                "INSERT INTO checkins (project, reviewer, milestone, kind, status, last_error, due_at, next_attempt_at)"
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
            "UPDATE checkins SET status = 'pending', last_error = NULL, next_attempt_at = $4"
            " WHERE project = $1 AND reviewer = $2 AND milestone = $3 AND status = 'missed' AND kind = 'milestone'",
            (project, reviewer, milestone, now),
        )

    def _record_deletion(self, cur, deleted: AnnotationsDeleted, now: float) -> int:
        """Insert a deletion's events; returns how many were new."""
        # RETURNING, not rowcount: PostgreSQL's batches run pipelined, where rowcount comes late.
        new = 0
        for annotation_id in deleted.annotation_ids:
            new += len(self._run(
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
        inserted = self._run(
            cur,
            "INSERT INTO events (project, annotation_id, action, updated_at, task, reviewer, skipped, received_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            (seen.project, seen.annotation_id, seen.action, seen.updated_at, seen.task, seen.reviewer,
             int(seen.skipped), now),
        ).rowcount
        if inserted != 1:
            return False, False
        if seen.record is not None:
            ledger.write(self._runner(cur), seen.project, seen.record, now)
        counted = self._run(
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
        rows = ", ".join(f"({_marks(8 * n + 1, 8)})" for n in range(len(paces)))
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

    # -- the ledger's upkeep (catch_up.py) --------------------------------------------------------
    def ledger_state(self, project: int) -> ledger.ProjectState:
        """How current the ledger is for a project, and where its first sync stands."""
        with self._transaction(write=False) as cur:
            return ledger.project_state(self._runner(cur), project)

    def note_ledger(self, project: int, **values) -> None:
        """Set ledger_projects columns of a project (ledger.ProjectState's fields)."""
        with self._transaction() as cur:
            for name, value in values.items():
                ledger.note(self._runner(cur), project, name, value)

    def note_tasks(self, project: int, tasks: list[tuple[int, int | None]]) -> None:
        """Remember tasks of the project with their attack_ids (unannotated tasks count in reports)."""
        with self._transaction() as cur:
            run = self._runner(cur)
            # In task order, as record_events notes them: concurrent transactions lock the rows in one order.
            ledger.note_tasks(run, sorted({(project, task): attack_id for task, attack_id in tasks}.items()))

    def forget_missing(self, project: int, present: dict[int, set[int]], read_at: float) -> int:
        """Remove ledger rows of these tasks whose annotation Label Studio no longer has.

        present : task -> ids of its annotations in a read that started at `read_at`; a row
        recorded after that (a webhook that raced the read) is newer than the read and stays.
        A deletion never un-counts an exposure. Returns how many rows went.
        """
        removed = 0
        with self._transaction() as cur:
            run = self._runner(cur)
            for task, ids in present.items():
                rows = run(
                    "SELECT annotation_id FROM ledger WHERE project = $1 AND task = $2 AND recorded_at < $3",
                    (project, task, read_at),
                ).fetchall()
                gone = [row[0] for row in rows if row[0] not in ids]
                # As a deletion webhook would: the event keeps a late replay from bringing it back.
                self._record_deletion(cur, AnnotationsDeleted(project, tuple(gone)), time.time())
                ledger.remove(run, project, gone)
                removed += len(gone)
        return removed

    def read_ledger(self, project: int) -> ledger.LedgerRows:
        """The project's ledger (annotations, tasks, how current), read from one snapshot."""
        with self._snapshot() as cur:
            return ledger.read(self._runner(cur), project)

    def ledger_task_attack_ids(self, project: int) -> dict[int, int | None] | None:
        """Task id -> attack_id of every task, or None until the project's first sync finished."""
        with self._snapshot() as cur:
            run = self._runner(cur)
            if ledger.project_state(run, project).sync_done_at is None:
                return None
            return ledger.task_attack_ids(run, project)

    def ledger_task_ids(self, project: int) -> set[int]:
        """The ids of every task the ledger knows in the project."""
        with self._transaction(write=False) as cur:
            return {row[0] for row in self._run(cur, "SELECT task FROM ledger_tasks WHERE project = $1", (project,))}

    def forget_tasks(self, project: int, tasks: set[int]) -> int:
        """Tasks deleted in Label Studio leave the ledger with their annotations; returns annotations removed."""
        removed = 0
        with self._transaction() as cur:
            for task in tasks:
                removed += self._run(cur, "DELETE FROM ledger WHERE project = $1 AND task = $2", (project, task)).rowcount
                self._run(cur, "DELETE FROM ledger_tasks WHERE project = $1 AND task = $2", (project, task))
        return removed

    def promote_latest_missed(self, project: int, since: float, now: float | None = None) -> int:
        """After a first sync: each reviewer's highest milestone missed since `since` becomes a
        pending check-in, unless one is already pending or sent for a later milestone. Returns how many."""
        now = time.time() if now is None else now
        with self._transaction() as cur:
            return self._run(
                cur,
                "UPDATE checkins SET status = 'pending', last_error = NULL, next_attempt_at = $3"
                " WHERE id IN (SELECT c.id FROM checkins c WHERE c.project = $1 AND c.status = 'missed'"
                " AND c.kind = 'milestone' AND c.due_at >= $2 AND c.milestone = (SELECT max(m.milestone)"
                " FROM checkins m WHERE m.project = c.project AND m.reviewer = c.reviewer AND m.kind = 'milestone')"
                ")",
                (project, since, now),
            ).rowcount

    def exposure_log(self) -> list[tuple[int, int, float, bool]]:
        """(project, reviewer, when reviewed, severe) of every task a reviewer has seen, by time.

        Stores written before pacing have no review time or severity on older rows: the time the
        worker saw the task and "not severe" stand in for them.
        """
        with self._transaction(write=False) as cur:
            rows = self._run(
                cur,
                "SELECT project, reviewer, coalesce(reviewed_at, seen_at), coalesce(severe, 0) FROM exposures"
                " ORDER BY project, reviewer, coalesce(reviewed_at, seen_at)",
            ).fetchall()
        return [(row[0], row[1], row[2], bool(row[3])) for row in rows]

    def known_projects(self) -> list[int]:
        """Projects the worker has heard of through a webhook or catch-up."""
        with self._transaction(write=False) as cur:
            return [row[0] for row in self._run(cur, "SELECT DISTINCT project FROM events ORDER BY project").fetchall()]

    # -- delivery state machine: pending -> sending -> sent | pending (retry) | failed | paused ---
    def claim_next_checkin(self, worker: str, now: float | None = None) -> CheckIn | None:
        """Atomically take the next due pending check-in for this worker, or None."""
        now = time.time() if now is None else now
        # Most passes find nothing due: ask in a read transaction first, so that an empty pass
        # never takes SQLite's write lock (and an fsync) from the webhooks.
        with self._transaction(write=False) as cur:
            due = self._run(
                cur, "SELECT 1 FROM checkins WHERE status = 'pending' AND next_attempt_at <= $1 LIMIT 1", (now,)
            ).fetchone()
        if due is None:
            return None
        with self._statement() as cur:
            row = self._run(
                cur,
                "UPDATE checkins SET status = 'sending', claimed_by = $1, claimed_at = $2, attempts = attempts + 1"
                " WHERE status = 'pending' AND id = (SELECT id FROM checkins WHERE status = 'pending'"
                f" AND next_attempt_at <= $2 ORDER BY next_attempt_at, id LIMIT 1{self._skip_locked})"
                f" RETURNING {_CHECKIN_COLUMNS}",
                (worker, now),
            ).fetchone()
        return _checkin(row) if row else None

    def release_stale_claims(self, older_than: float) -> int:
        """Return check-ins claimed before `older_than` (a worker died or stalled mid-send) to pending.

        Each is marked as possibly posted (post_started_at), so it is looked for in the DM first.
        """
        with self._transaction() as cur:
            return self._run(
                cur,
                "UPDATE checkins SET status = 'pending', claimed_by = NULL,"
                " post_started_at = coalesce(post_started_at, claimed_at),"
                " last_error = 'claim expired: a worker stopped while sending'"
                " WHERE status = 'sending' AND claimed_at < $1",
                (older_than,),
            ).rowcount

    def begin_post(self, checkin_id: int, worker: str, now: float | None = None) -> bool:
        """Just before chat.postMessage: renew this worker's claim and record that a post may reach
        Slack; False if the claim was lost (another worker took it over) and nothing must be posted."""
        now = time.time() if now is None else now
        with self._statement() as cur:
            return (
                self._run(
                    cur,
                    "UPDATE checkins SET claimed_at = $3, post_started_at = coalesce(post_started_at, $3)"
                    " WHERE id = $1 AND status = 'sending' AND claimed_by = $2",
                    (checkin_id, worker, now),
                ).rowcount
                == 1
            )

    def _finish(self, checkin_id: int, worker: str, sql_set: str, params: tuple) -> bool:
        # $1 and $2 are the check-in and its claimer; `sql_set` numbers its own values from $3.
        with self._statement() as cur:
            return (
                self._run(
                    cur,
                    f"UPDATE checkins SET {sql_set}, claimed_by = NULL WHERE id = $1 AND status = 'sending'"
                    " AND claimed_by = $2",
                    (checkin_id, worker, *params),
                ).rowcount
                == 1
            )

    def mark_sent(self, checkin_id: int, worker: str, slack_user_id: str, channel: str, ts: str, now: float | None = None) -> bool:
        """Record that Slack accepted the check-in's DM."""
        now = time.time() if now is None else now
        return self._finish(
            checkin_id, worker,
            "status = 'sent', slack_user_id = $3, channel = $4, message_ts = $5, sent_at = $6, last_error = NULL",
            (slack_user_id, channel, ts, now),
        )

    def mark_retry(self, checkin_id: int, worker: str, error: str, retry_at: float) -> bool:
        """Put a claimed check-in back to pending, to be tried again at `retry_at`."""
        return self._finish(
            checkin_id, worker, "status = 'pending', last_error = $3, next_attempt_at = $4", (error[:200], retry_at)
        )

    def mark_failed(self, checkin_id: int, worker: str, error: str) -> bool:
        """Give up on a check-in that cannot be delivered without a fix (e.g. no Slack user)."""
        return self._finish(checkin_id, worker, "status = 'failed', last_error = $3", (error[:200],))

    def mark_paused(self, checkin_id: int, worker: str, slack_user_id: str) -> bool:
        """Skip a check-in because its reviewer paused check-ins."""
        return self._finish(
            checkin_id, worker, "status = 'paused', slack_user_id = $3, last_error = NULL", (slack_user_id,)
        )

    def retry_failed(self, now: float | None = None) -> int:
        """Return every failed check-in to pending (after the cause was fixed)."""
        now = time.time() if now is None else now
        with self._transaction() as cur:
            return self._run(
                cur, "UPDATE checkins SET status = 'pending', next_attempt_at = $1 WHERE status = 'failed'", (now,)
            ).rowcount

    def mark_declined(self, checkin_id: int, now: float | None = None) -> None:
        """The reviewer pressed "Not now" (kept for the response rate)."""
        now = time.time() if now is None else now
        with self._transaction() as cur:
            self._run(
                cur, "UPDATE checkins SET declined_at = $1 WHERE id = $2 AND declined_at IS NULL", (now, checkin_id)
            )

    def checkin(self, checkin_id: int) -> CheckIn | None:
        """One check-in by id."""
        with self._transaction(write=False) as cur:
            row = self._run(cur, f"SELECT {_CHECKIN_COLUMNS} FROM checkins WHERE id = $1", (checkin_id,)).fetchone()
        return _checkin(row) if row else None

    def checkins(self, statuses: tuple[str, ...] = STATUSES) -> list[CheckIn]:
        """All check-ins in the given statuses, oldest first."""
        marks = _marks(1, len(statuses))
        with self._transaction(write=False) as cur:
            rows = self._run(
                cur,
                f"SELECT {_CHECKIN_COLUMNS} FROM checkins WHERE status IN ({marks}) ORDER BY due_at, id",
                tuple(statuses),
            ).fetchall()
        return [_checkin(row) for row in rows]

    # -- delivery stopped by bad Slack credentials (one row, seen by every process) --------------
    def delivery_stopped(self) -> str | None:
        """The Slack error code that stopped delivery (e.g. invalid_auth), or None while it runs."""
        with self._transaction(write=False) as cur:
            row = self._run(cur, "SELECT stopped_reason FROM slack_delivery WHERE id = 1").fetchone()
        return row[0] if row else None

    def stop_delivery(self, reason: str, now: float | None = None) -> bool:
        """Stop delivery for every worker, or restate why; True only for the call that stopped it."""
        now = time.time() if now is None else now
        with self._transaction() as cur:
            stopped = self._run(
                cur,
                "UPDATE slack_delivery SET stopped_reason = $1, stopped_at = $2, probed_at = $2"
                " WHERE id = 1 AND stopped_reason IS NULL",
                (reason, now),
            ).rowcount
            if not stopped:
                self._run(cur, "UPDATE slack_delivery SET stopped_reason = $1 WHERE id = 1", (reason,))
        return stopped == 1

    def claim_credentials_probe(self, every: float, now: float | None = None, force: bool = False) -> bool:
        """While stopped, True for the one worker that should ask auth.test now (at most once per `every` s)."""
        now = time.time() if now is None else now
        with self._transaction() as cur:
            return (
                self._run(
                    cur,
                    "UPDATE slack_delivery SET probed_at = $1 WHERE id = 1 AND stopped_reason IS NOT NULL"
                    " AND ($3 = 1 OR probed_at IS NULL OR probed_at <= $2)",
                    (now, now - every, int(force)),
                ).rowcount
                == 1
            )

    def resume_delivery(self) -> bool:
        """Clear the stop; True only for the call that cleared it."""
        with self._transaction() as cur:
            return (
                self._run(
                    cur,
                    "UPDATE slack_delivery SET stopped_reason = NULL, stopped_at = NULL"
                    " WHERE id = 1 AND stopped_reason IS NOT NULL",
                ).rowcount
                == 1
            )

    # -- the lead's digest: one row per local day, claimed by one process ------------------------
    def digest(self, day: str) -> DayDigest | None:
        """The day's digest row, or None while no process has claimed it."""
        with self._transaction(write=False) as cur:
            row = self._run(cur, f"SELECT {_DIGEST_COLUMNS} FROM digests WHERE day = $1", (day,)).fetchone()
        return DayDigest(*row) if row else None

    def claim_digest(self, day: str, worker: str, now: float, stale_before: float) -> DayDigest | None:
        """Take the day's digest for this worker: the first claim of the day, one due again after a
        failure, or one whose claim is older than `stale_before` (its worker died or stalled: marked
        as possibly posted). None when another worker holds it, or it is posted or failed."""
        with self._transaction() as cur:
            inserted = self._run(
                cur,
                "INSERT INTO digests (day, claimed_by, claimed_at, status, attempts) VALUES ($1, $2, $3, 'sending', 1)"
                " ON CONFLICT DO NOTHING",
                (day, worker, now),
            ).rowcount
            if inserted == 1:
                row = self._run(cur, f"SELECT {_DIGEST_COLUMNS} FROM digests WHERE day = $1", (day,)).fetchone()
            else:
                # Every right-hand side reads the row as it was before this update.
                row = self._run(
                    cur,
                    "UPDATE digests SET status = 'sending', claimed_by = $2, claimed_at = $3, attempts = attempts + 1,"
                    " next_attempt_at = NULL,"
                    " post_started_at = CASE WHEN status = 'sending' THEN coalesce(post_started_at, claimed_at)"
                    " ELSE post_started_at END,"
                    " last_error = CASE WHEN status = 'sending' THEN 'claim expired: a worker stopped while posting'"
                    " ELSE last_error END"
                    " WHERE day = $1 AND ((status = 'pending' AND next_attempt_at <= $3)"
                    " OR (status = 'sending' AND claimed_at < $4))"
                    f" RETURNING {_DIGEST_COLUMNS}",
                    (day, worker, now, stale_before),
                ).fetchone()
        return DayDigest(*row) if row else None

    def begin_digest_post(self, day: str, worker: str, channel: str, now: float | None = None) -> bool:
        """Just before chat.postMessage: renew the claim and record that a post may reach `channel`;
        False if the claim was lost and nothing must be posted."""
        now = time.time() if now is None else now
        with self._transaction() as cur:
            return (
                self._run(
                    cur,
                    "UPDATE digests SET claimed_at = $4, post_started_at = coalesce(post_started_at, $4), channel = $3"
                    " WHERE day = $1 AND status = 'sending' AND claimed_by = $2",
                    (day, worker, channel, now),
                ).rowcount
                == 1
            )

    def _finish_digest(self, day: str, worker: str, sql_set: str, params: tuple) -> bool:
        # $1 and $2 are the day and its claimer; `sql_set` numbers its own values from $3.
        with self._transaction() as cur:
            return (
                self._run(
                    cur,
                    f"UPDATE digests SET {sql_set} WHERE day = $1 AND status = 'sending' AND claimed_by = $2",
                    (day, worker, *params),
                ).rowcount
                == 1
            )

    def mark_digest_posted(self, day: str, worker: str, channel: str, ts: str, now: float | None = None) -> bool:
        """Record that Slack took the day's digest (only the claim's holder can)."""
        now = time.time() if now is None else now
        return self._finish_digest(
            day, worker, "status = 'posted', channel = $3, message_ts = $4, posted_at = $5, last_error = NULL",
            (channel, ts, now),
        )

    def mark_digest_retry(self, day: str, worker: str, error: str, retry_at: float) -> bool:
        """Put the claimed digest back, to be tried again at `retry_at` by any worker."""
        return self._finish_digest(
            day, worker, "status = 'pending', last_error = $3, next_attempt_at = $4", (error[:200], retry_at)
        )

    def mark_digest_failed(self, day: str, worker: str, error: str) -> bool:
        """Give up on the day's digest (the next day's is posted as usual)."""
        return self._finish_digest(day, worker, "status = 'failed', last_error = $3", (error[:200],))

    def last_digest_posted_at(self, before_day: str | None = None) -> float | None:
        """When the latest digest was posted (of a day before `before_day`, when given), or None."""
        with self._transaction(write=False) as cur:
            row = self._run(
                cur, "SELECT max(posted_at) FROM digests WHERE status = 'posted' AND ($1 = '' OR day < $1)",
                (before_day or "",),
            ).fetchone()
        return row[0] if row else None

    # -- answers ---------------------------------------------------------------------------------
    def record_answer(self, checkin_id: int, answer: SurveyAnswer, now: float | None = None) -> bool:
        """Store the first answer to a check-in; False if it was already answered."""
        now = time.time() if now is None else now
        values = tuple(answer.scores.get(item) for item in ITEMS)
        marks = _marks(3, len(ITEMS))
        with self._transaction() as cur:
            return (
                self._run(
                    cur,
                    f"INSERT INTO answers (checkin_id, answered_at, {_ITEM_COLUMNS}, comment)"
                    f" VALUES ($1, $2, {marks}, ${3 + len(ITEMS)}) ON CONFLICT DO NOTHING",
                    (checkin_id, now, *values, answer.comment),
                ).rowcount
                == 1
            )

    def mark_lead_alerted(self, checkin_id: int, now: float | None = None) -> bool:
        """Note that the lead was told about this answer; False if someone already did."""
        now = time.time() if now is None else now
        with self._transaction() as cur:
            return (
                self._run(
                    cur,
                    "UPDATE answers SET lead_alerted_at = $1 WHERE checkin_id = $2 AND lead_alerted_at IS NULL",
                    (now, checkin_id),
                ).rowcount
                == 1
            )

    def answers(self) -> list[StoredAnswer]:
        """Every answer with its check-in's project, reviewer and milestone."""
        with self._transaction(write=False) as cur:
            rows = self._run(
                cur,
                f"SELECT a.checkin_id, c.project, c.reviewer, c.milestone, a.answered_at, {_ITEM_COLUMNS}, a.comment,"
                " c.kind"
                " FROM answers a JOIN checkins c ON c.id = a.checkin_id ORDER BY a.answered_at, a.checkin_id",
            ).fetchall()
        return [
            StoredAnswer(
                checkin_id=row[0], project=row[1], reviewer=row[2], milestone=row[3], answered_at=row[4],
                answer=SurveyAnswer(scores=dict(zip(ITEMS, row[5:5 + len(ITEMS)])), comment=row[5 + len(ITEMS)]),
                kind=row[6 + len(ITEMS)],
            )
            for row in rows
        ]

    def is_answered(self, checkin_id: int) -> bool:
        """Whether the check-in already has an answer."""
        with self._transaction(write=False) as cur:
            return self._run(cur, "SELECT 1 FROM answers WHERE checkin_id = $1", (checkin_id,)).fetchone() is not None

    # -- who is who: Label Studio users, Slack users, pauses --------------------------------------
    def cache_reviewer(self, reviewer: Reviewer, now: float | None = None) -> None:
        """Remember a Label Studio user's email and name."""
        now = time.time() if now is None else now
        with self._transaction() as cur:
            self._run(
                cur,
                "INSERT INTO reviewers (reviewer, email, name, fetched_at) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT (reviewer) DO UPDATE SET email = excluded.email, name = excluded.name,"
                " fetched_at = excluded.fetched_at",
                (reviewer.reviewer, reviewer.email, reviewer.name, now),
            )

    def reviewers(self) -> dict[int, Reviewer]:
        """Every cached Label Studio user by id."""
        with self._transaction(write=False) as cur:
            rows = self._run(cur, "SELECT reviewer, email, name FROM reviewers").fetchall()
        return {row[0]: Reviewer(*row) for row in rows}

    def cached_reviewer(self, reviewer: int) -> Reviewer | None:
        """A cached Label Studio user, or None."""
        with self._transaction(write=False) as cur:
            row = self._run(cur, "SELECT reviewer, email, name FROM reviewers WHERE reviewer = $1", (reviewer,)).fetchone()
        return Reviewer(*row) if row else None

    def cache_slack_user(self, email: str, slack_user_id: str, now: float | None = None) -> None:
        """Remember the Slack user found for an email."""
        now = time.time() if now is None else now
        with self._transaction() as cur:
            self._run(
                cur,
                "INSERT INTO slack_users (email, slack_user_id, looked_up_at) VALUES ($1, $2, $3)"
                " ON CONFLICT (email) DO UPDATE SET slack_user_id = excluded.slack_user_id,"
                " looked_up_at = excluded.looked_up_at",
                (email.lower(), slack_user_id, now),
            )

    def cached_slack_user(self, email: str) -> str | None:
        """The Slack user id found earlier for an email, or None."""
        with self._transaction(write=False) as cur:
            row = self._run(cur, "SELECT slack_user_id FROM slack_users WHERE email = $1", (email.lower(),)).fetchone()
        return row[0] if row else None

    def set_paused(self, slack_user_id: str, paused: bool, now: float | None = None) -> None:
        """Pause or resume check-ins for a Slack user."""
        now = time.time() if now is None else now
        with self._transaction() as cur:
            if paused:
                self._run(
                    cur,
                    "INSERT INTO pauses (slack_user_id, paused_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    (slack_user_id, now),
                )
            else:
                self._run(cur, "DELETE FROM pauses WHERE slack_user_id = $1", (slack_user_id,))

    def is_paused(self, slack_user_id: str) -> bool:
        """Whether this Slack user paused check-ins."""
        with self._transaction(write=False) as cur:
            return self._run(cur, "SELECT 1 FROM pauses WHERE slack_user_id = $1", (slack_user_id,)).fetchone() is not None


_SQLITE_NAMES = tuple(str(n) for n in range(1, 1025))


# How often the web process deletes the inbox rows the store has applied (SQLiteStore.receive).
INBOX_PRUNE_SECONDS = 10.0
# The inbox file's layout version (PRAGMA user_version): a queue, not data to migrate.
_INBOX_VERSION = 1


@contextmanager
def _begun(connection: sqlite3.Connection, write: bool = True) -> Iterator[sqlite3.Cursor]:
    """A cursor in one transaction on `connection`, committed at the end, rolled back on an error."""
    cursor = connection.cursor()
    # IMMEDIATE takes the write lock up front: no upgrade deadlocks, and counting is serialised.
    cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        yield cursor
    except BaseException:
        connection.rollback()
        raise
    else:
        connection.commit()
    finally:
        cursor.close()


def _open_inbox(connection: sqlite3.Connection, path: str) -> str:
    """Make the inbox file's table if it has none; returns the file's random name, which tells the
    store whether what it applied came from this file (a new file starts from its first row)."""
    with _begun(connection) as cursor:
        version = cursor.execute("PRAGMA user_version").fetchone()[0]
        if version > _INBOX_VERSION:
            raise WorkerError(f"the inbox at {path} has version {version}; this worker knows up to {_INBOX_VERSION}:"
                              " upgrade red-team-review")
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS inbox (id INTEGER PRIMARY KEY AUTOINCREMENT, received_at REAL NOT NULL,"
            " event TEXT NOT NULL)"
        )
        cursor.execute("CREATE TABLE IF NOT EXISTS inbox_file (id INTEGER PRIMARY KEY CHECK (id = 1), name TEXT NOT NULL)")
        cursor.execute("INSERT OR IGNORE INTO inbox_file (id, name) VALUES (1, ?)", (uuid.uuid4().hex,))
        cursor.execute(f"PRAGMA user_version = {_INBOX_VERSION}")
        return cursor.execute("SELECT name FROM inbox_file").fetchone()[0]


def _use_wal(connection: sqlite3.Connection, timeout: float = 30) -> None:
    # Processes opening a fresh file race to switch it to WAL, and the loser is told "database is
    # locked" at once: the busy timeout does not cover this switch. So wait for it here.
    deadline = time.monotonic() + timeout
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class SQLiteStore(Store):
    """One SQLite file in WAL mode with full fsync on commit, readable by its owner only, and its
    inbox in a second such file beside it (`<path>-inbox`).

    SQLite lets one connection write a file at a time, and makes the others wait in sleeps of
    1, 2, 5, 10 ms and more: had the web process's inbox commits shared the store's file with the
    background's applying, each would keep waiting for the other (bench_webhooks.py: 0.6x of the
    floor, p99 38 ms). So the web process alone writes the inbox file, the background alone
    applies it to the store, and the store records how far it has applied it (`inbox_applied`:
    the last inbox id applied, committed with what applying it wrote). Inbox ids only grow
    (AUTOINCREMENT), and the web process deletes rows the store has applied.
    """

    def __init__(self, path: str):
        self.path = path
        self.inbox_path = f"{path}-inbox"
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise WorkerError(f"DATABASE_URL: directory {directory} does not exist")
        for file in (path, self.inbox_path):
            try:
                # Create the file ourselves so it is never world-readable, even for an instant;
                # SQLite gives the -wal and -shm files the same mode as the database file.
                os.close(os.open(file, os.O_CREAT | os.O_RDWR, 0o600))
                os.chmod(file, 0o600)
            except OSError as error:
                raise WorkerError(f"DATABASE_URL: cannot create {file}: {error.strerror}") from None
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._pruned_at = 0.0
        try:
            new_store = self._migrate() == 0
            self._inbox_name = _open_inbox(self._inbox_connection(), self.inbox_path)
            if new_store:
                self._leave_inbox_to_catch_up()
        except BaseException:
            self.close()
            raise

    def _migrate(self) -> int:
        """Apply the migrations the store lacks; returns its schema version before (0: a new store)."""
        connection = self._connection()
        # SQLite changes a table by copying it, which foreign keys forbid mid-transaction; its
        # documented way is to switch them off (only possible outside a transaction) and check
        # every key before committing.
        connection.execute("PRAGMA foreign_keys=OFF")
        try:
            # BEGIN IMMEDIATE: other processes opening this file wait here, then find it migrated.
            with self._transaction() as cur:
                before, _ = migrate(lambda sql, params=(): self._run(cur, sql, params), "sqlite", self.path)
                if cur.execute("PRAGMA foreign_key_check").fetchone() is not None:
                    raise WorkerError(f"DATABASE_URL: migrating {self.path} broke a foreign key; the store is unchanged")
        finally:
            connection.execute("PRAGMA foreign_keys=ON")
        return before

    def _leave_inbox_to_catch_up(self) -> None:
        """A new store beside an old inbox file (the store was deleted to rebuild the ledger): what
        the file holds may have been applied to the old store, and applied here it would make live
        check-ins of old work. The new store's first sync reads all of it from Label Studio instead."""
        last = self._inbox_connection().execute("SELECT max(id) FROM inbox").fetchone()[0]
        if last:
            with self._transaction() as cur:
                self._mark_applied(cur, [(last, 0.0, "")])

    def _run(self, cursor, sql: str, params: tuple = ()):
        # SQLite reads $1 as a parameter named "1". The names are made once: every statement of
        # every webhook passes through here.
        names = _SQLITE_NAMES if len(params) <= len(_SQLITE_NAMES) else [str(n) for n in range(1, len(params) + 1)]
        cursor.execute(sql, dict(zip(names, params)))
        return cursor

    def _connection(self, which: str = "connection") -> sqlite3.Connection:
        """This thread's connection to the store (or, `which="inbox"`, to its inbox file)."""
        connection = getattr(self._local, which, None)
        if connection is None:
            path = self.inbox_path if which == "inbox" else self.path
            try:
                connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
                _use_wal(connection)
                connection.execute("PRAGMA synchronous=FULL")
                connection.execute("PRAGMA foreign_keys=ON")
            except sqlite3.Error as error:
                raise WorkerError(f"DATABASE_URL: cannot open SQLite file {path}: {error}") from None
            setattr(self._local, which, connection)
            with self._lock:
                self._connections.append(connection)
        return connection

    def _inbox_connection(self) -> sqlite3.Connection:
        return self._connection("inbox")

    # -- the inbox, in its own file (see the class's docstring) -----------------------------------
    def receive(self, events: list[AnnotationSeen | AnnotationsDeleted], now: float | None = None) -> None:
        now = time.time() if now is None else now
        with _begun(self._inbox_connection()) as cursor:
            self._run(cursor, *_inbox_insert(events, now))
            if now - self._pruned_at >= INBOX_PRUNE_SECONDS:
                # What the store has applied leaves the inbox; its ids are never used again.
                self._pruned_at = now
                self._run(cursor, "DELETE FROM inbox WHERE id <= $1", (self._applied_upto(),))

    def _applied_upto(self, cur=None) -> int:
        """The last inbox id the store has applied (0: none of this inbox file's), read on `cur`'s
        transaction or, without one, on a read of its own."""
        with nullcontext(cur) if cur is not None else self._transaction(write=False) as cur:
            row = self._run(
                cur, "SELECT applied_upto FROM inbox_applied WHERE id = 1 AND inbox = $1", (self._inbox_name,)
            ).fetchone()
        return row[0] if row else 0

    def _take_received(self, cur, limit: int) -> list[tuple[int, float, str]]:
        # `cur` holds the store's write lock, so no other transaction applies the inbox meanwhile;
        # reading the inbox file never waits for its writer (WAL).
        rows = self._run(
            self._inbox_connection().cursor(), "SELECT id, received_at, event FROM inbox WHERE id > $1 ORDER BY id LIMIT $2",
            (self._applied_upto(cur), limit),
        ).fetchall()
        return [tuple(row) for row in rows]

    def _mark_applied(self, cur, rows: list[tuple[int, float, str]]) -> None:
        self._run(
            cur,
            "INSERT INTO inbox_applied (id, inbox, applied_upto) VALUES (1, $1, $2)"
            " ON CONFLICT (id) DO UPDATE SET inbox = excluded.inbox, applied_upto = excluded.applied_upto",
            (self._inbox_name, rows[-1][0]),
        )

    def _received_count(self) -> tuple[int, float | None]:
        row = self._run(
            self._inbox_connection().cursor(), "SELECT count(*), min(received_at) FROM inbox WHERE id > $1",
            (self._applied_upto(),),
        ).fetchone()
        return row[0], row[1]

    def next_received(self) -> int | None:
        return self._run(
            self._inbox_connection().cursor(), "SELECT min(id) FROM inbox WHERE id > $1", (self._applied_upto(),)
        ).fetchone()[0]

    @contextmanager
    def _transaction(self, write: bool = True, batch: bool = False):
        with _begun(self._connection(), write) as cursor:
            yield cursor

    def close(self) -> None:
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
        self._local = threading.local()


class PostgresStore(Store):
    """PostgreSQL through a small psycopg connection pool; safe for several worker processes."""

    _skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(self, url: str, max_connections: int = 8, wait_seconds: float = STORE_WAIT_SECONDS):
        try:
            import psycopg
            from psycopg_pool import ConnectionPool, PoolTimeout
        except ImportError:
            raise WorkerError(
                "a PostgreSQL store needs the worker's extra dependencies: pip install 'red-team-review[worker]'"
            ) from None

        parts = urlsplit(url)
        # The URL may carry a password; messages name only host, port and database.
        where = f"{parts.hostname}:{parts.port or 5432}{parts.path}"
        # RawCursor: the $1, $2, ... placeholders go to the server as written.
        connect_kwargs = {"autocommit": True, "cursor_factory": psycopg.RawCursor}
        try:
            # One direct connection first: it fails fast with the cause, where the pool would wait.
            with psycopg.connect(url, connect_timeout=10, **connect_kwargs) as connection:
                with connection.transaction(), connection.cursor() as cur:
                    # Held until commit: concurrent openers wait, then read the version this one wrote
                    # (and concurrent CREATE TABLE IF NOT EXISTS could collide in the catalog).
                    self._run(cur, "SELECT pg_advisory_xact_lock($1, 0)", (_LOCK_NAMESPACE,))
                    migrate(lambda sql, params=(): self._run(cur, sql, params), "postgresql", where)
        except psycopg.OperationalError as error:
            # The driver's message may quote the connection string.
            reason = "refused or unreachable" if "connect" in str(error).lower() else error.__class__.__name__
            raise StoreUnreachable(f"DATABASE_URL: cannot connect to PostgreSQL at {where} ({reason})") from None
        self._unreachable = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout)
        # timeout: how long a caller waits for a connection (the web process answers 503 within a
        # second while the database is down). reconnect_timeout: the pool's reconnection backs off
        # 1, 2, 4 s... and gives up after it, so the next caller starts a fresh attempt at once:
        # a database back after a minute is used again within seconds, not after a long backoff.
        self._pool = ConnectionPool(
            url, min_size=1, max_size=max_connections, open=True, timeout=wait_seconds,
            reconnect_timeout=RECONNECT_SECONDS, kwargs=connect_kwargs,
        )

    def unavailable(self, error: BaseException) -> bool:
        return isinstance(error, self._unreachable)

    def _run(self, cursor, sql: str, params: tuple = ()):
        cursor.execute(sql, params)
        return cursor

    @contextmanager
    def _transaction(self, write: bool = True, batch: bool = False):
        with self._pool.connection() as connection:
            if not write:
                # Under READ COMMITTED a transaction gives reads nothing (each statement takes its
                # own snapshot) but two more round trips, BEGIN and COMMIT: reads autocommit.
                with connection.cursor() as cursor:
                    yield cursor
                return
            # A batch's statements go out together (psycopg's pipeline mode): it waits once per
            # result it needs, not once per statement.
            with connection.pipeline() if batch else nullcontext(), connection.transaction():
                with connection.cursor() as cursor:
                    yield cursor

    @contextmanager
    def _snapshot(self):
        # Reads autocommit elsewhere (each statement its own snapshot); a read of several
        # statements that must agree with each other takes one REPEATABLE READ transaction.
        with self._pool.connection() as connection, connection.transaction():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                yield cursor

    @contextmanager
    def _statement(self):
        # One statement is atomic on its own: autocommit spares BEGIN's and COMMIT's round trips.
        with self._pool.connection() as connection, connection.cursor() as cursor:
            yield cursor

    # The inbox is a table here, each event's row deleted by the transaction that applies it.
    def receive(self, events: list[AnnotationSeen | AnnotationsDeleted], now: float | None = None) -> None:
        with self._statement() as cur:
            self._run(cur, *_inbox_insert(events, time.time() if now is None else now))

    def _take_received(self, cur, limit: int) -> list[tuple[int, float, str]]:
        # One applier at a time (a transaction-scoped try-lock), so events apply in arrival order;
        # while another worker process holds it, this one takes nothing. The read is a statement
        # of its own, after the lock's: its snapshot then follows the commit of the applier that
        # released the lock, whose rows must not be applied again. (Pipelined: one round trip.)
        with cur.connection.cursor() as lock:
            self._run(lock, "SELECT pg_try_advisory_xact_lock($1, 0)", (_LOCK_NAMESPACE + 2,))
            self._run(cur, "SELECT id, received_at, event FROM inbox ORDER BY id LIMIT $1", (limit,))
            held = lock.fetchone()[0]
        rows = cur.fetchall()
        return rows if held else []

    def _mark_applied(self, cur, rows: list[tuple[int, float, str]]) -> None:
        self._run(cur, "DELETE FROM inbox WHERE id = ANY(CAST($1 AS bigint[]))", ([row[0] for row in rows],))

    def _received_count(self) -> tuple[int, float | None]:
        with self._transaction(write=False) as cur:
            return tuple(self._run(cur, "SELECT count(*), min(received_at) FROM inbox").fetchone())

    def next_received(self) -> int | None:
        with self._transaction(write=False) as cur:
            return self._run(cur, "SELECT min(id) FROM inbox").fetchone()[0]

    def _write_events(
        self, cur, ordered: list, exposures: list, reviewers: list[tuple[int, int]], now: float
    ) -> _Written:
        keys = [(e.project, e.annotation_id) for e in ordered if isinstance(e, AnnotationSeen)]
        if not keys or len(keys) < len(ordered) or len(set(keys)) < len(keys):
            # A deletion applies between the events around it, and a second version of an
            # annotation must find the first: such batches (rare) go one event at a time.
            return super()._write_events(cur, ordered, exposures, reviewers, now)
        # The whole batch in one statement (_BATCH_SQL), queued with the locks and the standing
        # read: one round trip answers all three.
        self._lock_reviewers(cur, reviewers)
        connection = cur.connection
        with connection.cursor() as standing_cursor, connection.cursor() as rows_cursor:
            self._run(standing_cursor, *_standing_query(reviewers))
            self._run(rows_cursor, _BATCH_SQL, _batch_params(ordered, exposures, now))
            syncing, standing = _standing(standing_cursor.fetchall())
            rows = [(new, counted) for _, new, counted in rows_cursor.fetchall()]
        return _Written(syncing, standing, rows)

    def _insert_event(
        self, cur, seen: AnnotationSeen, now: float, reviewed: float, severe: bool
    ) -> tuple[bool, bool]:
        # The batch statement for one event: the base class's three inserts in one round trip.
        row = self._run(cur, _BATCH_SQL, _batch_params([seen], [_Exposure(reviewed, severe)], now)).fetchone()
        return row[1], row[2]

    def _lock_reviewers(self, cursor, reviewers: list[tuple[int, int]]) -> None:
        # Two-key advisory locks share one space; fold project and reviewer into key 2 and keep
        # key 1 for this purpose so no other use of advisory locks can collide. One statement
        # takes them all, in the order given: PostgreSQL calls a volatile function in a select
        # list after ORDER BY has sorted the rows.
        if not reviewers:
            return
        keys = [(project * 1_000_003 + reviewer) % 2**31 for project, reviewer in reviewers]
        self._run(
            cursor,
            "SELECT pg_advisory_xact_lock($1, key) FROM unnest(CAST($2 AS integer[])) WITH ORDINALITY AS k (key, n)"
            " ORDER BY n",
            (_LOCK_NAMESPACE + 1, keys),
        )

    def close(self) -> None:
        self._pool.close()


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


def _batch_params(ordered: list[AnnotationSeen], exposures: list[_Exposure], now: float) -> tuple:
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


# The oldest SQLite whose SQL the store speaks: INSERT ... RETURNING came in 3.35.
MIN_SQLITE = (3, 35, 0)


def open_store(database_url: str, create: bool = True, wait_seconds: float = STORE_WAIT_SECONDS) -> Store:
    """Open the store named by DATABASE_URL (sqlite:///path or postgresql://...); create=False for readers.

    wait_seconds : how long a PostgreSQL caller waits for a connection before failing (store down).
    """
    scheme = database_url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        path = database_url[len("sqlite:///"):] if database_url.startswith("sqlite:///") else ""
        if not path:
            raise WorkerError("DATABASE_URL: a SQLite URL looks like sqlite:///relative/path or sqlite:////absolute/path")
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise WorkerError(
                f"SQLite {sqlite3.sqlite_version} is too old for the worker store: it needs"
                f" {'.'.join(map(str, MIN_SQLITE))} or newer (RETURNING); use a Python built with a newer"
                " SQLite, or PostgreSQL (DATABASE_URL=postgresql://...)"
            )
        if not create and not os.path.exists(path):
            raise WorkerError(f"no worker store at {path}: start `review-project worker` first, or set DATABASE_URL")
        return SQLiteStore(path)
    if scheme in ("postgresql", "postgres"):
        return PostgresStore(database_url, wait_seconds=wait_seconds)
    raise WorkerError(f"DATABASE_URL: unsupported scheme {scheme!r}; use sqlite:///FILE or postgresql://...")
