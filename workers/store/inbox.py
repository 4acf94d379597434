"""The inbox: a webhook is answered once its events are committed here, and applied afterwards.

Each event waiting here is applied once, in arrival order, by the transaction that also takes it
out of the inbox (apply_received); workers/inbox.py says why and how an event is kept.

Where the inbox lives differs by database:
- PostgreSQL: a table, each event's row deleted by the transaction that applies it; one applier
  at a time (a transaction-scoped try-lock), so events apply in arrival order.
- SQLite: a second file beside the store (`<path>-inbox`). SQLite lets one connection write a
  file at a time, and makes the others wait in sleeps of 1, 2, 5, 10 ms and more: had the web
  process's inbox commits shared the store's file with the background's applying, each would
  keep waiting for the other (bench_webhooks.py: 0.6x of the floor, p99 38 ms). So the web
  process alone writes the inbox file, the background alone applies it to the store, and the
  store records how far it has applied it (`inbox_applied`: the last inbox id applied, committed
  with what applying it wrote). Inbox ids only grow (AUTOINCREMENT), and the web process
  deletes rows the store has applied.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from contextlib import nullcontext

from review_project.shared import WorkerError
from workers import pacing
from workers.inbox import decode, encode
from workers.store.backend import LOCK_NAMESPACE, begun, create_private_file
from workers.store.counting import LIVE, SCHEDULINGS
from workers.store.records import Applied, InboxState
from workers.webhook import AnnotationsDeleted, AnnotationSeen

# How often the web process deletes the inbox rows the store has applied (SQLite).
INBOX_PRUNE_SECONDS = 10.0
# The inbox file's layout version (PRAGMA user_version): a queue, not data to migrate.
_INBOX_VERSION = 1


def _insert(events: list, now: float) -> tuple[str, tuple]:
    """The statement (and its parameters) that adds events to the inbox, in order, all received at `now`."""
    rows = ", ".join(f"($1, ${n + 2})" for n in range(len(events)))
    return f"INSERT INTO inbox (received_at, event) VALUES {rows}", (now, *(encode(e) for e in events))


class PostgresQueue:
    """The inbox as a table of the store."""

    def __init__(self, backend):
        self.backend = backend

    def receive(self, events: list, now: float) -> None:
        with self.backend.statement() as cur:
            self.backend.run(cur, *_insert(events, now))

    def take(self, cur, limit: int) -> list[tuple[int, float, str]]:
        # One applier at a time (a transaction-scoped try-lock), so events apply in arrival order;
        # while another worker process holds it, this one takes nothing. The read is a statement
        # of its own, after the lock's: its snapshot then follows the commit of the applier that
        # released the lock, whose rows must not be applied again. (Pipelined: one round trip.)
        with cur.connection.cursor() as lock:
            self.backend.run(lock, "SELECT pg_try_advisory_xact_lock($1, 0)", (LOCK_NAMESPACE + 2,))
            self.backend.run(cur, "SELECT id, received_at, event FROM inbox ORDER BY id LIMIT $1", (limit,))
            held = lock.fetchone()[0]
        rows = cur.fetchall()
        return rows if held else []

    def mark_applied(self, cur, rows: list[tuple[int, float, str]]) -> None:
        self.backend.run(cur, "DELETE FROM inbox WHERE id = ANY(CAST($1 AS bigint[]))", ([row[0] for row in rows],))

    def count(self) -> tuple[int, float | None]:
        with self.backend.transaction(write=False) as cur:
            return tuple(self.backend.run(cur, "SELECT count(*), min(received_at) FROM inbox").fetchone())

    def next_id(self) -> int | None:
        with self.backend.transaction(write=False) as cur:
            return self.backend.run(cur, "SELECT min(id) FROM inbox").fetchone()[0]


class SQLiteQueue:
    """The inbox in its own file beside the store (see the module's docstring)."""

    def __init__(self, backend, new_store: bool):
        self.backend = backend
        self.path = f"{backend.path}-inbox"
        create_private_file(self.path)
        self._pruned_at = 0.0
        self._name = self._open()
        if new_store:
            self._leave_to_catch_up()

    def _connection(self) -> sqlite3.Connection:
        return self.backend.connection(self.path)

    def _open(self) -> str:
        """Make the inbox file's table if it has none; returns the file's random name, which tells the
        store whether what it applied came from this file (a new file starts from its first row)."""
        with begun(self._connection()) as cursor:
            version = cursor.execute("PRAGMA user_version").fetchone()[0]
            if version > _INBOX_VERSION:
                raise WorkerError(f"the inbox at {self.path} has version {version}; this worker knows up to"
                                  f" {_INBOX_VERSION}: upgrade red-team-review")
            cursor.execute(
                "CREATE TABLE IF NOT EXISTS inbox (id INTEGER PRIMARY KEY AUTOINCREMENT, received_at REAL NOT NULL,"
                " event TEXT NOT NULL)"
            )
            cursor.execute("CREATE TABLE IF NOT EXISTS inbox_file (id INTEGER PRIMARY KEY CHECK (id = 1), name TEXT NOT NULL)")
            cursor.execute("INSERT OR IGNORE INTO inbox_file (id, name) VALUES (1, ?)", (uuid.uuid4().hex,))
            cursor.execute(f"PRAGMA user_version = {_INBOX_VERSION}")
            return cursor.execute("SELECT name FROM inbox_file").fetchone()[0]

    def _leave_to_catch_up(self) -> None:
        """A new store beside an old inbox file (the store was deleted to rebuild the ledger): what
        the file holds may have been applied to the old store, and applied here it would make live
        check-ins of old work. The new store's first sync reads all of it from Label Studio instead."""
        last = self._connection().execute("SELECT max(id) FROM inbox").fetchone()[0]
        if last:
            with self.backend.transaction() as cur:
                self.mark_applied(cur, [(last, 0.0, "")])

    def receive(self, events: list, now: float) -> None:
        with begun(self._connection()) as cursor:
            self.backend.run(cursor, *_insert(events, now))
            if now - self._pruned_at >= INBOX_PRUNE_SECONDS:
                # What the store has applied leaves the inbox; its ids are never used again.
                self._pruned_at = now
                self.backend.run(cursor, "DELETE FROM inbox WHERE id <= $1", (self._applied_upto(),))

    def _applied_upto(self, cur=None) -> int:
        """The last inbox id the store has applied (0: none of this inbox file's), read on `cur`'s
        transaction or, without one, on a read of its own."""
        with nullcontext(cur) if cur is not None else self.backend.transaction(write=False) as cur:
            row = self.backend.run(
                cur, "SELECT applied_upto FROM inbox_applied WHERE id = 1 AND inbox = $1", (self._name,)
            ).fetchone()
        return row[0] if row else 0

    def take(self, cur, limit: int) -> list[tuple[int, float, str]]:
        # `cur` holds the store's write lock, so no other transaction applies the inbox meanwhile;
        # reading the inbox file never waits for its writer (WAL).
        rows = self.backend.run(
            self._connection().cursor(), "SELECT id, received_at, event FROM inbox WHERE id > $1 ORDER BY id LIMIT $2",
            (self._applied_upto(cur), limit),
        ).fetchall()
        return [tuple(row) for row in rows]

    def mark_applied(self, cur, rows: list[tuple[int, float, str]]) -> None:
        self.backend.run(
            cur,
            "INSERT INTO inbox_applied (id, inbox, applied_upto) VALUES (1, $1, $2)"
            " ON CONFLICT (id) DO UPDATE SET inbox = excluded.inbox, applied_upto = excluded.applied_upto",
            (self._name, rows[-1][0]),
        )

    def count(self) -> tuple[int, float | None]:
        row = self.backend.run(
            self._connection().cursor(), "SELECT count(*), min(received_at) FROM inbox WHERE id > $1",
            (self._applied_upto(),),
        ).fetchone()
        return row[0], row[1]

    def next_id(self) -> int | None:
        return self.backend.run(
            self._connection().cursor(), "SELECT min(id) FROM inbox WHERE id > $1", (self._applied_upto(),)
        ).fetchone()[0]


class Inbox:
    """Receives events (the web process) and applies them in arrival order (the background)."""

    def __init__(self, backend, events):
        self.backend = backend
        self.events = events
        if backend.dialect == "postgresql":
            self.queue = PostgresQueue(backend)
        else:
            self.queue = SQLiteQueue(backend, new_store=backend.version_before == 0)

    def receive(self, events: list[AnnotationSeen | AnnotationsDeleted], now: float | None = None) -> None:
        """Commit events to the inbox in one statement, in order: a webhook is answered after this."""
        self.queue.receive(events, time.time() if now is None else now)

    def apply_received(
        self, every: int, *, scheduling: str = LIVE, rules: pacing.PacingRules = pacing.NO_NUDGES,
        limit: int = 256, now: float | None = None,
    ) -> Applied:
        """Apply the oldest events waiting (at most `limit`) as record_events does, and mark them
        applied, in one transaction: each applies once, in arrival order."""
        if scheduling not in SCHEDULINGS:
            raise ValueError(f"scheduling must be one of {SCHEDULINGS}")
        with self.backend.transaction(batch=True) as cur:
            rows = self.queue.take(cur, limit)
            if not rows:
                return Applied()
            events = [decode(event) for _, _, event in rows]
            recorded = self.events.record_on(cur, events, every, time.time() if now is None else now, scheduling, rules)
            self.queue.mark_applied(cur, rows)
        return Applied(len(rows), recorded)

    def set_aside(self, inbox_id: int, error: str, now: float | None = None) -> bool:
        """Move the oldest waiting event, if it is still `inbox_id`, out of the inbox into `set_aside`,
        with the name of the error it fails with on its own; False if it is not (another worker
        process applied it meanwhile)."""
        with self.backend.transaction() as cur:
            rows = self.queue.take(cur, 1)
            if [row[0] for row in rows] != [inbox_id]:
                return False
            [(_, received_at, event)] = rows
            self.backend.run(
                cur,
                "INSERT INTO set_aside (inbox_id, received_at, event, error, set_aside_at) VALUES ($1, $2, $3, $4, $5)",
                (inbox_id, received_at, event, error[:200], time.time() if now is None else now),
            )
            self.queue.mark_applied(cur, rows)
        return True

    def next_received(self) -> int | None:
        """The inbox id of the oldest event waiting (None: nothing waits)."""
        return self.queue.next_id()

    def waiting(self) -> InboxState:
        """How many received events wait to be applied, since when, and how many were set aside."""
        waiting, oldest = self.queue.count()
        with self.backend.transaction(write=False) as cur:
            set_aside = self.backend.run(cur, "SELECT count(*) FROM set_aside").fetchone()[0]
        return InboxState(waiting, oldest, set_aside)

    def anything_received(self) -> bool:
        """Whether an event waits in the inbox (a cheap look, for an idle applier)."""
        return self.next_received() is not None
