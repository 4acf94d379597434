"""Exposure-aware pacing: the pure rules (workers/pacing.py), their settings, and the store turning
each trigger into exactly one nudge on SQLite and the real PostgreSQL, delivered as one DM
through the Slack stand-in (and not at all to a reviewer who paused)."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest

from review_project.schema import Rating
from review_project.shared import ANNOTATION_CREATED, ANNOTATION_UPDATED, WorkerError
from tests.workers.test_ledger import rated, webhook
from tests.workers.test_slack_delivery import sender_for
from workers import pacing, wellbeing
from workers.pacing import BREAK, DAILY_CAP, SEVERE, PacingRules, PacingState, advance, is_severe, sessions
from workers.settings import pacing_from_env
from workers.store import LATEST, open_store

MINUTE = 60.0
RULES = PacingRules(break_after_seconds=60 * MINUTE, severe_streak=3, daily_task_cap=4)


def run(times_and_severity, rules=RULES, lead_time=None):
    """Advance a fresh state through (seconds, severe) pairs; the nudges each task triggered."""
    state, out = PacingState(), []
    for moment, severe in times_and_severity:
        state, nudges = advance(state, rules, moment, severe, lead_time)
        out.append(nudges)
    return out


# -- the rules ---------------------------------------------------------------------------------------
def test_a_break_after_an_hour_of_continuous_reviewing_and_again_an_hour_later():
    rules = PacingRules(break_after_seconds=60 * MINUTE, severe_streak=None)
    every_ten_minutes = [(n * 10 * MINUTE, False) for n in range(14)]
    nudges = run(every_ten_minutes, rules)
    assert [n for n, got in enumerate(nudges) if BREAK in got] == [6, 12]


def test_a_gap_of_more_than_15_minutes_ends_the_session():
    rules = PacingRules(break_after_seconds=60 * MINUTE, severe_streak=None)
    # 50 minutes, a 16-minute gap, then 50 more: never 60 minutes in one stretch.
    times = [(n * 10 * MINUTE, False) for n in range(6)] + [(66 * MINUTE + n * 10 * MINUTE, False) for n in range(6)]
    assert not any(run(times, rules))
    # A gap of exactly 15 minutes does not end it.
    times = [(n * 15 * MINUTE, False) for n in range(5)]
    assert [BREAK in n for n in run(times, rules)] == [False, False, False, False, True]


def test_the_session_starts_when_its_first_task_was_opened():
    rules = PacingRules(break_after_seconds=10 * MINUTE, severe_streak=None)
    # The first task took 6 minutes to review: 10 minutes are up 4 minutes after its submit.
    assert run([(0, False), (4 * MINUTE, False)], rules, lead_time=6 * MINUTE) == [(), (BREAK,)]


def test_a_severe_streak_of_3_and_again_at_6_and_a_skip_or_mild_task_breaks_it():
    severities = [True, True, True, True, True, True, False, True, True, True]
    nudges = run([(n, s) for n, s in enumerate(severities)])
    assert [n for n, got in enumerate(nudges) if SEVERE in got] == [2, 5, 9]


def test_the_daily_cap_is_reached_once_per_day():
    day = 24 * 60 * MINUTE
    noon = datetime(2026, 11, 28, 12, tzinfo=timezone.utc).timestamp()
    times = [(noon + n, False) for n in range(6)] + [(noon + day + n, False) for n in range(5)]
    nudges = run(times, PacingRules(break_after_seconds=None, severe_streak=None, daily_task_cap=4))
    assert [n for n, got in enumerate(nudges) if DAILY_CAP in got] == [3, 9]


def test_each_trigger_can_be_turned_off():
    times = [(n * 10 * MINUTE, True) for n in range(20)]
    assert not any(run(times, pacing.NO_NUDGES))


def test_tasks_out_of_order_never_move_the_session_back():
    state, _ = advance(PacingState(), RULES, 1000.0, False)
    state, _ = advance(state, RULES, 900.0, False)
    assert state.last_seen_at == 1000.0 and state.session_started_at == 1000.0


def test_what_is_severe():
    assert is_severe(Rating(3, (), False))
    assert is_severe(Rating(1, ("Self-harm",), False))
    assert not is_severe(Rating(2, ("Theft",), False))
    assert not is_severe(Rating(None, (), True))  # a skip
    assert not is_severe(None)
    assert is_severe(Rating(1, ("Theft",), False), {"Theft"})


def test_sessions_and_review_times():
    found = sessions([0, 60, 2000, 120])
    assert [(s.started_at, s.ended_at, s.tasks) for s in found] == [(0, 120, 3), (2000, 2000, 1)]
    assert pacing.reviewed_at("2026-11-28T03:11:25.5Z", 0.0) == datetime(2026, 11, 28, 3, 11, 25, 500000, timezone.utc).timestamp()
    assert pacing.reviewed_at("not a time", 7.0) == 7.0 and pacing.reviewed_at(None, 7.0) == 7.0


def test_settings_turn_triggers_on_and_off_and_refuse_unknown_topics():
    rules = pacing_from_env({})
    assert (rules.break_after_seconds, rules.severe_streak, rules.daily_task_cap) == (3600, 5, None)
    assert rules.severe_topics == pacing.DEFAULT_SEVERE_TOPICS
    rules = pacing_from_env({"BREAK_AFTER_MINUTES": "off", "SEVERE_STREAK": "0", "DAILY_TASK_CAP": "40",
                             "SEVERE_TOPICS": "Self-harm, Theft"})
    assert (rules.break_after_seconds, rules.severe_streak, rules.daily_task_cap) == (None, None, 40)
    assert rules.severe_topics == {"Self-harm", "Theft"}
    with pytest.raises(WorkerError, match="SEVERE_TOPICS: 'Gossip'"):
        pacing_from_env({"SEVERE_TOPICS": "Gossip"})
    with pytest.raises(WorkerError, match="DAILY_TASK_CAP='many'"):
        pacing_from_env({"DAILY_TASK_CAP": "many"})


# -- the store: one nudge per trigger ------------------------------------------------------------------
def at(seconds: float) -> str:
    """An ISO created_at `seconds` after a fixed noon UTC."""
    base = datetime(2026, 11, 28, 12, tzinfo=timezone.utc).timestamp()
    return datetime.fromtimestamp(base + seconds, timezone.utc).isoformat().replace("+00:00", "Z")


def submitted(task: int, seconds: float, success: str = "1", reviewer: int = 7, **fields):
    return webhook(ANNOTATION_CREATED, rated(1, task, reviewer, success, created_at=at(seconds), **fields))


def nudges(store) -> list[tuple[int, str, int]]:
    return sorted((c.reviewer, c.kind, c.milestone) for c in store.checkins.all() if c.kind != pacing.MILESTONE)


def test_each_trigger_makes_one_nudge_and_replays_make_none(store):
    events = [submitted(n, n * 10 * MINUTE, "3" if n < 3 else "1") for n in range(7)]
    recorded = store.events.record_events(events, 100, rules=RULES)
    assert [r.nudges for r in recorded] == [(), (), (SEVERE,), (DAILY_CAP,), (), (), (BREAK,)]
    assert nudges(store) == [(7, BREAK, 7), (7, DAILY_CAP, 4), (7, SEVERE, 3)]
    # The same deliveries again, and updates of them: nothing new.
    store.events.record_events(events, 100, rules=RULES)
    store.events.record_events([webhook(ANNOTATION_UPDATED, rated(1, 0, 7, "3", created_at=at(0), updated_at="later"))], 100,
                        rules=RULES)
    assert len(nudges(store)) == 3
    assert all(c.status == "pending" for c in store.checkins.all())


def test_catch_up_advances_pacing_but_sends_no_stale_nudge(store):
    recorded = store.events.record_events([submitted(n, n, "4") for n in range(3)], 100, scheduling=LATEST, rules=RULES)
    assert [r.nudges for r in recorded] == [(), (), ()] and nudges(store) == []
    # The state went on counting: the 4th task today reaches the cap, the 6th severe ends a streak.
    live = store.events.record_events([submitted(n, n, "4") for n in (3, 4, 5)], 100, rules=RULES)
    assert [r.nudges for r in live] == [(DAILY_CAP,), (), (SEVERE,)]
    assert nudges(store) == [(7, DAILY_CAP, 4), (7, SEVERE, 6)]


def test_concurrent_writers_make_each_nudge_once(database_url):
    """Two processes' worth of stores and threads, each recording the same 12 webhooks."""
    stores = [open_store(database_url) for _ in range(2)]
    events = [submitted(n, n * 10 * MINUTE, "3") for n in range(12)]

    def record(s):
        for event in events:
            s.events.record_events([event], 100, rules=RULES)

    threads = [threading.Thread(target=record, args=(s,)) for s in stores for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert nudges(stores[0]) == [(7, BREAK, 7), (7, DAILY_CAP, 4), (7, SEVERE, 3), (7, SEVERE, 6), (7, SEVERE, 9),
                                 (7, SEVERE, 12)]
    for s in stores:
        s.close()


# -- delivery: one DM per nudge; the Pause button pauses nudges too ---------------------------------------
def test_nudges_are_delivered_once_each_with_their_own_message(store, slack, delivery_clients, fake_label_studio):
    slack.users["ada@example.com"] = "UADA"
    store.events.record_events([submitted(n, n * 10 * MINUTE, "3" if n < 3 else "1") for n in range(7)], 100, rules=RULES)
    sender = sender_for(store, delivery_clients, fake_label_studio)
    sender.rules = RULES
    assert sender.send_all_due() == 3
    assert sender.send_all_due() == 0
    texts = [call.params["text"] for call in slack.dms()]
    assert len(texts) == 3
    assert any("last 3 transcripts" in t and "lighter work" in t for t in texts)
    assert any("reviewed 4 transcripts today" in t for t in texts)
    assert any("reviewing for about 60 minutes" in t for t in texts)
    assert {c.status for c in store.checkins.all()} == {"sent"}
    # Each carries its id in the message metadata, as check-ins do (exactly-once after a crash).
    assert sorted(slack.checkin_messages()["DUADA"]) == sorted(c.id for c in store.checkins.all())


def test_a_paused_reviewer_gets_no_nudge(store, slack, delivery_clients, fake_label_studio):
    slack.users["ada@example.com"] = "UADA"
    store.directory.set_paused("UADA", True)
    store.events.record_events([submitted(n, n, "4") for n in range(3)], 100, rules=RULES)
    sender_for(store, delivery_clients, fake_label_studio).send_all_due()
    assert slack.dms() == []
    assert [(c.kind, c.status) for c in store.checkins.all()] == [(SEVERE, "paused")]


# -- what the lead sees ------------------------------------------------------------------------------------
def test_wellbeing_shows_each_reviewers_exposure(store):
    # Ada: 3 severe tasks 10 minutes apart, then a second session the next day. Bo: one mild task.
    events = [submitted(n, n * 10 * MINUTE, "4") for n in range(3)]
    events += [submitted(10 + n, 24 * 60 * MINUTE + n * MINUTE, "1") for n in range(2)]
    events += [submitted(20, 0, "1", reviewer=8, annotation_id=9020)]
    store.events.record_events(events, 100, rules=PacingRules(break_after_seconds=None, severe_streak=3, daily_task_cap=3))
    summary = wellbeing.summarize(store.checkins.all(), store.checkins.answers(), {}, exposures=store.events.exposure_log())
    ada, bo = summary["exposure"]
    assert ada["reviewer"] == "Label Studio user 7" and bo["reviewer"] == "Label Studio user 8"
    day1 = pacing.local_day(datetime(2026, 11, 28, 12, tzinfo=timezone.utc).timestamp())
    assert ada["tasks"] == 5 and ada["tasks_per_day"][day1] == 3 and sum(ada["tasks_per_day"].values()) == 5
    assert (ada["longest_session_minutes"], ada["longest_session_tasks"]) == (20.0, 3)
    assert ada["severe_seen"] == 3 and bo["severe_seen"] == 0
    assert ada["nudges_sent"] == {BREAK: 0, SEVERE: 0, DAILY_CAP: 0}  # due, not sent yet
    assert ada["daily_cap_reached_on"] == [day1]
    # Nudges are not check-ins: the response rate and the milestone trend leave them out.
    assert summary["checkins"] == 1 and summary["trend"] == []
    text = wellbeing.summary_text(summary)
    assert "Reached the daily task cap: Label Studio user 7" in text
