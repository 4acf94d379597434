"""Check-ins and their answers: the outbox's messages of the check-in kinds, read for the lead.

A check-in (the survey every N tasks) or a pacing nudge is made due by counting (events.py) and
delivered by the outbox (workers/outbox.py); here are what the lead's summaries read, promoting
a missed milestone after a first sync, and the reviewer's answers (one per check-in, ever).
"""

from __future__ import annotations

import time

from workers import pacing
from workers.store.backend import marks
from workers.store.outbox import STATUSES, Outbox
from workers.store.records import CheckIn, StoredAnswer
from workers.survey import ITEMS, SurveyAnswer, column

# The outbox's kinds that are check-ins: the survey every N tasks and the pacing nudges.
CHECKIN_KINDS = (pacing.MILESTONE, *pacing.NUDGES)
_ITEM_COLUMNS = ", ".join(column(item) for item in ITEMS)


class CheckIns:
    """The check-ins in the outbox, and the answers to them."""

    def __init__(self, backend, outbox: Outbox):
        self.backend = backend
        self.outbox = outbox

    def all(self, statuses: tuple[str, ...] = STATUSES) -> list[CheckIn]:
        """All check-ins and nudges in the given statuses, oldest first."""
        return self.outbox.messages(CHECKIN_KINDS, statuses, record=CheckIn)

    def get(self, checkin_id: int) -> CheckIn | None:
        """One check-in by id (None for an id that is not a check-in)."""
        message = self.outbox.message(checkin_id)
        if message is None or message.kind not in CHECKIN_KINDS:
            return None
        return CheckIn(**vars(message))

    def retry_failed(self, now: float | None = None) -> int:
        """Return every failed check-in to pending (after the cause was fixed)."""
        return self.outbox.retry_failed(CHECKIN_KINDS, now)

    def promote_latest_missed(self, project: int, since: float, now: float | None = None) -> int:
        """After a first sync: each reviewer's highest milestone missed since `since` becomes a
        pending check-in, unless one is already pending or sent for a later milestone. Returns how many."""
        now = time.time() if now is None else now
        with self.backend.transaction() as cur:
            return self.backend.run(
                cur,
                "UPDATE outbox SET status = 'pending', last_error = NULL, next_attempt_at = $3"
                " WHERE id IN (SELECT c.id FROM outbox c WHERE c.project = $1 AND c.status = 'missed'"
                " AND c.kind = 'milestone' AND c.due_at >= $2 AND c.milestone = (SELECT max(m.milestone)"
                " FROM outbox m WHERE m.project = c.project AND m.reviewer = c.reviewer AND m.kind = 'milestone')"
                ")",
                (project, since, now),
            ).rowcount

    def mark_declined(self, checkin_id: int, now: float | None = None) -> None:
        """The reviewer pressed "Not now" (kept for the response rate)."""
        now = time.time() if now is None else now
        with self.backend.transaction() as cur:
            self.backend.run(
                cur, "UPDATE outbox SET declined_at = $1 WHERE id = $2 AND declined_at IS NULL", (now, checkin_id)
            )

    def record_answer(self, checkin_id: int, answer: SurveyAnswer, now: float | None = None) -> bool:
        """Store the first answer to a check-in; False if it was already answered."""
        now = time.time() if now is None else now
        values = tuple(answer.scores.get(item) for item in ITEMS)
        items = marks(3, len(ITEMS))
        with self.backend.transaction() as cur:
            return (
                self.backend.run(
                    cur,
                    f"INSERT INTO answers (checkin_id, answered_at, {_ITEM_COLUMNS}, comment)"
                    f" VALUES ($1, $2, {items}, ${3 + len(ITEMS)}) ON CONFLICT DO NOTHING",
                    (checkin_id, now, *values, answer.comment),
                ).rowcount
                == 1
            )

    def mark_lead_alerted(self, checkin_id: int, now: float | None = None) -> bool:
        """Note that the lead was told about this answer; False if someone already did."""
        now = time.time() if now is None else now
        with self.backend.transaction() as cur:
            return (
                self.backend.run(
                    cur,
                    "UPDATE answers SET lead_alerted_at = $1 WHERE checkin_id = $2 AND lead_alerted_at IS NULL",
                    (now, checkin_id),
                ).rowcount
                == 1
            )

    def answers(self) -> list[StoredAnswer]:
        """Every answer with its check-in's project, reviewer and milestone."""
        with self.backend.transaction(write=False) as cur:
            rows = self.backend.run(
                cur,
                f"SELECT a.checkin_id, c.project, c.reviewer, c.milestone, a.answered_at, {_ITEM_COLUMNS}, a.comment,"
                " c.kind"
                " FROM answers a JOIN outbox c ON c.id = a.checkin_id ORDER BY a.answered_at, a.checkin_id",
            ).fetchall()
        return [
            StoredAnswer(
                checkin_id=row[0], project=row[1], reviewer=row[2], milestone=row[3], answered_at=row[4],
                answer=SurveyAnswer(scores=dict(zip(ITEMS, row[5:5 + len(ITEMS)])), comment=row[5 + len(ITEMS)]),
                kind=row[6 + len(ITEMS)],
            )
            for row in rows
        ]

    def is_answered(self, checkin_id: int) -> bool:
        """Whether the check-in already has an answer."""
        with self.backend.transaction(write=False) as cur:
            return self.backend.run(cur, "SELECT 1 FROM answers WHERE checkin_id = $1", (checkin_id,)).fetchone() is not None
