"""Counting a batch of annotation events: milestones, pacing and nudges, with no SQL.

events.py writes a batch's events and reads each reviewer's standing (exposure count, pacing
state) under the reviewers' locks; count_batch turns them, in order, into what falls due
(check-ins, nudges, promotions of missed milestones, pacing states); events.py writes that.
Keeping the counting pure lets it be tested alone and keeps both databases counting alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from workers import pacing
from workers.milestones import milestones_crossed
from workers.store.records import Recorded
from workers.webhook import CAUGHT_UP, AnnotationsDeleted, AnnotationSeen

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


@dataclass
class Standing:
    """One reviewer's exposure count and pacing state as a batch advances them (record_events)."""

    count: int
    pace: pacing.PacingState
    paced: bool = False


@dataclass(frozen=True)
class Exposure:
    """What an annotation's exposure row keeps besides its ids: when it was reviewed, and whether it was severe."""

    reviewed: float
    severe: bool

    @classmethod
    def of(cls, seen: AnnotationSeen, rules: pacing.PacingRules, now: float) -> Exposure:
        record = seen.record
        return cls(
            pacing.reviewed_at(record.created_at if record else None, now),
            pacing.is_severe(record.rating if record else None, rules.severe_topics),
        )


@dataclass
class Written:
    """A batch's events as written (record_events): which of its projects are in their first sync,
    each reviewer's standing before the batch, and per event (new event, counted)."""

    syncing: set[int]
    standing: dict[tuple[int, int], Standing]
    rows: list[tuple[bool, bool]]


@dataclass
class Outcome:
    """What a batch made due, ready to write (record_events): check-in rows (project, reviewer,
    milestone, kind, status, reason), promotions of missed milestones, reviewers' pacing states,
    the tasks seen with their attack_id, the projects that sent webhooks; and per event, its Recorded."""

    recorded: list[Recorded] = field(default_factory=list)
    checkins: list[tuple] = field(default_factory=list)
    promotions: list[tuple[int, int, int]] = field(default_factory=list)
    paces: dict[tuple[int, int], pacing.PacingState] = field(default_factory=dict)
    tasks: dict[tuple[int, int], int | None] = field(default_factory=dict)
    webhook_projects: list[int] = field(default_factory=list)


def standing_query(reviewers: list[tuple[int, int]]) -> tuple[str, tuple]:
    """One statement reading each (project, reviewer)'s exposure count and pacing state, and
    whether its project's first sync is running (ledger.ProjectState.syncing); see standing."""
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


def standing(rows: list) -> tuple[set[int], dict[tuple[int, int], Standing]]:
    """standing_query's rows as (the projects in their first sync, each reviewer's standing)."""
    syncing = {row[0] for row in rows if row[9]}
    return syncing, {(row[0], row[1]): Standing(row[2], pacing.PacingState(*row[3:9])) for row in rows}


def count_batch(
    ordered: list, exposures: list, written: Written, every: int, scheduling: str, rules: pacing.PacingRules
) -> Outcome:
    """Count a written batch's events in order: milestones, pacing and nudges, no SQL (record_events).
    Advances `written.standing` in place."""
    outcome = Outcome()
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
