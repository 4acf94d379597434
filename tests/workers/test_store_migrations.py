"""The store's schema versions on SQLite and on the real PostgreSQL: a store written before versions
existed (tests/fixtures/worker_store_v1.*.sql) is stamped and keeps every row; migration 1 is that
schema exactly; a later migration applies once, or not at all if it fails; a store newer than the
code refuses to open; processes and threads opening one fresh store at once migrate it once."""

import multiprocessing
import sqlite3
import threading
from contextlib import closing
from urllib.parse import urlsplit

import pytest

from review_project.shared import WorkerError
from tests.fixtures import FIXTURES
from tests.workers.conftest import exposure_count, schema_versions, seen_annotation_ids
from workers.store import CHECKIN_KINDS, migrations
from workers.store import Reviewer, open_store
from workers.store.migrations import MIGRATIONS
from workers.survey import ITEMS
from workers.webhook import AnnotationSeen

LATEST = list(range(1, len(MIGRATIONS) + 1))
V1_TABLES = ("events", "exposures", "checkins", "answers", "reviewers", "slack_users", "pauses")


def _sqlite_path(url: str) -> str:
    return url[len("sqlite:///"):]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def v1_store_url(request, tmp_path):
    """A DATABASE_URL naming a store as the code before schema versions left it (the fixtures)."""
    if request.param == "sqlite":
        path = tmp_path / "v1.sqlite3"
        with closing(sqlite3.connect(path)) as connection:
            connection.executescript((FIXTURES / "worker_store_v1.sqlite.sql").read_text())
        return f"sqlite:///{path}"
    import psycopg

    url = request.getfixturevalue("postgres_schema")
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute((FIXTURES / "worker_store_v1.postgresql.sql").read_text())
    return url


def raw_rows(url: str, renamed: dict[str, str] | None = None) -> dict[str, list[tuple]]:
    """Every row of the v1 tables, read with the bare driver (no Store code involved); `renamed`
    names a v1 table's name now (version 8 renamed `checkins` to `outbox`)."""
    renamed = renamed or {}
    queries = {table: f"SELECT * FROM {renamed.get(table, table)} ORDER BY 1, 2" for table in V1_TABLES}
    if url.startswith("sqlite"):
        with closing(sqlite3.connect(_sqlite_path(url))) as connection:
            return {table: connection.execute(sql).fetchall() for table, sql in queries.items()}
    import psycopg

    with psycopg.connect(url) as connection:
        return {table: connection.execute(sql).fetchall() for table, sql in queries.items()}


def test_a_store_written_before_versions_is_stamped_and_keeps_every_row(v1_store_url):
    before = raw_rows(v1_store_url)
    assert [len(before[t]) for t in ("events", "exposures", "checkins", "answers")] == [15, 13, 3, 1]
    opened = open_store(v1_store_url)
    try:
        assert schema_versions(opened) == LATEST
        assert (exposure_count(opened, 1, 7), exposure_count(opened, 1, 8), exposure_count(opened, 2, 7)) == (7, 4, 2)
        assert opened.events.known_projects() == [1, 2]
        assert seen_annotation_ids(opened, 1) == {*range(1001, 1008), *range(2001, 2005)}
        assert [(c.id, c.reviewer, c.milestone, c.status, c.slack_user_id) for c in opened.checkins.all()] == [
            (1, 7, 3, "sent", "UADA"), (2, 7, 6, "sent", "UADA"), (3, 8, 3, "failed", None),
        ]
        assert opened.checkins.get(2).declined_at == 1790000062.0
        assert {c.kind for c in opened.checkins.all()} == {"milestone"}  # version 4: every earlier check-in is one
        assert opened.checkins.get(3).last_error == "users.lookupByEmail: users_not_found"
        [answer] = opened.checkins.answers()
        assert (answer.checkin_id, answer.project, answer.reviewer, answer.milestone, answer.answered_at) == (1, 1, 7, 3, 1790000050.0)
        assert answer.answer.scores == {item: {"upset": 1, "ashamed": 4, "active": 0}.get(item.lower()) for item in ITEMS}
        assert answer.answer.comment == "a long queue today"
        assert opened.checkins.mark_lead_alerted(1) is False  # the lead was already told
        assert opened.directory.reviewers() == {7: Reviewer(7, "ada@example.com", "Ada Reviewer"), 8: Reviewer(8, "bo@example.com", "Bo Reviewer")}
        assert opened.directory.cached_slack_user("ada@example.com") == "UADA"
        assert opened.directory.is_paused("UBO")
    finally:
        opened.close()
    # Every v1 row is kept as it was; later migrations may only append columns (NULL on old rows),
    # and the check-ins are the outbox's rows since version 8.
    after = raw_rows(v1_store_url, renamed={"checkins": "outbox"})
    assert {t: [row[: len(before[t][0])] for row in rows] for t, rows in after.items()} == before


def test_a_migrated_v1_store_keeps_working(v1_store_url):
    opened = open_store(v1_store_url)
    try:
        def seen(task, annotation_id):
            return AnnotationSeen(project=1, annotation_id=annotation_id, task=task, reviewer=8, skipped=False,
                                  updated_at="2026-11-29T10:00:00.000000Z", action="ANNOTATION_CREATED")

        replay = AnnotationSeen(project=1, annotation_id=1001, task=101, reviewer=7, skipped=False,
                                updated_at="2026-11-28T03:11:25.160239Z", action="ANNOTATION_CREATED")
        assert opened.events.record_annotation(replay, 3).new_event is False
        assert opened.events.record_annotation(seen(105, 2005), 3).milestones == ()
        assert opened.events.record_annotation(seen(106, 2006), 3).milestones == (6,)  # reviewer 8's 6th task
        new = opened.checkins.all(("pending",))
        assert [(c.id, c.project, c.reviewer, c.milestone) for c in new] == [(4, 1, 8, 6)]  # ids carry on
        claimed = opened.outbox.claim("w", CHECKIN_KINDS)
        assert claimed.id == 4 and opened.outbox.mark_sent(4, "w", "UBO", "DUBO", "1.1")
        assert opened.checkins.retry_failed() == 1
        # Version 6: webhooks reach an upgraded store through its inbox; a replay there adds nothing.
        opened.inbox.receive([replay, seen(107, 2007), seen(108, 2008), seen(109, 2009)])
        assert opened.inbox.apply_received(3).events == 4
        assert [(c.reviewer, c.milestone) for c in opened.checkins.all() if c.milestone > 6] == [(8, 9)]
    finally:
        opened.close()
    reopened = open_store(v1_store_url)
    try:
        assert schema_versions(reopened) == LATEST
    finally:
        reopened.close()


def test_the_delivery_migration_adds_post_intents_and_the_shared_stop(v1_store_url):
    opened = open_store(v1_store_url)
    try:
        # Old check-ins were never posted under the new rule: none is history-checked needlessly.
        assert [c.post_started_at for c in opened.checkins.all()] == [None, None, None]
        assert opened.outbox.delivery_stopped() is None
        assert opened.outbox.stop_delivery("invalid_auth") is True
        assert opened.outbox.stop_delivery("token_revoked") is False  # restated, not stopped twice
        assert opened.outbox.delivery_stopped() == "token_revoked"
        assert opened.outbox.resume_delivery() is True and opened.outbox.resume_delivery() is False
        with opened.backend.transaction(write=False) as cur:
            assert opened.backend.run(cur, "SELECT count(*) FROM slack_delivery").fetchone()[0] == 1
    finally:
        opened.close()


def test_the_consent_migration_adds_an_empty_log_that_invites_once(v1_store_url):
    opened = open_store(v1_store_url)
    try:
        assert opened.consents.everyone() == []
        version = opened.consents.keep_text("the consent text")
        assert opened.consents.invite("Ana@example.org", "U1", version, now=1.0) is True
        assert opened.consents.invite("ana@example.org", "U1", version, now=2.0) is False
        opened.consents.record("ana@example.org", "consented", version, "slack", now=3.0)
        assert opened.consents.consented("ana@example.org", version)
        with opened.backend.transaction(write=False) as cur:
            columns = opened.backend.run(cur, "SELECT * FROM consent_events LIMIT 0").description
        assert [c[0] for c in columns] == ["id", "email", "slack_user_id", "event", "text_version", "recorded_by", "at"]
    finally:
        opened.close()


def _fixture_statements(name: str) -> list[str]:
    text = "\n".join(line for line in (FIXTURES / name).read_text().splitlines() if not line.startswith("--"))
    return [statement.strip() for statement in text.split(";\n") if statement.strip()]


def test_migration_1_is_the_schema_written_before_versions(tmp_path, monkeypatch):
    # PostgreSQL: the very DDL text the code before versions ran.
    ran = []
    MIGRATIONS[0](lambda sql, params=(): ran.append(sql), "postgresql")
    assert ran == [s for s in _fixture_statements("worker_store_v1.postgresql.sql") if s.startswith("CREATE")]
    # SQLite: the same catalogue as the dumped store's.
    fresh, dumped = tmp_path / "fresh.sqlite3", tmp_path / "dumped.sqlite3"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(migrations, "MIGRATIONS", MIGRATIONS[:1])
        open_store(f"sqlite:///{fresh}").close()
    with closing(sqlite3.connect(dumped)) as connection:
        connection.executescript((FIXTURES / "worker_store_v1.sqlite.sql").read_text())
    catalogue = "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name != 'schema_migrations' ORDER BY name"
    with closing(sqlite3.connect(fresh)) as a, closing(sqlite3.connect(dumped)) as b:
        assert a.execute(catalogue).fetchall() == b.execute(catalogue).fetchall()


def test_a_fresh_store_is_migrated_once(database_url):
    for _ in range(2):
        opened = open_store(database_url)
        try:
            assert schema_versions(opened) == LATEST
        finally:
            opened.close()


def _next_probe(run, dialect):
    run("CREATE TABLE probe (id INTEGER PRIMARY KEY, note TEXT NOT NULL)")
    run("INSERT INTO probe (id, note) VALUES ($1, $2)", (1, dialect))


def _next_fails_halfway(run, dialect):
    run("CREATE TABLE probe (id INTEGER PRIMARY KEY)")
    raise RuntimeError("the next migration broke")


def test_the_next_migration_is_applied_once(v1_store_url, monkeypatch):
    monkeypatch.setattr(migrations, "MIGRATIONS", [*MIGRATIONS, _next_probe])
    dialect = "sqlite" if v1_store_url.startswith("sqlite") else "postgresql"
    for _ in range(2):  # the second open must not run it again (CREATE TABLE probe would fail)
        opened = open_store(v1_store_url)
        try:
            assert schema_versions(opened) == [*LATEST, len(LATEST) + 1]
            with opened.backend.transaction(write=False) as cur:
                assert opened.backend.run(cur, "SELECT id, note FROM probe").fetchall() == [(1, dialect)]
            assert exposure_count(opened, 1, 7) == 7
        finally:
            opened.close()


def test_a_failed_migration_changes_nothing(database_url, monkeypatch):
    open_store(database_url).close()
    monkeypatch.setattr(migrations, "MIGRATIONS", [*MIGRATIONS, _next_fails_halfway])
    with pytest.raises(RuntimeError, match="the next migration broke"):
        open_store(database_url)
    # The half-done migration was rolled back: the working one creates its table afresh.
    monkeypatch.setattr(migrations, "MIGRATIONS", [*MIGRATIONS, _next_probe])
    opened = open_store(database_url)
    try:
        assert schema_versions(opened) == [*LATEST, len(LATEST) + 1]
    finally:
        opened.close()


def test_a_store_newer_than_the_worker_refuses_to_open(database_url):
    opened = open_store(database_url)
    newer = len(MIGRATIONS) + 1
    with opened.backend.transaction() as cur:
        opened.backend.run(cur, "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)", (newer, 0.0))
    opened.close()
    # The test database is test, or test_gw0... under pytest-xdist (tests/workers/conftest.py).
    where = _sqlite_path(database_url) if database_url.startswith("sqlite") else f"127.0.0.1:5432/{urlsplit(database_url).path[1:]}"
    for create in (True, False):
        with pytest.raises(WorkerError) as error:
            open_store(database_url, create=create)
        assert str(error.value) == (
            f"the store at {where} has schema version {newer}; this worker knows up to {len(MIGRATIONS)}:"
            " upgrade red-team-review"
        )


def _open_in_process(url, barrier):
    barrier.wait()
    open_store(url).close()


def test_processes_opening_one_fresh_store_at_once_migrate_it_once(database_url):
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(4)
    processes = [context.Process(target=_open_in_process, args=(database_url, barrier)) for _ in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    assert [p.exitcode for p in processes] == [0, 0, 0, 0]
    opened = open_store(database_url)
    try:
        assert schema_versions(opened) == LATEST
    finally:
        opened.close()


def test_threads_opening_one_fresh_store_at_once_migrate_it_once(database_url):
    barrier = threading.Barrier(8)
    errors, stores = [], []

    def open_one():
        barrier.wait()
        try:
            stores.append(open_store(database_url))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=open_one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert schema_versions(stores[0]) == LATEST
    finally:
        for opened in stores:
            opened.close()
