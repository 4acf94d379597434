"""Group commit: concurrent webhooks share inbox commits, each is answered after its commit, and
one event the store rejects does not fail the others in its batch."""

import threading

from review_project.shared import ANNOTATION_CREATED
from tests.workers.conftest import apply_received, exposure_count
from workers.ingest import GroupCommitter
from workers.webhook import AnnotationsDeleted, AnnotationSeen


def seen(task, reviewer=7):
    return AnnotationSeen(1, 100 * reviewer + task, task, reviewer, False, "t", ANNOTATION_CREATED)


def test_concurrent_events_share_commits_and_each_is_answered_once_committed(store):
    committer = GroupCommitter(store)
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
    assert results == {rv: [None] * 20 for rv in range(8)}
    assert committer.batches < 160
    assert store.inbox.waiting().waiting == 160  # every answered event is committed
    # Applied in arrival order, whatever the batches: each reviewer's 10th and 20th make a check-in.
    apply_received(store)
    assert sorted((c.reviewer, c.milestone) for c in store.checkins.all()) == [(rv, m) for rv in range(8) for m in (10, 20)]


def test_a_rejected_event_fails_alone(store, monkeypatch):
    committer = GroupCommitter(store)
    real = store.inbox.receive
    hold = threading.Event()

    def picky(events, now=None):
        hold.wait(5)  # let the queue fill so the events share one batch
        if any(getattr(event, "task", None) == 3 for event in events):
            raise ValueError("boom")
        return real(events, now)

    monkeypatch.setattr(store.inbox, "receive", picky)
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
    assert outcomes == [None, None, None, "the store could not record the event", None, None, None]
    assert apply_received(store) == 6
    assert exposure_count(store, 1, 7) == 5
