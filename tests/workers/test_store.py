"""The store on SQLite and on the real PostgreSQL: counting, exactly-once check-ins under duplicate
and concurrent events (threads, and processes on PostgreSQL), claims, answers, file mode, one-line
errors on open, and the $1 placeholders both drivers share."""

import multiprocessing
import os
import stat
import sys
import threading

import pytest

from review_project.shared import ANNOTATION_CREATED, ANNOTATION_UPDATED, WorkerError
from tests.workers.conftest import exposure_count, record_deletion, seen_annotation_ids
from workers.store import CHECKIN_KINDS, Reviewer, open_store
from workers.survey import ITEMS, SurveyAnswer
from workers.webhook import CAUGHT_UP, AnnotationsDeleted, AnnotationSeen


def seen(task, reviewer=7, annotation_id=None, action=ANNOTATION_CREATED, updated_at="t1", project=1, skipped=False):
    return AnnotationSeen(
        project=project, annotation_id=annotation_id if annotation_id is not None else 1000 + task, task=task,
        reviewer=reviewer, skipped=skipped, updated_at=updated_at, action=action,
    )


def test_a_checkin_at_each_multiple_of_ten(store):
    due = [m for task in range(25) for m in store.events.record_annotation(seen(task), 10).milestones]
    assert due == [10, 20]
    assert [(c.reviewer, c.milestone, c.status) for c in store.checkins.all()] == [(7, 10, "pending"), (7, 20, "pending")]
    assert exposure_count(store, 1, 7) == 25


def test_replays_updates_resubmissions_and_deletions_count_nothing(store):
    for task in range(9):
        store.events.record_annotation(seen(task), 10)
    assert store.events.record_annotation(seen(0), 10).new_event is False  # the same delivery again
    update = store.events.record_annotation(seen(0, action=ANNOTATION_UPDATED, updated_at="t2"), 10)
    assert (update.new_event, update.counted) == (True, False)
    # A second annotation by the same reviewer on the same task (re-submission) counts nothing.
    assert store.events.record_annotation(seen(1, annotation_id=5555), 10).counted is False
    assert record_deletion(store, AnnotationsDeleted(project=1, annotation_ids=(1000, 1001))) == 2
    assert record_deletion(store, AnnotationsDeleted(project=1, annotation_ids=(1000,))) == 0
    assert exposure_count(store, 1, 7) == 9  # deletion did not un-count
    # Re-annotating a deleted task neither counts again nor re-triggers.
    assert store.events.record_annotation(seen(0, annotation_id=7777, updated_at="t3"), 10).counted is False
    assert store.checkins.all() == []
    assert store.events.record_annotation(seen(9, skipped=True), 10).milestones == (10,)  # a skip counts


def test_reviewers_and_projects_count_separately(store):
    for task in range(10):
        store.events.record_annotation(seen(task, reviewer=7), 10)
        store.events.record_annotation(seen(task, reviewer=8, annotation_id=2000 + task), 10)
        store.events.record_annotation(seen(task, reviewer=7, project=2, annotation_id=3000 + task), 10)
    assert sorted((c.project, c.reviewer, c.milestone) for c in store.checkins.all()) == [(1, 7, 10), (1, 8, 10), (2, 7, 10)]
    assert store.events.known_projects() == [1, 2]
    assert seen_annotation_ids(store, 2) == {3000 + t for t in range(10)}


def test_concurrent_duplicate_webhooks_make_exactly_one_checkin_per_milestone(store):
    """8 threads deliver the same 50 submissions (each several times, in different orders)."""
    events = [seen(task, reviewer=r, annotation_id=r * 1000 + task) for task in range(50) for r in (7, 8)]
    errors = []

    def deliver(offset):
        try:
            for i in range(len(events)):
                store.events.record_annotation(events[(i * 7 + offset) % len(events)], 10)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted((c.reviewer, c.milestone) for c in store.checkins.all()) == [(r, m) for r in (7, 8) for m in (10, 20, 30, 40, 50)]
    assert exposure_count(store, 1, 7) == exposure_count(store, 1, 8) == 50


def _deliver_in_process(url, offset, barrier):
    opened = open_store(url)
    barrier.wait()
    for i in range(60):
        task = (i * 11 + offset) % 60
        opened.events.record_annotation(seen(task, annotation_id=1000 + task, action=CAUGHT_UP if offset % 2 else ANNOTATION_CREATED), 10)
    opened.close()


@pytest.mark.postgres
def test_several_worker_processes_on_one_postgres(postgres_schema):
    """Four processes record the same 60 submissions at once: 6 check-ins, no more, no fewer."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(4)
    processes = [context.Process(target=_deliver_in_process, args=(postgres_schema, n, barrier)) for n in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    assert [p.exitcode for p in processes] == [0, 0, 0, 0]
    opened = open_store(postgres_schema)
    try:
        assert [c.milestone for c in opened.checkins.all()] == [10, 20, 30, 40, 50, 60]
        assert exposure_count(opened, 1, 7) == 60
    finally:
        opened.close()


def test_claims_are_exclusive_and_finish_once(store):
    for task in range(30):
        store.events.record_annotation(seen(task), 10)
    claimed = []
    lock = threading.Lock()

    def claim(name):
        while (checkin := store.outbox.claim(name, CHECKIN_KINDS)) is not None:
            with lock:
                claimed.append(checkin.id)

    threads = [threading.Thread(target=claim, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == sorted(c.id for c in store.checkins.all()) and len(claimed) == 3
    first = store.checkins.get(claimed[0])
    owner = "w-owner"
    # Only the claimer may finish a claim, and only once.
    assert store.outbox.mark_sent(first.id, owner, "U1", "D1", "1.1") is False
    assert {c.status for c in store.checkins.all()} == {"sending"}


def test_retry_failed_pause_and_stale_claims(store):
    for task in range(30):
        store.events.record_annotation(seen(task), 10, now=100.0)
    a = store.outbox.claim("w", CHECKIN_KINDS, now=200.0)
    assert store.outbox.mark_retry(a.id, "w", "chat.postMessage: HTTP 500", retry_at=500.0)
    assert store.outbox.claim("w", CHECKIN_KINDS, now=300.0).id != a.id  # a is not due before 500
    b = store.checkins.get(a.id)
    assert (b.status, b.attempts, b.last_error) == ("pending", 1, "chat.postMessage: HTTP 500")
    c = store.outbox.claim("w", CHECKIN_KINDS, now=600.0)
    assert store.outbox.mark_failed(c.id, "w", "users.lookupByEmail: users_not_found")
    assert store.checkins.retry_failed() == 1
    # A claim left by a worker that died mid-send comes back after the timeout.
    stale = [x for x in store.checkins.all() if x.status == "sending"]
    assert len(stale) == 1
    assert store.outbox.release_stale_claims(older_than=250.0) == 0
    assert store.outbox.release_stale_claims(older_than=10**12) == 1
    d = store.outbox.claim("w", CHECKIN_KINDS)
    assert store.outbox.mark_paused(d.id, "w", "UADA")
    assert store.checkins.get(d.id).status == "paused"


def test_answers_first_wins_and_lead_alert_once(store):
    for task in range(10):
        store.events.record_annotation(seen(task), 10)
    checkin = store.checkins.all()[0]
    answer = SurveyAnswer(scores={item: (3 if item == "Upset" else None) for item in ITEMS}, comment="hard day")
    assert store.checkins.record_answer(checkin.id, answer) is True
    assert store.checkins.record_answer(checkin.id, SurveyAnswer(scores={}, comment=None)) is False
    assert store.checkins.is_answered(checkin.id)
    [stored] = store.checkins.answers()
    assert (stored.milestone, stored.answer.scores["Upset"], stored.answer.scores["Alert"], stored.answer.comment) == (10, 3, None, "hard day")
    assert store.checkins.mark_lead_alerted(checkin.id) is True
    assert store.checkins.mark_lead_alerted(checkin.id) is False


def test_reviewer_slack_and_pause_caches(store):
    assert store.directory.cached_reviewer(7) is None
    store.directory.cache_reviewer(Reviewer(7, "Ada@Example.com", "Ada"))
    store.directory.cache_reviewer(Reviewer(7, "ada@example.com", "Ada L."))
    assert store.directory.cached_reviewer(7) == Reviewer(7, "ada@example.com", "Ada L.")
    store.directory.cache_slack_user("ADA@example.com", "UADA")
    assert store.directory.cached_slack_user("ada@EXAMPLE.com") == "UADA"
    store.directory.set_paused("UADA", True)
    store.directory.set_paused("UADA", True)
    assert store.directory.is_paused("UADA")
    store.directory.set_paused("UADA", False)
    assert not store.directory.is_paused("UADA")


def test_sqlite_files_are_readable_by_their_owner_only(tmp_path):
    path = tmp_path / "store.sqlite3"
    opened = open_store(f"sqlite:///{path}")
    opened.events.record_annotation(seen(1), 10)
    opened.inbox.receive([seen(2)])
    try:
        files = sorted(p.name for p in tmp_path.iterdir())
        assert files == ["store.sqlite3", "store.sqlite3-inbox", "store.sqlite3-inbox-shm", "store.sqlite3-inbox-wal",
                         "store.sqlite3-shm", "store.sqlite3-wal"]
        for name in files:
            assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o600, name
    finally:
        opened.close()


def test_an_existing_world_readable_file_is_tightened(tmp_path):
    path = tmp_path / "store.sqlite3"
    path.write_bytes(b"")
    path.chmod(0o644)
    inbox = tmp_path / "store.sqlite3-inbox"
    inbox.write_bytes(b"")
    inbox.chmod(0o644)
    open_store(f"sqlite:///{path}").close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(inbox).st_mode) == 0o600


@pytest.mark.parametrize(
    "url, message",
    [
        ("mysql://x", "DATABASE_URL: unsupported scheme 'mysql'"),
        ("sqlite://relative", "DATABASE_URL: a SQLite URL looks like"),
        ("sqlite:////no/such/dir/x.sqlite3", "DATABASE_URL: directory /no/such/dir does not exist"),
        ("postgresql://nobody@127.0.0.1:1/none", "DATABASE_URL: cannot connect to PostgreSQL at 127.0.0.1:1/none"),
    ],
)
def test_unusable_database_urls_are_one_line_errors(url, message):
    with pytest.raises(WorkerError) as error:
        open_store(url)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_postgresql_without_psycopg_is_a_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(WorkerError) as error:
        open_store("postgresql://nobody@127.0.0.1:1/none")
    assert str(error.value) == (
        "a PostgreSQL store needs the worker's extra dependencies: pip install 'red-team-review[worker]'"
    )


def test_readers_do_not_create_a_store(tmp_path):
    with pytest.raises(WorkerError, match="no worker store at"):
        open_store(f"sqlite:///{tmp_path / 'missing.sqlite3'}", create=False)
    assert list(tmp_path.iterdir()) == []


def test_a_repeated_placeholder_is_one_value_in_both_databases(store):
    with store.backend.transaction(write=False) as cur:
        assert store.backend.run(cur, "SELECT $1, $2, $1", (5, "x")).fetchone() == (5, "x", 5)


def test_ids_up_to_64_bits_are_kept_on_both_databases(store):
    # The webhook accepts ids up to 2**63-1; PostgreSQL's first tables held only 32 bits (migration 5).
    big = 2**63 - 1
    batch = [seen(big - 100 - k, reviewer=big - 1, annotation_id=big - 1000 - k, project=big) for k in range(10)]
    recorded = store.events.record_events(batch, 10)
    assert [r.counted for r in recorded] == [True] * 10 and recorded[-1].milestones == (10,)
    # A deletion in the batch sends it down the one-event-at-a-time path: the same ids hold there.
    more = store.events.record_events([seen(big - 200, reviewer=big - 1, annotation_id=big - 2000, project=big),
                                AnnotationsDeleted(big, (big - 1000,))], 10)
    assert (more[0].counted, more[1].new_event) == (True, True)
    assert exposure_count(store, big, big - 1) == 11
    [checkin] = store.checkins.all()
    assert (checkin.project, checkin.reviewer, checkin.milestone) == (big, big - 1, 10)
    store.directory.cache_reviewer(Reviewer(big - 1, "ada@example.com", "Ada"))
    assert store.directory.cached_reviewer(big - 1) == Reviewer(big - 1, "ada@example.com", "Ada")


def test_a_sqlite_older_than_3_35_is_refused_with_one_line(tmp_path, monkeypatch):
    import sqlite3

    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 34, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.34.1")
    with pytest.raises(WorkerError, match=r"^SQLite 3\.34\.1 is too old for the worker store: it needs 3\.35\.0 or newer"):
        open_store(f"sqlite:///{tmp_path / 'worker.sqlite3'}")
    assert not (tmp_path / "worker.sqlite3").exists()
