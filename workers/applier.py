"""Applying the inbox: received webhooks become counts, ledger rows, pacing and check-ins.

The webhook answers once its event is in the inbox (inbox.py); this applies the inbox in
arrival order, a batch per transaction (store.inbox.apply_received), and tells delivery when a
check-in or a nudge fell due. One event the store refuses must not hold up the others behind
it: a batch that fails is applied one event at a time, and an event that fails on its own while
the store answers is set aside (moved to the store's `set_aside` table with its error's name,
logged once). If the store itself is down nothing is set aside: the events wait, and are
applied once it is back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from workers.pacing import NO_NUDGES, PacingRules
from workers.store import LIVE, Applied, Store

log = logging.getLogger(__name__)

# Events per transaction at most: a backlog drains in large batches (cheaper per event), while
# one transaction still holds the reviewers' locks for a few milliseconds only.
APPLY_BATCH = 256


class InboxApplier:
    """Applies the store's inbox; `on_due` is called when what it applied made a check-in due."""

    def __init__(
        self, store: Store, every: int, *, scheduling: str = LIVE, rules: PacingRules = NO_NUDGES,
        on_due: Callable[[], None] = lambda: None, batch: int = APPLY_BATCH,
    ):
        self.store = store
        self.every = every
        self.scheduling = scheduling
        self.rules = rules
        self.on_due = on_due
        self.batch = batch

    def apply_once(self) -> int:
        """Apply the oldest waiting events (one batch); returns how many (0: none waiting, or
        another process is applying). Raises only when the store itself fails."""
        try:
            applied = self._apply(limit=self.batch)
        except Exception as error:
            log.warning("applying a batch of received events failed (%s); applying them one at a time",
                        error.__class__.__name__)
            applied = self._one_at_a_time()
        if applied.checkins_due:
            self.on_due()
        return applied.events

    def drain(self) -> int:
        """Apply until nothing waits (as a worker stops); returns how many were applied."""
        total = 0
        while (count := self.apply_once()) > 0:
            total += count
        return total

    def _apply(self, limit: int) -> Applied:
        return self.store.inbox.apply_received(self.every, scheduling=self.scheduling, rules=self.rules, limit=limit)

    def _one_at_a_time(self) -> Applied:
        recorded, events = [], 0
        for _ in range(self.batch):
            inbox_id = self.store.inbox.next_received()
            try:
                applied = self._apply(limit=1)
            except Exception as error:
                self.store.ping()  # the store itself is down: raise, set nothing aside
                if self.store.inbox.set_aside(inbox_id, error.__class__.__name__):
                    log.error("received event %s set aside: it fails to apply on its own (%s); the others go on",
                              inbox_id, error.__class__.__name__)
                continue
            if not applied.events:
                break
            recorded += applied.recorded
            events += applied.events
        return Applied(events, recorded)
