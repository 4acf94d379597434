"""Exposure-aware pacing: when a reviewer's own work calls for a nudge. Pure: no I/O, no clock.

Three triggers, each a rule on the sequence of tasks one reviewer has seen in one project, in
the order Label Studio timed them (the annotation's created_at):
- BREAK: continuous reviewing for `break_after_seconds`. A gap of more than
  `session_gap_seconds` between two tasks ends a session; the session starts when its first
  task was opened (created_at minus its lead time, at most one gap back). After a break nudge
  the clock starts again, so someone who keeps going is nudged once per stretch, not per task.
- SEVERE: `severe_streak` tasks in a row each rated at or above SEVERE_RATING or tagged with
  one of `severe_topics` (a skip is not severe: it breaks the streak). Again at every further
  `severe_streak` in the same run.
- DAILY_CAP: the reviewer's `daily_task_cap`-th task of a (local) day.

Every task seen advances a PacingState; `advance` says which nudges the task triggers. The store
keeps one state per (project, reviewer) and turns each nudge into a row of `checkins` whose
`milestone` is the reviewer's task count at the trigger, so a trigger has one row, ever.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from review_project.schema import Rating

BREAK = "break"
SEVERE = "severe"
DAILY_CAP = "daily_cap"
MILESTONE = "milestone"
# The kinds of row in the store's checkins table besides MILESTONE (the survey every N tasks).
NUDGES = (BREAK, SEVERE, DAILY_CAP)

SEVERE_RATING = 3
DEFAULT_SEVERE_TOPICS = frozenset(
    {
        "Self-harm",
        "Child abuse",
        "Sexual exploitation & human trafficking",
        "Violence & incitement",
        "Terrorism & organized crime",
    }
)
SESSION_GAP_SECONDS = 15 * 60


@dataclass(frozen=True)
class PacingRules:
    """The lead's settings (docs/worker.md, "Pacing"); None turns a trigger off."""

    break_after_seconds: float | None = 60 * 60
    severe_streak: int | None = 5
    severe_topics: frozenset[str] = DEFAULT_SEVERE_TOPICS
    daily_task_cap: int | None = None
    session_gap_seconds: float = SESSION_GAP_SECONDS


# Counting only, never a nudge: what the store uses when it is given no rules.
NO_NUDGES = PacingRules(break_after_seconds=None, severe_streak=None, daily_task_cap=None)


@dataclass(frozen=True)
class PacingState:
    """Where one reviewer stands: the current session, the severe run and today's count."""

    session_started_at: float | None = None
    last_seen_at: float | None = None
    # Continuous reviewing is measured from here: the session's start or the last break nudge.
    break_clock_from: float | None = None
    severe_run: int = 0
    day: str | None = None
    day_tasks: int = 0


def is_severe(rating: Rating | None, severe_topics: Iterable[str] = DEFAULT_SEVERE_TOPICS) -> bool:
    """A task rated at or above SEVERE_RATING or tagged with a severe topic (skips never are)."""
    if rating is None or rating.skipped:
        return False
    if rating.success is not None and rating.success >= SEVERE_RATING:
        return True
    return bool(set(rating.topics) & set(severe_topics))


def local_day(seen_at: float) -> str:
    """The worker's local calendar day of a moment, as YYYY-MM-DD (the daily cap's day)."""
    return time.strftime("%Y-%m-%d", time.localtime(seen_at))


def reviewed_at(created_at: str | None, fallback: float) -> float:
    """Label Studio's created_at as epoch seconds; `fallback` when it is missing or unreadable."""
    if not created_at:
        return fallback
    try:
        return datetime.fromisoformat(created_at.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return fallback


def advance(
    state: PacingState, rules: PacingRules, seen_at: float, severe: bool, lead_time: float | None = None
) -> tuple[PacingState, tuple[str, ...]]:
    """One more task seen at `seen_at`: the new state and the nudges it triggers, in NUDGES order.

    Tasks may arrive out of order (a catch-up); an earlier time never moves the session back.
    """
    nudges: list[str] = []
    gap = rules.session_gap_seconds
    last = state.last_seen_at
    session_started_at, break_clock_from = state.session_started_at, state.break_clock_from
    if last is None or seen_at - last > gap:
        session_started_at = break_clock_from = seen_at - min(max(lead_time or 0.0, 0.0), gap)
    last_seen_at = seen_at if last is None else max(last, seen_at)

    if rules.break_after_seconds and seen_at - break_clock_from >= rules.break_after_seconds:
        nudges.append(BREAK)
        break_clock_from = seen_at

    run = state.severe_run + 1 if severe else 0
    if rules.severe_streak and severe and run % rules.severe_streak == 0:
        nudges.append(SEVERE)

    day = local_day(seen_at)
    count = (state.day_tasks if state.day == day else 0) + 1
    if rules.daily_task_cap and count == rules.daily_task_cap:
        nudges.append(DAILY_CAP)
    # One new state, not one per field changed: the store advances one for every task it counts.
    return PacingState(session_started_at, last_seen_at, break_clock_from, run, day, count), tuple(nudges)


@dataclass(frozen=True)
class Session:
    """A stretch of continuous reviewing: first and last task times and how many tasks."""

    started_at: float
    ended_at: float
    tasks: int

    @property
    def seconds(self) -> float:
        return self.ended_at - self.started_at


def sessions(times: Iterable[float], gap: float = SESSION_GAP_SECONDS) -> list[Session]:
    """Split one reviewer's task times into sessions (a gap over `gap` seconds ends one).

    >>> [s.tasks for s in sessions([0, 60, 120, 2000, 2060])]
    [3, 2]
    """
    found: list[Session] = []
    for moment in sorted(times):
        if found and moment - found[-1].ended_at <= gap:
            last = found[-1]
            found[-1] = Session(last.started_at, moment, last.tasks + 1)
        else:
            found.append(Session(moment, moment, 1))
    return found
