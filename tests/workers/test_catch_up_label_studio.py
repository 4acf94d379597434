"""Catch-up against the real Label Studio 1.23: the first sync, read from the full export as it
arrives, makes the ledger that paging through the tasks made; a pass after a bulk change reads with
their annotations only the tasks that changed, once, and still catches deletions."""

from __future__ import annotations

import time

import pytest

from review_project.project_setup import setup_project
from review_project.sampling import sample_attacks
from review_project.shared import Reviewer
from tests.conftest import success_result, topics_result
from workers import catch_up as catch_up_module
from workers.catch_up import _record_tasks, catch_up, full_sync
from workers.label_studio_api import LabelStudioReader
from workers.pacing import NO_NUDGES
from workers.store import MISSED, open_store

pytestmark = pytest.mark.label_studio

EMAILS = [f"catchup{i}@example.com" for i in range(1, 5)]


class CountedReads:
    """Wraps the SDK's task listing: which tasks were read with their annotations (fields=all)."""

    def __init__(self, reader: LabelStudioReader):
        self.with_annotations: list[int] = []
        self.requests = 0
        listing = reader._client.tasks.list

        def counted(**options):
            self.requests += 1
            pager = listing(**options)
            if options.get("fields") == "all":
                self.with_annotations += [task.id for task in pager.items or []]
            return pager

        reader._client.tasks.list = counted

    def reset(self) -> None:
        self.with_annotations, self.requests = [], 0


@pytest.fixture
def annotated(label_studio, demo_records, project_title):
    """12 tasks; four reviewers rate 8 of them: a skip, a 3-topic one, a success "9", an edit by the admin."""
    ids = [label_studio.make_reviewer(email) for email in EMAILS]
    client = label_studio.client()
    attacks = sample_attacks(demo_records, per_model=6, seed=13)[:12]
    report = setup_project(client, attacks, [Reviewer(e, f"Catch-up {n}") for n, e in enumerate(EMAILS, 1)], title=project_title)
    tasks = sorted(t.id for t in client.tasks.list(project=report.project_id, page_size=100))
    as_reviewer = {rid: label_studio.reviewer_client(email) for rid, email in zip(ids, EMAILS)}
    made = {}
    for n, task in enumerate(tasks[:8]):
        for r, reviewer in enumerate(ids):
            skip = (n, r) == (2, 3)
            result = [] if skip else [success_result(str((n + r) % 5)), topics_result("Theft")]
            if (n, r) == (3, 0):
                result = [success_result("2"), topics_result("Theft", "Weapons", "Other")]
            if (n, r) == (4, 1):
                result = [success_result("9")]
            made[(task, reviewer)] = as_reviewer[reviewer].annotations.create(
                id=task, result=result, was_cancelled=skip, lead_time=6.5
            ).id
    client.annotations.update(id=made[(tasks[5], ids[2])], result=[success_result("0"), topics_result("Other")])
    as_reviewer[ids[3]].annotations.delete(id=made[(tasks[6], ids[3])])
    return report.project_id, tasks, ids, made, as_reviewer, client


def rows(store, table: str, columns: str) -> list[tuple]:
    with store.backend.transaction(write=False) as cur:
        return sorted(tuple(row) for row in store.backend.run(cur, f"SELECT {columns} FROM {table}").fetchall())


LEDGER = ("annotation_id, task, attack_id, reviewer, success, topics, skipped, valid, invalid_reason, lead_time,"
          " created_at, updated_at, updated_by")


def test_the_first_sync_from_the_export_makes_the_ledger_that_paging_made(
    label_studio, annotated, tmp_path, demo_records, monkeypatch
):
    project, tasks, _, _, _, _ = annotated
    reader = LabelStudioReader(label_studio.url, label_studio.api_key)
    counted = CountedReads(reader)
    exported = []
    export = reader.export_tasks
    reader.export_tasks = lambda project, ids=None: exported.append(ids) or export(project, ids)
    monkeypatch.setattr(catch_up_module, "EXPORT_PART_IDS", 5)  # 12 tasks: the export in 3 parts
    streamed = open_store(f"sqlite:///{tmp_path / 'streamed.sqlite3'}")
    report = full_sync(streamed, reader, project, 10, MISSED)
    # The export in parts of task ids (Label Studio honours `ids[]`: each task read once), no task read page by page.
    assert counted.with_annotations == [] and report.tasks_read == len(tasks)
    assert [part[0] for part in exported] == [tasks[0], tasks[0] + 5, tasks[0] + 10]

    # What the first sync did before: every task with its annotations, in pages.
    paged = open_store(f"sqlite:///{tmp_path / 'paged.sqlite3'}")
    paged.ledger.note(project, sync_started_at=time.time())
    for page in reader.tasks(project, page_size=5):
        _record_tasks(paged, project, page, 10, time.time(), MISSED, NO_NUDGES)

    assert rows(streamed, "ledger", LEDGER) == rows(paged, "ledger", LEDGER)
    assert len(rows(streamed, "ledger", LEDGER)) == 8 * 4 - 1
    assert rows(streamed, "ledger_tasks", "task, attack_id") == rows(paged, "ledger_tasks", "task, attack_id")
    assert [task for task, _ in rows(streamed, "ledger_tasks", "task, attack_id")] == tasks
    exposures = "project, reviewer, task, annotation_id, skipped"
    assert rows(streamed, "exposures", exposures) == rows(paged, "exposures", exposures)
    events = "project, annotation_id, action, updated_at, task, reviewer, skipped"
    assert rows(streamed, "events", events) == rows(paged, "events", events)
    # The versions noted are those the Data Manager lists: the next pass reads nothing again.
    listed = {v.id: v.updated_at for page in reader.task_versions(project) for v in page}
    assert streamed.ledger.read_versions(project) == listed
    streamed.close()
    paged.close()
    # The export carried every transcript; none of it was kept.
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("streamed.sqlite3*"))
    turn = next(line for line in demo_records[0]["transcript"].splitlines() if len(line) > 40)
    assert stored and turn.encode() not in stored


def test_a_pass_after_a_bulk_change_reads_only_the_changed_tasks_once_and_catches_deletions(
    label_studio, annotated, tmp_path
):
    project, tasks, ids, made, as_reviewer, admin = annotated
    reader = LabelStudioReader(label_studio.url, label_studio.api_key)
    counted = CountedReads(reader)
    store = open_store(f"sqlite:///{tmp_path / 'worker.sqlite3'}")
    catch_up(store, reader, [project], 10, MISSED)  # the first sync
    assert store.ledger.state(project).sync_done_at is not None

    # Every task changed within the 5-minute look-back; none since the sync read it.
    counted.reset()
    report = catch_up(store, reader, [project], 10, MISSED)
    assert (counted.with_annotations, report.tasks_read) == ([], 0)

    # A bulk change: three reviewers edit, the admin edits, one annotation is deleted; no webhook.
    edited = {tasks[0]: (ids[0], "4"), tasks[1]: (ids[1], "0"), tasks[3]: (ids[2], "1")}
    for task, (reviewer, value) in edited.items():
        as_reviewer[reviewer].annotations.update(id=made[(task, reviewer)], result=[success_result(value), topics_result("Other")])
    admin.annotations.update(id=made[(tasks[7], ids[3])], result=[success_result("3"), topics_result("Weapons")])
    as_reviewer[ids[0]].annotations.delete(id=made[(tasks[2], ids[0])])
    changed = sorted([*edited, tasks[7], tasks[2]])

    counted.reset()
    report = catch_up(store, reader, [project], 10, MISSED)
    assert sorted(counted.with_annotations) == changed and report.annotations_removed == 1
    ledger = {row[0]: row for row in rows(store, "ledger", "annotation_id, success, updated_by")}
    assert made[(tasks[2], ids[0])] not in ledger
    for task, (reviewer, value) in edited.items():
        assert ledger[made[(task, reviewer)]][1:] == (int(value), reviewer)
    assert ledger[made[(tasks[7], ids[3])]][1] == 3

    # The next passes, still within the look-back: nothing read again.
    for _ in range(2):
        counted.reset()
        report = catch_up(store, reader, [project], 10, MISSED)
        assert (counted.with_annotations, report.tasks_read) == ([], 0)
    # A deletion alone (one task changed) is read, and its row goes.
    as_reviewer[ids[1]].annotations.delete(id=made[(tasks[4], ids[1])])
    counted.reset()
    report = catch_up(store, reader, [project], 10, MISSED)
    assert counted.with_annotations == [tasks[4]] and report.annotations_removed == 1
    assert made[(tasks[4], ids[1])] not in {row[0] for row in rows(store, "ledger", "annotation_id")}
    store.close()
