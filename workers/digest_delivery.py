"""Post the lead's daily digest to LEAD_SLACK_CHANNEL once a day, across every worker process
sharing one store, with the check-ins' delivery rules (slack_delivery.py).

- Due when the worker's local time has passed DIGEST_AT and the day's row in `digests` is not
  posted (or failed). The process whose INSERT of the day's row succeeds (its primary key) holds
  the day; the others find the row and do nothing.
- Just before posting, the holder commits post_started_at (store.begin_digest_post, which also
  confirms it still holds the day). The message carries the day in Slack message metadata (event
  type `lead_digest`), and chat.postMessage is sent once, never retried by the client.
- A post without a clear answer (timeout, dropped connection, 5xx), a 429 or another passing
  failure puts the day back to 'pending' with a not-before time; a claim older than the claim
  timeout (its worker died or stalled) is taken over. Either way, a day with post_started_at is
  looked for in the channel's history (conversations.history with metadata) before any new post.
- Bad credentials stop delivery for everyone, as for check-ins; while delivery is stopped no
  digest is posted. Nothing here sleeps.

Only that day is ever posted: a day whose digest never went out is covered by the next day's,
which counts from the last digest posted.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from datetime import time as time_of_day

from workers.digest import digest_text, due_day, read_digest
from workers.messages import slack_text
from workers.slack_delivery import (
    HISTORY_MARGIN_SECONDS,
    CheckInSender,
    CredentialsFailure,
    PermanentFailure,
    TransientFailure,
    find_posted,
    post_once,
    retry_time,
)
from workers.store import DayDigest

log = logging.getLogger(__name__)

DIGEST_EVENT = "lead_digest"
# Seconds between the digest thread's looks at the clock and the store.
DIGEST_POLL_SECONDS = 30.0
# Reading the lead's channel's history needs channels:history (groups:history for a private
# channel). Check-ins never need them, so the credentials probe does not require them.
HISTORY_SCOPES = frozenset({"channels:history", "groups:history"})


@dataclass
class DigestPoster:
    """Posts each day's digest once, after `at` (local time), to `channel`; safe in several processes.

    It shares the check-in sender's store, Slack clients, worker id, retry timings and the stop
    for bad credentials.
    """

    sender: CheckInSender
    channel: str
    at: time_of_day
    reviewers_per_task: int
    _done_day: str | None = field(default=None, repr=False)

    @property
    def store(self):
        return self.sender.store

    def post_if_due(self, now: float | None = None) -> str | None:
        """Post today's digest if it is due and no process holds the day; returns what happened, or None."""
        now = time.time() if now is None else now
        day = due_day(datetime.fromtimestamp(now), self.at)
        # Cheap until due: the clock, then one read; after the day is settled, the clock alone.
        if day is None or day == self._done_day or self.store.delivery_stopped() is not None:
            return None
        row = self.store.digest(day)
        if row is not None and row.status in ("posted", "failed"):
            self._done_day = day
            return None
        claim = self.store.claim_digest(day, self.sender.worker_id, now, now - self.sender.claim_timeout_seconds)
        if claim is None:
            return None  # another process holds the day, or it waits for its not-before time
        outcome = self._attempt(claim, now)
        log.info("lead digest for %s: %s", day, outcome)
        return outcome

    def _attempt(self, claim: DayDigest, now: float) -> str:
        worker = self.sender.worker_id
        try:
            return self._deliver(claim, now)
        except PermanentFailure as failure:
            self.store.mark_digest_failed(claim.day, worker, str(failure))
            self._done_day = claim.day
            return f"failed: {failure}"
        except CredentialsFailure as failure:
            if failure.method == "conversations.history" and failure.code == "missing_scope":
                # Only the digest needs a channel's history: this must not stop the check-ins.
                self.store.mark_digest_failed(claim.day, worker, str(failure))
                self._done_day = claim.day
                log.error("lead digest for %s not posted: conversations.history answered missing_scope; add"
                          " channels:history and groups:history to the Slack app and reinstall it (docs/worker.md)",
                          claim.day)
                return f"failed: {failure}"
            # Due again as soon as delivery resumes (store.delivery_stopped gates every attempt).
            self.store.mark_digest_retry(claim.day, worker, str(failure), time.time())
            self.sender.stop_for_credentials(failure)
            return f"waits for Slack delivery to resume ({failure})"
        except TransientFailure as failure:
            retry_at = retry_time(failure, claim.attempts, time.time(), base=self.sender.retry_base_seconds,
                                  maximum=self.sender.retry_max_seconds, post_timeout=self.sender.clients.post.timeout)
            self.store.mark_digest_retry(claim.day, worker, str(failure), retry_at)
            return f"stays pending ({failure}); next try in {retry_at - time.time():.0f} s"

    def _deliver(self, claim: DayDigest, now: float) -> str:
        clients, worker = self.sender.clients, self.sender.worker_id
        if claim.post_started_at is not None:
            # An earlier post may be in the channel it went to: look before posting again.
            where = claim.channel or self.channel
            oldest = claim.post_started_at - HISTORY_MARGIN_SECONDS
            ts = find_posted(clients.lookup, where, oldest, DIGEST_EVENT, "day", claim.day)
            if ts is not None:
                self._record_posted(claim.day, where, ts)
                return f"found in {where}, recorded as posted (not posted again)"
        try:
            text = digest_text(read_digest(self.store, claim.day, now, self.reviewers_per_task, before_day=claim.day))
        except Exception as error:  # the store or the numbers failed: the day stays due, later
            raise TransientFailure(f"reading the digest: {error.__class__.__name__}") from None
        if not self.store.begin_digest_post(claim.day, worker, self.channel):
            return "not posted: this worker's claim expired first; the worker that holds the day posts it"
        metadata = {"event_type": DIGEST_EVENT, "event_payload": {"day": claim.day}}
        ts = post_once(clients.post, self.channel, metadata, where="the channel", text=slack_text(text), mrkdwn=False)
        self._record_posted(claim.day, self.channel, ts)
        return f"posted to {self.channel}"

    def _record_posted(self, day: str, channel: str, ts: str) -> None:
        self._done_day = day
        if not self.store.mark_digest_posted(day, self.sender.worker_id, channel, ts):
            # Another worker took the day over; it reads the channel's history and finds this post.
            log.warning("lead digest for %s posted, but the day had passed to another worker, which will record it",
                        day)
