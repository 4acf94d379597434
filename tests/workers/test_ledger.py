"""The ledger on SQLite and the real PostgreSQL: what webhooks and catch-up write, what the lead
reads, the first sync (resumable, one check-in per reviewer), changes since the last pass
(deletions included), and a worker without Slack."""

from __future__ import annotations

import json
import threading

import pytest

from review_project.export import read_export_tasks
from review_project.live_project import currency
from review_project.shared import ANNOTATION_CREATED, ANNOTATION_UPDATED
from tests.workers.conftest import annotation, every_row, exposure_count
from workers.store import ledger
from workers import catch_up as catch_up_module
from workers.catch_up import catch_up, full_sync
from workers.label_studio_api import LabelStudioUnavailable
from workers.store.ledger_reads import StoreLedger
from workers.store import LATEST, MISSED, open_store
from workers.webhook import AnnotationsDeleted, parse_webhook


def rated(project: int, task: int, reviewer: int, success: str = "2", topics=("Theft",), **fields) -> dict:
    """An annotation in Label Studio's shape with a rating and topics."""
    body = annotation(project, task, reviewer, **{k: fields.pop(k) for k in ("skipped", "annotation_id") if k in fields})
    if not body["was_cancelled"]:
        body["result"] = [
            {"from_name": "success", "to_name": "dialogue", "type": "choices", "value": {"choices": [success]}},
            {"from_name": "topics", "to_name": "dialogue", "type": "taxonomy", "value": {"taxonomy": [[t] for t in topics]}},
        ]
    body.update(lead_time=4.5, updated_by=reviewer, **fields)
    return body


def webhook(action: str, ann: dict, project: int = 1, attack_id: int | None = None):
    task = {"id": ann["task"], "data": {"attack_id": attack_id if attack_id is not None else 100 + ann["task"]}}
    return parse_webhook(json.dumps({"action": action, "annotation": ann, "project": {"id": project}, "task": task}).encode())


def ledger_rows(store, project: int = 1) -> dict[int, dict]:
    read = StoreLedger(store, "test").read(project)
    return {row["annotation_id"]: row for row in read.tables.annotations.to_dict("records")}


def test_webhooks_write_what_the_export_table_has(store):
    first = rated(1, 5, 7, "3", ("Theft", "Weapons"))
    skip = rated(1, 6, 7, skipped=True)
    invalid = rated(1, 7, 8, "9")
    store.events.record_events([webhook(ANNOTATION_CREATED, a) for a in (first, skip, invalid)], 10)
    rows = ledger_rows(store)
    # The export path reads the same annotations into the same row (one parser: schema.read_annotation).
    export = read_export_tasks(
        [{"id": a["task"], "data": {"attack_id": 100 + a["task"]}, "annotations": [a]} for a in (first, skip, invalid)]
    ).annotations.to_dict("records")
    assert [rows[e["annotation_id"]] for e in export] == export
    assert (rows[first["id"]]["success"], rows[first["id"]]["topics"], rows[first["id"]]["attack_id"]) == (3, ["Theft", "Weapons"], 105)
    assert rows[skip["id"]]["skipped"] and rows[skip["id"]]["valid"]
    assert rows[invalid["id"]]["invalid_reason"] == "success '9' outside 0-4"


def test_an_update_replaces_the_row_and_an_older_one_never_undoes_it(store):
    ann = rated(1, 5, 7, "1")
    newer = dict(rated(1, 5, 7, "4", annotation_id=ann["id"]), updated_at="2026-11-28T05:00:00.000000Z")
    older = dict(rated(1, 5, 7, "2", annotation_id=ann["id"]), updated_at="2026-11-28T04:00:00.000000Z")
    store.events.record_events([webhook(ANNOTATION_CREATED, ann)], 10)
    store.events.record_events([webhook(ANNOTATION_UPDATED, newer)], 10)
    store.events.record_events([webhook(ANNOTATION_UPDATED, older)], 10)  # arrives late
    assert ledger_rows(store)[ann["id"]]["success"] == 4
    assert exposure_count(store, 1, 7) == 1


def test_a_deletion_removes_the_row_for_good_and_never_uncounts(store):
    ann = rated(1, 5, 7)
    store.events.record_events([webhook(ANNOTATION_CREATED, ann)], 10)
    store.events.record_events([AnnotationsDeleted(1, (ann["id"],))], 10)
    assert ann["id"] not in ledger_rows(store)
    # A replay of its creation (or catch-up reading an old copy) does not bring it back.
    store.events.record_events([webhook(ANNOTATION_CREATED, dict(ann, updated_at="2026-11-28T09:00:00.000000Z"))], 10)
    assert ann["id"] not in ledger_rows(store)
    assert exposure_count(store, 1, 7) == 1


def test_the_lead_reads_tasks_and_how_current_the_ledger_is(store, fake_label_studio):
    fake_label_studio.import_tasks(1, range(1, 6), attack_ids=[40, 41, 42, 43, 44])
    fake_label_studio.add(1, rated(1, 2, 7), attack_id=41)
    catch_up(store, fake_label_studio, [1], 10)
    store.events.record_events([webhook(ANNOTATION_CREATED, rated(1, 3, 8), attack_id=42)], 10)
    read = StoreLedger(store, "test").read(1)
    assert read.complete and read.last_catch_up_at and read.last_webhook_at
    assert read.tables.tasks.to_dict("list") == {"task_id": [1, 2, 3, 4, 5], "attack_id": [40, 41, 42, 43, 44]}
    assert sorted(read.tables.annotations["task_id"]) == [2, 3]
    assert read.waiting == 0 and "not applied" not in currency(read, "test")
    # A webhook answered but not applied yet (the worker's background is behind, or down): the lead is told.
    store.inbox.receive([webhook(ANNOTATION_CREATED, rated(1, 4, 8), attack_id=43)])
    read = StoreLedger(store, "test").read(1)
    assert sorted(read.tables.annotations["task_id"]) == [2, 3] and read.waiting == 1
    assert currency(read, "test").endswith(
        "; 1 webhook event(s) received and not applied yet (is the worker's background running?)"
    )


def test_the_first_sync_resumes_where_it_stopped_and_sends_one_checkin_per_reviewer(store, fake_label_studio, monkeypatch):
    # Ada did 35 tasks and Bo 12 before the worker ever watched the project.
    for task in range(1, 36):
        fake_label_studio.add(1, rated(1, task, 7))
    for task in range(1, 13):
        fake_label_studio.add(1, rated(1, task, 8))
    export = fake_label_studio.export_tasks

    def fails_in_the_second_part(project, ids=None):
        if 25 in ids:
            raise LabelStudioUnavailable("the export of project 1: RemoteProtocolError")
        yield from export(project, ids)

    fake_label_studio.export_tasks = fails_in_the_second_part
    monkeypatch.setattr(catch_up_module, "EXPORT_PART_IDS", 20)
    with pytest.raises(LabelStudioUnavailable):
        full_sync(store, fake_label_studio, 1, 10)
    state = store.ledger.state(1)
    assert (state.sync_after_task, state.sync_done_at, state.syncing) == (20, None, True)

    fake_label_studio.export_tasks = export
    report = full_sync(store, fake_label_studio, 1, 10)  # resumes after task 20
    assert report.tasks_read == 15
    assert exposure_count(store, 1, 7) == 35 and exposure_count(store, 1, 8) == 12
    checkins = {(c.reviewer, c.milestone): c for c in store.checkins.all()}
    assert {key: c.status for key, c in checkins.items()} == {
        (7, 10): "missed", (7, 20): "missed", (7, 30): "pending", (8, 10): "pending",
    }
    assert checkins[(7, 10)].last_error == "reached before the worker's first sync of the project finished"
    assert store.ledger.state(1).sync_done_at is not None


def test_a_webhook_during_the_first_sync_is_missed_then_only_the_latest_goes_out(store, fake_label_studio):
    for task in range(1, 20):
        fake_label_studio.add(1, rated(1, task, 7))
    store.ledger.note(1, sync_started_at=1.0)  # a sync has begun and not finished
    store.events.record_events([webhook(ANNOTATION_CREATED, rated(1, task, 7)) for task in range(100, 110)], 10)
    assert [(c.milestone, c.status) for c in store.checkins.all()] == [(10, "missed")]
    full_sync(store, fake_label_studio, 1, 10)
    assert [(c.milestone, c.status) for c in store.checkins.all()] == [(10, "missed"), (20, "pending")]


def test_a_pass_reads_only_what_changed_including_deletions(store, fake_label_studio):
    for task in range(1, 8):
        fake_label_studio.add(1, rated(1, task, 7))
    catch_up(store, fake_label_studio, [1], 10)
    # Older than the watermark: what the next pass should not read again.
    for task in fake_label_studio.tasks_by_project[1].values():
        task["updated_at"] -= 3600
    store.ledger.note(1, changed_after="2026-01-01T00:00:00.000000Z")
    catch_up(store, fake_label_studio, [1], 10)
    state = store.ledger.state(1)
    assert state.changed_after > "2026-01-01T00:00:00.000000Z"

    gone = fake_label_studio.tasks_by_project[1][3]["annotations"][0]["id"]
    fake_label_studio.delete(1, gone)  # while the worker was down: no webhook
    changed = rated(1, 4, 7, "4", annotation_id=fake_label_studio.tasks_by_project[1][4]["annotations"][0]["id"])
    fake_label_studio.add(1, dict(changed, updated_at="2026-11-28T12:00:00.000000Z"))
    report = catch_up(store, fake_label_studio, [1], 10)
    assert (report.tasks_read, report.annotations_removed) == (2, 1)
    rows = ledger_rows(store)
    assert gone not in rows and rows[changed["id"]]["success"] == 4
    assert exposure_count(store, 1, 7) == 7  # a deletion never un-counts


def test_catching_up_after_downtime_sends_one_checkin_for_the_latest_milestone(store, fake_label_studio):
    fake_label_studio.add(1, rated(1, 1, 7))
    catch_up(store, fake_label_studio, [1], 10)
    for task in range(2, 36):  # 34 more while the worker was down
        fake_label_studio.add(1, rated(1, task, 7))
    report = catch_up(store, fake_label_studio, [1], 10, LATEST)
    assert report.checkins_due == 1
    assert [(c.milestone, c.status) for c in store.checkins.all()] == [(10, "missed"), (20, "missed"), (30, "pending")]


def test_new_and_deleted_tasks_reach_the_task_list(store, fake_label_studio):
    fake_label_studio.import_tasks(1, range(1, 4))
    catch_up(store, fake_label_studio, [1], 10)
    fake_label_studio.import_tasks(1, [4, 5])
    catch_up(store, fake_label_studio, [1], 10)
    assert store.ledger.task_ids(1) == {1, 2, 3, 4, 5}
    fake_label_studio.add(1, rated(1, 2, 7))
    catch_up(store, fake_label_studio, [1], 10)
    del fake_label_studio.tasks_by_project[1][2]  # a task deleted in Label Studio, annotation and all
    report = catch_up(store, fake_label_studio, [1], 10)
    assert store.ledger.task_ids(1) == {1, 3, 4, 5} and report.annotations_removed == 1
    assert ledger_rows(store) == {}


def test_a_project_deleted_in_label_studio_is_marked_gone_and_the_others_catch_up(store, fake_label_studio, caplog):
    for project in (1, 2):
        fake_label_studio.add(project, rated(project, 1, 7))
    catch_up(store, fake_label_studio, [1, 2], 10)
    fake_label_studio.deleted_projects.add(1)  # the older project, first in id order
    fake_label_studio.add(2, rated(2, 2, 7))  # while the worker was down: no webhook
    with caplog.at_level("WARNING", logger="workers.catch_up"):
        catch_up(store, fake_label_studio, [1, 2], 10)
        catch_up(store, fake_label_studio, [1, 2], 10)  # logged once: the next pass skips it quietly
    assert sorted(row["task_id"] for row in ledger_rows(store, 2).values()) == [1, 2]
    assert store.ledger.state(1).gone_at is not None and store.ledger.state(2).gone_at is None
    assert [r.getMessage() for r in caplog.records] == [
        "project 1: not found: the project is gone from Label Studio; marked gone in the store, catch-up skips it"
    ]


def test_without_slack_every_milestone_is_missed(store, fake_label_studio):
    for task in range(1, 15):
        fake_label_studio.add(1, rated(1, task, 7))
    catch_up(store, fake_label_studio, [1], 10, MISSED)
    store.events.record_events([webhook(ANNOTATION_CREATED, rated(1, task, 7)) for task in range(20, 30)], 10, scheduling=MISSED)
    assert [(c.milestone, c.status) for c in store.checkins.all()] == [(10, "missed"), (20, "missed")]


def test_a_deletion_webhook_and_an_update_in_one_batch(store):
    ann = rated(1, 5, 7)
    store.events.record_events([webhook(ANNOTATION_CREATED, ann)], 10)
    events = [webhook(ANNOTATION_UPDATED, dict(ann, updated_at="2026-11-28T06:00:00.000000Z")),
              AnnotationsDeleted(1, (ann["id"],))]
    store.events.record_events(events, 10)
    assert ledger_rows(store) == {}


def tasks_noted(store, project: int = 1) -> dict[int, int | None]:
    with store.backend.transaction(write=False) as cur:
        return ledger.task_attack_ids(store.backend.runner(cur), project)


def test_a_task_keeps_the_last_attack_id_known(store):
    store.ledger.note_tasks(1, [(5, None), (6, 106)])
    store.events.record_events([webhook(ANNOTATION_CREATED, rated(1, 5, 7), attack_id=105)], 10)
    assert tasks_noted(store) == {5: 105, 6: 106}
    # An annotation whose task data lacks attack_id (a missing one is None) takes nothing away.
    without = parse_webhook(json.dumps({"action": ANNOTATION_CREATED, "annotation": rated(1, 6, 8),
                                        "project": {"id": 1}, "task": {"id": 6, "data": {}}}).encode())
    store.events.record_events([without], 10)
    store.ledger.note_tasks(1, [(5, None), (6, 206)])
    assert tasks_noted(store) == {5: 105, 6: 206}


def test_last_webhook_at_is_within_a_second_and_never_goes_back(store):
    ann = rated(1, 5, 7)
    seen = []
    for now in (1000.0, 1000.5, 1001.2, 999.0):
        ann["id"] += 1  # a new annotation each time
        store.events.record_events([webhook(ANNOTATION_CREATED, ann)], 10, now=now)
        seen.append(store.ledger.state(1).last_webhook_at)
    # 1000.5 is within a second of what is there (left alone); a batch timed earlier moves nothing.
    assert seen == [1000.0, 1000.0, 1001.2, 1001.2]


@pytest.mark.postgres
def test_batches_whose_reviewers_share_tasks_wait_for_each_other_instead_of_deadlocking(postgres_schema):
    # Two PostgreSQL writers, each with a batch of two reviewers on tasks 5 and 6 in crossed order,
    # both held after writing their events so that each has written its rows before either goes
    # on. Had they noted the shared tasks as they went, each would now wait for a row the other holds.
    store = open_store(postgres_schema)
    both_started = threading.Barrier(2, timeout=10)
    write_events = store.events._write_events

    def pausing(*args):
        written = write_events(*args)
        both_started.wait()
        return written

    store.events._write_events = pausing
    batches = [
        [webhook(ANNOTATION_CREATED, rated(1, 6, 7)), webhook(ANNOTATION_CREATED, rated(1, 5, 8))],
        [webhook(ANNOTATION_CREATED, rated(1, 5, 9)), webhook(ANNOTATION_CREATED, rated(1, 6, 10))],
    ]
    failures = []

    def write(batch):
        try:
            store.events.record_events(batch, 10)
        except Exception as error:  # noqa: BLE001 - the test reports whatever stopped a batch
            failures.append(error.__class__.__name__)

    threads = [threading.Thread(target=write, args=(batch,)) for batch in batches]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert failures == []
        assert tasks_noted(store) == {5: 105, 6: 106}
        assert sorted(ledger_rows(store)) == sorted(e.annotation_id for batch in batches for e in batch)
    finally:
        store.close()


@pytest.mark.postgres
def test_postgresql_writes_a_batch_in_one_statement_as_sqlite_writes_it_event_by_event(sqlite_store, postgres_schema):
    # PostgreSQL writes a batch's events, exposures and ledger rows in one statement; SQLite (and
    # PostgreSQL for batches with a deletion or two versions of one annotation) one event at a time.
    # Same batches, same rows: replays, a re-submission on a task already counted, a skip, an
    # invalid rating, an update, severe ratings and topics, three reviewers sharing tasks.
    from workers.pacing import PacingRules

    rules = PacingRules(break_after_seconds=600, severe_streak=2, daily_task_cap=5)
    times = iter(f"2026-11-28T10:{minute:02d}:00.000000Z" for minute in range(60))
    batches = [
        [webhook(ANNOTATION_CREATED, rated(1, task, reviewer, str(task % 5), created_at=next(times)))
         for task in range(1, 5) for reviewer in (7, 8, 9)],
        [webhook(ANNOTATION_CREATED, rated(1, 1, 7, "4", created_at=next(times))),  # a replay
         webhook(ANNOTATION_CREATED, rated(1, 1, 7, "2", annotation_id=9001, created_at=next(times))),
         webhook(ANNOTATION_CREATED, rated(1, 5, 8, skipped=True, created_at=next(times))),
         webhook(ANNOTATION_CREATED, rated(1, 6, 8, "9", created_at=next(times))),
         webhook(ANNOTATION_CREATED, rated(1, 7, 9, "3", ("Self-harm",), created_at=next(times)))],
        [webhook(ANNOTATION_UPDATED, rated(1, 2, 8, "0", created_at=next(times), updated_at="2026-11-28T11:00:00Z")),
         *(webhook(ANNOTATION_CREATED, rated(1, task, 7, "3", created_at=next(times))) for task in range(8, 14))],
    ]
    postgres = open_store(postgres_schema)
    try:
        for store in (sqlite_store, postgres):
            for n, batch in enumerate(batches):
                store.events.record_events(batch, 3, now=1_795_867_200.0 + n, rules=rules)
        assert every_row(postgres) == every_row(sqlite_store)
        assert len(every_row(postgres)["checkins"]) > 5  # milestones and nudges of each kind were made
    finally:
        postgres.close()


def test_read_ledger_sees_one_snapshot_while_a_catch_up_commits_between_its_reads(store, database_url):
    """Tasks noted by another connection after the annotations were read are not half-seen."""
    store.ledger.note_tasks(1, [(1, 101)])
    store.events.record_events([webhook(ANNOTATION_CREATED, rated(1, 1, 7))], 10)
    other = open_store(database_url)
    reads = 0
    runner = store.backend.runner

    def committing_between_reads(cur):
        run = runner(cur)

        def counted(sql, params=()):
            nonlocal reads
            result = run(sql, params)
            reads += 1
            if reads == 1:  # the annotations are read: a catch-up commits a new task and its annotation now
                other.ledger.note_tasks(1, [(2, 102)])
                other.events.record_events([webhook(ANNOTATION_CREATED, rated(1, 2, 7))], 10)
            return result

        return counted

    try:
        store.backend.runner = committing_between_reads
        rows = store.ledger.read(1)
    finally:
        store.backend.runner = runner
        other.close()
    assert reads == 3
    assert [row[1] for row in rows.annotations] == [1]
    assert rows.tasks == [(1, 101)]  # not task 2, whose annotation the first read did not see
