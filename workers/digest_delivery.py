"""When the lead's daily digest is due: once a day, after DIGEST_AT (the worker's local time), to
LEAD_SLACK_CHANNEL, across every worker process sharing one store.

The digest is a message of the outbox (kind 'digest', its subject the day; workers/outbox.py
posts it exactly once, as it posts check-ins). This module only makes it due: the first process
past DIGEST_AT adds the day's message (the outbox's uniqueness keeps it to one), and every
process then tries to deliver that day's message now, which the outbox's claim gives to one.

Only that day is ever posted: a day whose digest never went out is covered by the next day's,
which counts from the last digest posted; an older day still pending is marked missed.
While bad credentials have stopped delivery, no digest is posted.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from datetime import time as time_of_day

from workers.outbox import OutboxSender

log = logging.getLogger(__name__)

DIGEST = "digest"
# Seconds between the digest thread's looks at the clock and the store.
DIGEST_POLL_SECONDS = 30.0
# Reading the lead's channel's history needs channels:history (groups:history for a private
# channel). Check-ins never need them, so the credentials probe does not require them.
HISTORY_SCOPES = frozenset({"channels:history", "groups:history"})


@dataclass
class DigestPoster:
    """Makes each day's digest due after `at` (local time), to `channel`, and delivers it through
    the sender's outbox; safe in several processes."""

    sender: OutboxSender
    channel: str
    at: time_of_day
    reviewers_per_task: int
    _done_day: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.sender.reviewers_per_task = self.reviewers_per_task

    @property
    def store(self):
        return self.sender.store

    def post_if_due(self, now: float | None = None) -> str | None:
        """Post today's digest if it is due and no process holds it; returns what happened, or None."""
        # The digest's module loads the agreement code (scipy, pandas: about 1 s): only when one is due.
        from workers.digest import due_day

        now = time.time() if now is None else now
        day = due_day(datetime.fromtimestamp(now), self.at)
        # Cheap until due: the clock, then one read; after the day is settled, the clock alone.
        if day is None or day == self._done_day or self.store.outbox.delivery_stopped() is not None:
            return None
        message = self.store.outbox.find(DIGEST, subject=day)
        if message is None:
            if self.store.outbox.enqueue(DIGEST, subject=day, recipient=self.channel, now=now) is not None:
                self.store.outbox.skip_pending_before(DIGEST, day, "a later day's digest covers it")
        elif message.status in ("sent", "failed", "missed"):
            self._done_day = day
            return None
        # A claim older than the claim timeout belongs to a worker that died or stalled mid-post.
        self.store.outbox.release_stale_claims(now - self.sender.claim_timeout_seconds, kinds=(DIGEST,))
        outcome = self.sender.deliver_next((DIGEST,), subject=day, now=now)
        if outcome is not None and (outcome.startswith(("posted", "found", "failed"))):
            self._done_day = day
        return outcome
