"""Group commit for webhooks: one writer thread commits whatever events are waiting to the
store's inbox (inbox.py) in a single statement, then answers each of them.

Every acknowledgement still follows a durable commit of its own event; what is shared is the
fsync. With one commit per event, ingestion is capped at one event per fsync (about 4 ms on
this machine's disk: ~250 events/s); with group commit, the events that arrive during one
fsync share the next. The waiting requests of a batch are woken together too: one call into
their event loop per batch, not one per event.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from concurrent.futures import Future

from workers.store import Store
from workers.webhook import AnnotationsDeleted, AnnotationSeen

log = logging.getLogger(__name__)

MAX_BATCH = 128


class GroupCommitter:
    """Queue events from any thread or coroutine; one writer thread commits them in batches.

    One writer thread on both databases: SQLite's inbox file takes one writer at a time, and on
    PostgreSQL a batch is one INSERT (one round trip, one WAL flush), so the events that arrive
    during one commit share the next.
    """

    def __init__(self, store: Store, max_batch: int = MAX_BATCH):
        self.store = store
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.batches = 0

    def _ensure_started(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._write_forever, name="webhook-writer", daemon=True)
                self._thread.start()

    def submit(self, event: AnnotationSeen | AnnotationsDeleted) -> Future:
        """Queue one event; the future resolves (to None) once it is committed to the inbox."""
        self._ensure_started()
        future: Future = Future()
        self._queue.put((event, future))
        return future

    async def record(self, event: AnnotationSeen | AnnotationsDeleted) -> None:
        """Await the durable commit of one event to the inbox."""
        self._ensure_started()
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self._queue.put((event, (loop, waiter)))
        return await waiter

    def stop(self) -> None:
        """Let the writer finish what is queued, then end it."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(10)

    def _write_forever(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # stop after this batch: the next turn reads the signal again
                    break
                batch.append(item)
            self._commit(batch)

    def _commit(self, batch: list) -> None:
        try:
            self.store.inbox.receive([event for event, _ in batch])
        except Exception as error:
            if len(batch) == 1 or self.store.unavailable(error):
                # The database is down: each event on its own would wait for it again, holding every
                # later webhook past Label Studio's 1 s timeout. Answer the whole batch 503 now.
                log.error("%d event(s) not stored: %s", len(batch), error.__class__.__name__)
                _settle(batch, [_store_error()] * len(batch))
                return
            # One bad event must not fail its neighbours: retry each on its own.
            for item in batch:
                self._commit([item])
            return
        with self._lock:
            self.batches += 1
        _settle(batch, [None] * len(batch))


def _settle(batch: list, outcomes: list) -> None:
    """Give each waiter its outcome (None, or an exception): futures from submit at once,
    the coroutines of one event loop in a single call into that loop."""
    by_loop: dict = {}
    for (_, waiter), outcome in zip(batch, outcomes):
        if isinstance(waiter, Future):
            _resolve(waiter, outcome)
        else:
            loop, future = waiter
            by_loop.setdefault(loop, []).append((future, outcome))
    for loop, waiting in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve_all, waiting)
        except RuntimeError:  # the loop has closed: nobody is waiting any more
            pass


def _resolve_all(waiting: list) -> None:
    for future, outcome in waiting:
        if not future.done():  # a request whose client went away was cancelled
            _resolve(future, outcome)


def _resolve(future, outcome) -> None:
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def _store_error() -> Exception:
    # The original exception may carry SQL parameters; pass on only that the store failed.
    return RuntimeError("the store could not record the event")
