"""What catch-up asks Label Studio for (the faked reader; test_catch_up_label_studio.py has the real
server): the first sync's export in parts of task ids, and passes that read with annotations only
the tasks not read at their present updated_at."""

from __future__ import annotations

from tests.workers.conftest import annotation
from workers.catch_up import catch_up, export_parts


def rate(fake, task: int, reviewer: int = 7, project: int = 1, annotation_id: int | None = None) -> dict:
    body = annotation(project, task, reviewer, annotation_id=annotation_id)
    fake.add(project, body)
    return body


def test_export_parts_cover_the_ids_after_the_resume_point_or_give_way_to_one_export():
    assert export_parts((1, 10), tasks=10, after=0, size=4) == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]
    assert export_parts((1, 10), tasks=10, after=6, size=4) == [[7, 8, 9, 10]]
    assert export_parts((1, 10), tasks=10, after=10, size=4) == []
    assert export_parts(None, tasks=0, after=0, size=4) == []
    # Another project's tasks between this one's: the parts would be mostly empty.
    assert export_parts((1, 1_000), tasks=10, after=0, size=4) is None


class Reads:
    """The tasks the fake was asked for with their annotations, per pass."""

    def __init__(self, fake):
        self.tasks: list[int] = []
        pages = fake.tasks

        def counted(project, **options):
            for page in pages(project, **options):
                self.tasks += [task.id for task in page]
                yield page

        fake.tasks = counted


def test_a_pass_reads_only_the_tasks_changed_since_it_read_them(store, fake_label_studio):
    made = {task: rate(fake_label_studio, task) for task in range(1, 31)}
    catch_up(store, fake_label_studio, [1], 10)  # the first sync, from the export
    assert fake_label_studio.exports == 1
    reads = Reads(fake_label_studio)

    # All 30 tasks changed within the look-back, none since the sync read them: one request, no listing.
    catch_up(store, fake_label_studio, [1], 10)
    assert (reads.tasks, fake_label_studio.version_reads) == ([], 0)

    # Three change: their ids and updated_at are listed, and only they are read.
    for task in (4, 17, 29):
        rate(fake_label_studio, task, annotation_id=made[task]["id"])
    report = catch_up(store, fake_label_studio, [1], 10)
    assert (sorted(reads.tasks), report.tasks_read, fake_label_studio.version_reads) == ([4, 17, 29], 3, 1)

    # The next passes, still within the look-back, read nothing again; a deletion is read and caught.
    reads.tasks.clear()
    catch_up(store, fake_label_studio, [1], 10)
    assert reads.tasks == []
    fake_label_studio.delete(1, made[8]["id"])
    report = catch_up(store, fake_label_studio, [1], 10)
    assert (reads.tasks, report.annotations_removed) == ([8], 1)


def test_a_bulk_change_is_read_in_pages_once_without_listing_it_first(store, fake_label_studio):
    made = {task: rate(fake_label_studio, task) for task in range(1, 31)}
    catch_up(store, fake_label_studio, [1], 10)
    # An hour later: all 30 changed since catch-up read them (as a bulk change, or setup's import, does).
    for task in fake_label_studio.tasks_by_project[1].values():
        task["updated_at"] -= 3600
    store.ledger.note(1, changed_after="2000-01-01T00:00:00.000000Z")
    with store.backend.transaction() as cur:
        store.backend.run(cur, "UPDATE ledger_tasks SET read_updated_at = '2000-01-01T00:00:00.000000Z'")
    reads = Reads(fake_label_studio)
    for task in range(1, 26):
        rate(fake_label_studio, task, annotation_id=made[task]["id"])
    report = catch_up(store, fake_label_studio, [1], 10)
    # Most of what changed unread: read in pages at once, as listing it first would only add to that.
    assert (sorted(reads.tasks), report.tasks_read, fake_label_studio.version_reads) == (list(range(1, 31)), 30, 0)
    reads.tasks.clear()
    catch_up(store, fake_label_studio, [1], 10)
    assert reads.tasks == []
