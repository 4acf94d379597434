"""The inbox on SQLite and the real PostgreSQL: what a webhook commits before its answer, applied
afterwards exactly as recording it at once would, once each (across a failed transaction and
two appliers), in arrival order, with an event that fails on its own set aside."""

from __future__ import annotations

import json
import logging
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from review_project.shared import ANNOTATION_CREATED, ANNOTATION_UPDATED
from tests.fixtures import real_webhook_bodies
from tests.workers.conftest import apply_received, every_row, exposure_count
from tests.workers.test_ledger import rated, webhook
from workers import inbox
from workers.applier import InboxApplier
from workers.pacing import PacingRules
from workers.store import open_store
from workers.webhook import AnnotationsDeleted, parse_webhook

RULES = PacingRules(break_after_seconds=600, severe_streak=2, daily_task_cap=5)


def some_events() -> list:
    """Three reviewers' submits, a replay, an update, a skip, an invalid rating, a deletion."""
    times = iter(f"2026-11-28T10:{minute:02d}:00.000000Z" for minute in range(60))
    events = [webhook(ANNOTATION_CREATED, rated(1, task, reviewer, str(task % 5), created_at=next(times),
                                                annotation_id=100 * reviewer + task))
              for task in range(1, 8) for reviewer in (7, 8, 9)]
    events += [
        events[0],
        webhook(ANNOTATION_UPDATED, rated(1, 2, 8, "0", annotation_id=802, created_at=next(times),
                                          updated_at="2026-11-28T11:00:00Z")),
        webhook(ANNOTATION_CREATED, rated(1, 9, 7, skipped=True, created_at=next(times))),
        webhook(ANNOTATION_CREATED, rated(1, 10, 8, "9", created_at=next(times))),
        AnnotationsDeleted(1, (903,)),
    ]
    return events


def test_an_event_round_trips_through_the_inbox_without_the_transcript():
    for delivery in real_webhook_bodies():
        event = parse_webhook(json.dumps(delivery["body"]).encode())
        text = inbox.encode(event)
        assert inbox.decode(text) == event
        for turn in delivery["body"].get("task", {}).get("data", {}).get("dialogue", []):
            assert turn["content"] not in text


@settings(max_examples=60, deadline=None)
@given(
    success=st.sampled_from(["0", "1", "2", "3", "4", "9"]),
    topics=st.lists(st.sampled_from(["Theft", "Weapons", "Self-harm", "Unknown tag", "Ünïcode"]), max_size=3),
    skipped=st.booleans(),
    lead_time=st.one_of(st.none(), st.floats(0, 1e6)),
    # (The helper's attack_id is the task's id + 100, itself at most 2**63 - 1.)
    ids=st.tuples(st.integers(0, 2**63 - 1), st.integers(0, 2**63 - 101), st.integers(0, 2**63 - 1),
                  st.integers(0, 2**63 - 1)),
)
def test_any_valid_event_round_trips(success, topics, skipped, lead_time, ids):
    project, task, reviewer, annotation_id = ids
    body = rated(project, task, reviewer, success, tuple(topics), skipped=skipped, annotation_id=annotation_id)
    body["lead_time"] = lead_time
    event = webhook(ANNOTATION_CREATED, body, project=project)
    assert inbox.decode(inbox.encode(event)) == event
    deleted = AnnotationsDeleted(project, (annotation_id, task))
    assert inbox.decode(inbox.encode(deleted)) == deleted


def test_events_received_then_applied_write_what_recording_them_at_once_writes(store, tmp_path):
    events = some_events()
    at_once = open_store(f"sqlite:///{tmp_path / 'at-once.sqlite3'}")
    try:
        at_once.events.record_events(events, 3, now=1_795_867_200.0, rules=RULES)
        for n in range(0, len(events), 4):  # as webhooks arrive: a few per commit
            store.inbox.receive(events[n:n + 4])
        assert store.inbox.waiting().waiting == len(events)
        assert every_row(store)["events"] == []  # received is not applied
        assert apply_received(store, 3, rules=RULES) == len(events)
        assert every_row(store) == every_row(at_once)
        assert len(every_row(store)["checkins"]) > 5  # milestones and nudges were made
        assert store.inbox.waiting().waiting == 0
    finally:
        at_once.close()


def test_a_failed_apply_leaves_everything_received_and_nothing_applied(store, monkeypatch):
    store.inbox.receive(some_events()[:9])
    real = store.events._write_outcome

    def fail_at_the_end(*args):
        real(*args)  # the batch's rows are written, then the transaction fails before its commit
        raise RuntimeError("the disk filled up")

    monkeypatch.setattr(store.events, "_write_outcome", fail_at_the_end)
    with pytest.raises(RuntimeError):
        store.inbox.apply_received(3, limit=50)
    assert store.inbox.waiting().waiting == 9
    assert every_row(store)["events"] == [] and every_row(store)["checkins"] == []
    monkeypatch.setattr(store.events, "_write_outcome", real)
    assert apply_received(store, 3) == 9
    assert apply_received(store, 3) == 0  # applied once
    assert exposure_count(store, 1, 7) == 3 and len(store.checkins.all()) == 3


def test_an_event_that_fails_on_its_own_is_set_aside_and_the_others_go_on(store, monkeypatch, caplog):
    events = [webhook(ANNOTATION_CREATED, rated(1, task, 7)) for task in range(1, 11)]
    store.inbox.receive(events)
    real = store.events._write_events

    def refuse_task_4(cur, ordered, *args):
        if any(getattr(event, "task", None) == 4 for event in ordered):
            raise ValueError("a value the store cannot take")
        return real(cur, ordered, *args)

    monkeypatch.setattr(store.events, "_write_events", refuse_task_4)
    due = []
    applier = InboxApplier(store, 3, on_due=lambda: due.append(1))
    with caplog.at_level(logging.INFO):
        assert applier.drain() == 9
    assert exposure_count(store, 1, 7) == 9
    assert [c.milestone for c in store.checkins.all()] == [3, 6, 9] and due
    state = store.inbox.waiting()
    assert (state.waiting, state.set_aside) == (0, 1)
    assert "received event 4 set aside: it fails to apply on its own (ValueError); the others go on" in caplog.text
    assert "Traceback" not in caplog.text


def test_nothing_is_set_aside_while_the_store_itself_is_down(sqlite_store, monkeypatch):
    sqlite_store.inbox.receive([webhook(ANNOTATION_CREATED, rated(1, task, 7)) for task in range(1, 4)])

    def down(*args, **kwargs):
        raise OSError("the store is unreachable")

    monkeypatch.setattr(sqlite_store.events, "record_on", down)
    monkeypatch.setattr(sqlite_store, "ping", down)
    with pytest.raises(OSError):
        InboxApplier(sqlite_store, 3).apply_once()
    monkeypatch.undo()
    assert (sqlite_store.inbox.waiting().waiting, sqlite_store.inbox.waiting().set_aside) == (3, 0)
    assert apply_received(sqlite_store, 3) == 3


@pytest.mark.postgres
def test_two_appliers_on_postgresql_apply_each_event_once_in_arrival_order(postgres_schema):
    # Two worker processes' appliers on one PostgreSQL: while one holds the inbox, the other takes
    # nothing, so a reviewer's tasks are counted in the order they arrived; and the one that takes
    # over never takes again what the other has just applied. Small batches hand the inbox over
    # often: three projects, one after the other.
    stores = [open_store(postgres_schema) for _ in range(2)]
    rules = PacingRules(break_after_seconds=None, severe_streak=3, daily_task_cap=None)
    try:
        for project in (1, 2, 3):
            # Three severe tasks, then a mild one, again and again: a streak of 3 ends at every 4th task.
            events = [webhook(ANNOTATION_CREATED, rated(project, task, 7, "1" if task % 4 == 0 else "3",
                                                        annotation_id=1000 * project + task), project=project)
                      for task in range(1, 121)]
            for n in range(0, 120, 3):
                stores[0].inbox.receive(events[n:n + 3])
            gate = threading.Barrier(2)
            applied = [0, 0]

            def apply(n):
                gate.wait()
                applier = InboxApplier(stores[n], 10, rules=rules, batch=2)
                while (count := applier.apply_once()) or stores[n].inbox.anything_received():
                    applied[n] += count

            threads = [threading.Thread(target=apply, args=(n,)) for n in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
            assert sum(applied) == 120, f"project {project}: {applied}"
            assert exposure_count(stores[0], project, 7) == 120
            checkins = [c for c in stores[0].checkins.all() if c.project == project]
            assert sorted(c.milestone for c in checkins if c.kind == "milestone") == list(range(10, 121, 10))
            # In arrival order, each streak's third task makes a nudge: tasks 3, 7, 11, ...
            assert sorted(c.milestone for c in checkins if c.kind == "severe") == list(range(3, 121, 4))
    finally:
        for store in stores:
            store.close()


def inbox_rows(store) -> int:
    """Rows in a SQLite store's inbox file, applied or not."""
    return store.backend.connection(store.inbox.queue.path).execute("SELECT count(*) FROM inbox").fetchone()[0]


def test_sqlite_keeps_the_inbox_in_a_file_of_its_own_and_prunes_what_was_applied(sqlite_store, monkeypatch):
    import workers.store.inbox

    events = [webhook(ANNOTATION_CREATED, rated(1, task, 7)) for task in range(1, 11)]
    sqlite_store.inbox.receive(events[:5])
    assert inbox_rows(sqlite_store) == 5 and every_row(sqlite_store)["events"] == []
    apply_received(sqlite_store)
    # Applied rows stay until the web process, the inbox file's only writer, next prunes it.
    monkeypatch.setattr(workers.store.inbox, "INBOX_PRUNE_SECONDS", 0.0)
    sqlite_store.inbox.receive(events[5:])
    assert inbox_rows(sqlite_store) == 5 and sqlite_store.inbox.waiting().waiting == 5
    assert apply_received(sqlite_store) == 5 and exposure_count(sqlite_store, 1, 7) == 10


def test_a_new_sqlite_inbox_file_is_applied_from_its_first_row(tmp_path):
    url = f"sqlite:///{tmp_path / 'worker.sqlite3'}"
    store = open_store(url)
    store.inbox.receive([webhook(ANNOTATION_CREATED, rated(1, task, 7)) for task in range(1, 6)])
    assert apply_received(store) == 5
    store.close()
    for suffix in ("", "-wal", "-shm"):  # an operator deletes the inbox file: its ids start again at 1
        (tmp_path / f"worker.sqlite3-inbox{suffix}").unlink(missing_ok=True)
    store = open_store(url)
    try:
        store.inbox.receive([webhook(ANNOTATION_CREATED, rated(1, task, 7)) for task in range(6, 9)])
        assert store.inbox.waiting().waiting == 3
        assert apply_received(store) == 3 and exposure_count(store, 1, 7) == 8
    finally:
        store.close()


def test_a_new_sqlite_store_leaves_an_old_inbox_file_to_its_first_sync(tmp_path):
    # The lead deletes the store to rebuild the ledger; the inbox file beside it stays. What it
    # holds was applied to the old store: applied again as live webhooks, it would make check-ins now.
    path = tmp_path / "worker.sqlite3"
    store = open_store(f"sqlite:///{path}")
    store.inbox.receive([webhook(ANNOTATION_CREATED, rated(1, task, 7)) for task in range(1, 11)])
    assert apply_received(store) == 10
    store.close()
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / f"worker.sqlite3{suffix}").unlink(missing_ok=True)
    store = open_store(f"sqlite:///{path}")
    try:
        assert store.inbox.waiting().waiting == 0 and apply_received(store) == 0 and store.checkins.all() == []
        store.inbox.receive([webhook(ANNOTATION_CREATED, rated(1, 11, 7))])  # what comes now is applied
        assert apply_received(store) == 1 and exposure_count(store, 1, 7) == 1
    finally:
        store.close()
