"""Group commit: concurrent webhooks share transactions, each is answered after its commit, and
one event the store rejects does not fail the others in its batch."""

import threading

from review_project.shared import ANNOTATION_CREATED
from tests.workers.conftest import exposure_count
from workers.ingest import GroupCommitter
from workers.webhook import AnnotationsDeleted, AnnotationSeen


def seen(task, reviewer=7):
    return AnnotationSeen(1, 100 * reviewer + task, task, reviewer, False, "t", ANNOTATION_CREATED)


def test_concurrent_events_share_commits_and_each_gets_its_result(store):
    committer = GroupCommitter(store, every=10)
    results = {}
    gate = threading.Barrier(8)

    def send(reviewer):
        gate.wait()
        futures = [(task, committer.submit(seen(task, reviewer))) for task in range(20)]
        results[reviewer] = [f.result(10) for _, f in futures]

    threads = [threading.Thread(target=send, args=(r,)) for r in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    committer.stop()
    # Each reviewer's 10th and 20th commit (in whatever batches the writer committed) made one check-in each.
    assert {rv: sorted(m for r in results[rv] for m in r.milestones) for rv in range(8)} == {rv: [10, 20] for rv in range(8)}
    assert all(r.counted for rv in range(8) for r in results[rv])
    assert committer.batches < 160
    assert len(store.checkins()) == 16


def test_a_rejected_event_fails_alone(store, monkeypatch):
    committer = GroupCommitter(store, every=10)
    real = store._write_events

    def picky(cur, ordered, *args):
        if any(getattr(event, "task", None) == 3 for event in ordered):
            raise ValueError("boom")
        return real(cur, ordered, *args)

    monkeypatch.setattr(store, "_write_events", picky)
    hold = threading.Event()
    original = store.record_events

    def slow_first(events, every, now=None, **options):
        hold.wait(5)  # let the queue fill so the events share one batch
        return original(events, every, now, **options)

    monkeypatch.setattr(store, "record_events", slow_first)
    futures = [committer.submit(seen(task)) for task in range(6)]
    futures.append(committer.submit(AnnotationsDeleted(1, (700,))))
    hold.set()
    outcomes = []
    for future in futures:
        try:
            outcomes.append(future.result(10))
        except RuntimeError as error:
            outcomes.append(str(error))
    committer.stop()
    assert outcomes[3] == "the store could not record the event"
    assert [o.counted for i, o in enumerate(outcomes[:6]) if i != 3] == [True] * 5
    assert (outcomes[6].new_event, outcomes[6].counted) == (True, False)
    assert exposure_count(store, 1, 7) == 5
