"""The worker's durable store: SQLite (default) or PostgreSQL, one part per job.

A Store is a backend (backend.py: connections, transactions, locks, the SQL dialect) and the
parts that use it, each a module to read top to bottom:

    store.inbox      inbox.py      webhooks' events, committed at once and applied in arrival order
    store.events     events.py     recording events: exposures, the ledger's rows, pacing, check-ins due
                     counting.py   counting a batch (milestones, pacing, nudges): pure, no SQL
    store.ledger     ledger.py     the review's ledger: its rows and their upkeep by catch-up
                     ledger_reads.py  the lead's reads of it: status's counts in SQL, the table column-wise
    store.outbox     outbox.py     every message the service posts, claimed and recorded exactly once
    store.checkins   checkins.py   the check-ins among them, and the reviewers' answers
    store.directory  directory.py  who is who: Label Studio users, Slack users, pauses
    store.consents   consents.py   the consent texts, and who was invited, consented, declined, withdrew
                     migrations.py the schema's history, applied when a store opens
                     records.py    what the parts return

Every guarantee the worker makes rests on a constraint in the database, not on process-local
state (each module says which); several worker processes may share one PostgreSQL store.
"""

from __future__ import annotations

from workers.store.backend import MIN_SQLITE, STORE_WAIT_SECONDS, StoreUnreachable, open_backend
from workers.store.checkins import CHECKIN_KINDS, CheckIns
from workers.store.consents import Consents
from workers.store.counting import LATEST, LIVE, MISSED, MISSED_REASONS, SCHEDULINGS
from workers.store.directory import Directory
from workers.store.events import Events
from workers.store.inbox import Inbox
from workers.store.ledger import Ledger
from workers.store.outbox import STATUSES, Outbox
from workers.store.records import (
    Applied,
    CheckIn,
    Consent,
    InboxState,
    Message,
    Recorded,
    Reviewer,
    StoredAnswer,
)

__all__ = [
    "CHECKIN_KINDS", "LATEST", "LIVE", "MISSED", "MISSED_REASONS", "MIN_SQLITE", "SCHEDULINGS", "STATUSES",
    "STORE_WAIT_SECONDS", "Applied", "CheckIn", "Consent", "InboxState", "Message", "Recorded", "Reviewer", "Store",
    "StoreUnreachable", "StoredAnswer", "open_store",
]


class Store:
    """One store: a backend and its parts (see the module's docstring)."""

    def __init__(self, backend):
        self.backend = backend
        self.events = Events(backend)
        self.inbox = Inbox(backend, self.events)
        self.ledger = Ledger(backend, self.events)
        self.outbox = Outbox(backend)
        self.checkins = CheckIns(backend, self.outbox)
        self.directory = Directory(backend)
        self.consents = Consents(backend)

    def ping(self) -> None:
        """Raise if the database cannot answer a query."""
        with self.backend.transaction(write=False) as cur:
            self.backend.run(cur, "SELECT 1 FROM outbox LIMIT 1")

    def unavailable(self, error: BaseException) -> bool:
        """Whether `error` says the database cannot be reached (as opposed to a bad event)."""
        return self.backend.unavailable(error)

    def close(self) -> None:
        """Release connections."""
        self.backend.close()


def open_store(database_url: str, create: bool = True, wait_seconds: float = STORE_WAIT_SECONDS) -> Store:
    """Open the store named by DATABASE_URL (sqlite:///path or postgresql://...); create=False for readers.

    wait_seconds : how long a PostgreSQL caller waits for a connection before failing (store down).
    """
    backend = open_backend(database_url, create, wait_seconds)
    try:
        return Store(backend)
    except BaseException:
        backend.close()
        raise
