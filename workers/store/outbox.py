"""The outbox: every message the service posts, each delivered exactly once (workers/outbox.py).

A message's life: pending -> sending (claimed) -> sent | pending (retry) | failed | paused.
Each step is one atomic UPDATE that names the claim's holder, so:
- claim: one worker takes a due message; several processes never take the same one;
- begin_post: just before chat.postMessage the holder renews its claim and commits
  post_started_at (a post may reach Slack from now on) and the channel it posts to;
- a claim older than the claim timeout (its worker died or stalled) goes back to pending with
  post_started_at set, so whoever claims it next reads the channel's history before posting;
- only the claim's holder can record the outcome (mark_sent, mark_retry, ...).
Delivery can also be stopped for everyone by bad Slack credentials: one row, `slack_delivery`.
"""

from __future__ import annotations

import time

from workers.store.backend import marks
from workers.store.records import Message

STATUSES = ("pending", "sending", "sent", "failed", "paused", "missed")
_COLUMNS = (
    "id, project, reviewer, milestone, status, attempts, due_at, next_attempt_at, last_error, slack_user_id,"
    " channel, sent_at, declined_at, post_started_at, kind, subject, recipient, claimed_by, claimed_at, message_ts"
)


class Outbox:
    """The outbox's rows and the delivery stop, each call in a transaction of its own."""

    def __init__(self, backend):
        self.backend = backend

    def _one(self, sql: str, params: tuple = ()) -> int:
        """Run one writing statement on its own; returns how many rows it changed."""
        with self.backend.statement() as cur:
            return self.backend.run(cur, sql, params).rowcount

    # -- adding and reading ----------------------------------------------------------------------
    def enqueue(
        self, kind: str, *, project: int = 0, reviewer: int = 0, milestone: int = 0, subject: str = "",
        recipient: str | None = None, now: float | None = None,
    ) -> int | None:
        """Add a message, due now; returns its id, or None if that message was already there."""
        now = time.time() if now is None else now
        with self.backend.statement() as cur:
            row = self.backend.run(
                cur,
                "INSERT INTO outbox (kind, project, reviewer, milestone, subject, recipient, status, due_at,"
                " next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $7) ON CONFLICT DO NOTHING"
                " RETURNING id",
                (kind, project, reviewer, milestone, subject, recipient, now),
            ).fetchone()
        return row[0] if row else None

    def find(self, kind: str, *, project: int = 0, reviewer: int = 0, milestone: int = 0,
             subject: str = "") -> Message | None:
        """The message of this kind about this subject, or None."""
        with self.backend.transaction(write=False) as cur:
            row = self.backend.run(
                cur,
                f"SELECT {_COLUMNS} FROM outbox WHERE kind = $1 AND project = $2 AND reviewer = $3"
                " AND milestone = $4 AND subject = $5",
                (kind, project, reviewer, milestone, subject),
            ).fetchone()
        return Message(*row) if row else None

    def message(self, message_id: int) -> Message | None:
        """One message by id."""
        with self.backend.transaction(write=False) as cur:
            row = self.backend.run(cur, f"SELECT {_COLUMNS} FROM outbox WHERE id = $1", (message_id,)).fetchone()
        return Message(*row) if row else None

    def messages(self, kinds: tuple[str, ...], statuses: tuple[str, ...] = STATUSES, record=Message) -> list:
        """Every message of these kinds in these statuses, by due time, as `record`s."""
        with self.backend.transaction(write=False) as cur:
            rows = self.backend.run(
                cur,
                f"SELECT {_COLUMNS} FROM outbox WHERE kind IN ({marks(1, len(kinds))})"
                f" AND status IN ({marks(len(kinds) + 1, len(statuses))}) ORDER BY due_at, id",
                (*kinds, *statuses),
            ).fetchall()
        return [record(*row) for row in rows]

    def last_sent_at(self, kind: str, before_subject: str | None = None) -> float | None:
        """When the latest message of `kind` was sent (of a subject before `before_subject`), or None."""
        with self.backend.transaction(write=False) as cur:
            row = self.backend.run(
                cur,
                "SELECT max(sent_at) FROM outbox WHERE kind = $1 AND status = 'sent' AND ($2 = '' OR subject < $2)",
                (kind, before_subject or ""),
            ).fetchone()
        return row[0] if row else None

    def skip_pending_before(self, kind: str, subject: str, reason: str) -> int:
        """Messages of `kind` still pending for a subject before `subject` will never be sent (missed)."""
        return self._one(
            "UPDATE outbox SET status = 'missed', last_error = $3 WHERE kind = $1 AND subject < $2"
            " AND status = 'pending'",
            (kind, subject, reason),
        )

    # -- the claim --------------------------------------------------------------------------------
    def claim(self, worker: str, kinds: tuple[str, ...], now: float | None = None,
              subject: str | None = None) -> Message | None:
        """Atomically take the next due pending message of these kinds (about `subject`, if given)."""
        now = time.time() if now is None else now

        def due(first: int) -> str:
            # The due messages' condition, its parameters (now, subject, kinds) numbered from $first.
            return (f"status = 'pending' AND next_attempt_at <= ${first} AND (${first + 1} = '' OR subject = ${first + 1})"
                    f" AND kind IN ({marks(first + 2, len(kinds))})")

        wanted = (now, subject or "", *kinds)
        # Most passes find nothing due: ask in a read transaction first, so that an empty pass
        # never takes SQLite's write lock (and an fsync) from the webhooks.
        with self.backend.transaction(write=False) as cur:
            if self.backend.run(cur, f"SELECT 1 FROM outbox WHERE {due(1)} LIMIT 1", wanted).fetchone() is None:
                return None
        with self.backend.statement() as cur:
            row = self.backend.run(
                cur,
                "UPDATE outbox SET status = 'sending', claimed_by = $1, claimed_at = $2, attempts = attempts + 1"
                f" WHERE status = 'pending' AND id = (SELECT id FROM outbox WHERE {due(2)}"
                f" ORDER BY next_attempt_at, id LIMIT 1{self.backend.skip_locked})"
                f" RETURNING {_COLUMNS}",
                (worker, *wanted),
            ).fetchone()
        return Message(*row) if row else None

    def release_stale_claims(self, older_than: float, kinds: tuple[str, ...] | None = None) -> int:
        """Return messages claimed before `older_than` (a worker died or stalled mid-send) to pending,
        marked as possibly posted (post_started_at), so they are looked for in Slack first."""
        kinds_sql = f" AND kind IN ({marks(2, len(kinds))})" if kinds else ""
        with self.backend.transaction() as cur:
            return self.backend.run(
                cur,
                "UPDATE outbox SET status = 'pending', claimed_by = NULL,"
                " post_started_at = coalesce(post_started_at, claimed_at),"
                " last_error = 'claim expired: a worker stopped while sending'"
                f" WHERE status = 'sending' AND claimed_at < $1{kinds_sql}",
                (older_than, *(kinds or ())),
            ).rowcount

    def begin_post(self, message_id: int, worker: str, channel: str, now: float | None = None) -> bool:
        """Just before chat.postMessage: renew this worker's claim and record that a post may reach
        `channel`; False if the claim was lost (another worker took it over) and nothing must be posted."""
        now = time.time() if now is None else now
        return self._one(
            "UPDATE outbox SET claimed_at = $3, post_started_at = coalesce(post_started_at, $3), channel = $4"
            " WHERE id = $1 AND status = 'sending' AND claimed_by = $2",
            (message_id, worker, now, channel),
        ) == 1

    def _finish(self, message_id: int, worker: str, sql_set: str, params: tuple) -> bool:
        # $1 and $2 are the message and its claimer; `sql_set` numbers its own values from $3.
        return self._one(
            f"UPDATE outbox SET {sql_set}, claimed_by = NULL WHERE id = $1 AND status = 'sending' AND claimed_by = $2",
            (message_id, worker, *params),
        ) == 1

    def mark_sent(self, message_id: int, worker: str, slack_user_id: str | None, channel: str, ts: str,
                  now: float | None = None) -> bool:
        """Record that Slack accepted the message (only the claim's holder can)."""
        now = time.time() if now is None else now
        return self._finish(
            message_id, worker,
            "status = 'sent', slack_user_id = $3, channel = $4, message_ts = $5, sent_at = $6, last_error = NULL",
            (slack_user_id, channel, ts, now),
        )

    def mark_retry(self, message_id: int, worker: str, error: str, retry_at: float) -> bool:
        """Put a claimed message back to pending, to be tried again at `retry_at` by any worker."""
        return self._finish(
            message_id, worker, "status = 'pending', last_error = $3, next_attempt_at = $4", (error[:200], retry_at)
        )

    def mark_failed(self, message_id: int, worker: str, error: str) -> bool:
        """Give up on a message that cannot be delivered without a fix (e.g. no Slack user)."""
        return self._finish(message_id, worker, "status = 'failed', last_error = $3", (error[:200],))

    def mark_paused(self, message_id: int, worker: str, slack_user_id: str) -> bool:
        """Skip a message because its reviewer paused check-ins."""
        return self._finish(
            message_id, worker, "status = 'paused', slack_user_id = $3, last_error = NULL", (slack_user_id,)
        )

    def mark_missed(self, message_id: int, worker: str, reason: str) -> bool:
        """Never send a claimed message (e.g. a check-in for a reviewer who stopped reviewing)."""
        return self._finish(message_id, worker, "status = 'missed', last_error = $3", (reason[:200],))

    def retry_failed(self, kinds: tuple[str, ...], now: float | None = None) -> int:
        """Return every failed message of these kinds to pending (after the cause was fixed)."""
        now = time.time() if now is None else now
        return self._one(
            f"UPDATE outbox SET status = 'pending', next_attempt_at = $1 WHERE status = 'failed'"
            f" AND kind IN ({marks(2, len(kinds))})",
            (now, *kinds),
        )

    # -- delivery stopped by bad Slack credentials (one row, seen by every process) --------------
    def delivery_stopped(self) -> str | None:
        """The Slack error code that stopped delivery (e.g. invalid_auth), or None while it runs."""
        with self.backend.transaction(write=False) as cur:
            row = self.backend.run(cur, "SELECT stopped_reason FROM slack_delivery WHERE id = 1").fetchone()
        return row[0] if row else None

    def stop_delivery(self, reason: str, now: float | None = None) -> bool:
        """Stop delivery for every worker, or restate why; True only for the call that stopped it."""
        now = time.time() if now is None else now
        with self.backend.transaction() as cur:
            stopped = self.backend.run(
                cur,
                "UPDATE slack_delivery SET stopped_reason = $1, stopped_at = $2, probed_at = $2"
                " WHERE id = 1 AND stopped_reason IS NULL",
                (reason, now),
            ).rowcount
            if not stopped:
                self.backend.run(cur, "UPDATE slack_delivery SET stopped_reason = $1 WHERE id = 1", (reason,))
        return stopped == 1

    def claim_credentials_probe(self, every: float, now: float | None = None, force: bool = False) -> bool:
        """While stopped, True for the one worker that should ask auth.test now (at most once per `every` s)."""
        now = time.time() if now is None else now
        return self._one(
            "UPDATE slack_delivery SET probed_at = $1 WHERE id = 1 AND stopped_reason IS NOT NULL"
            " AND ($3 = 1 OR probed_at IS NULL OR probed_at <= $2)",
            (now, now - every, int(force)),
        ) == 1

    def resume_delivery(self) -> bool:
        """Clear the stop; True only for the call that cleared it."""
        return self._one(
            "UPDATE slack_delivery SET stopped_reason = NULL, stopped_at = NULL WHERE id = 1 AND stopped_reason IS NOT NULL"
        ) == 1
