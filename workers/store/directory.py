"""Who is who: Label Studio users and their Slack users as the worker found them, and pauses.

The worker keeps reviewers' emails and names (`reviewers`) and which Slack user an email belongs
to (`slack_users`) so that a check-in reaches the right DM without asking Label Studio and Slack
again for every message; docs/worker.md says what that means for personal data.
"""

from __future__ import annotations

import time

from workers.store.records import Reviewer


class Directory:
    """The worker's cache of reviewers and Slack users, and who paused check-ins."""

    def __init__(self, backend):
        self.backend = backend

    def cache_reviewer(self, reviewer: Reviewer, now: float | None = None) -> None:
        """Remember a Label Studio user's email and name."""
        now = time.time() if now is None else now
        with self.backend.transaction() as cur:
            self.backend.run(
                cur,
                "INSERT INTO reviewers (reviewer, email, name, fetched_at) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT (reviewer) DO UPDATE SET email = excluded.email, name = excluded.name,"
                " fetched_at = excluded.fetched_at",
                (reviewer.reviewer, reviewer.email, reviewer.name, now),
            )

    def reviewers(self) -> dict[int, Reviewer]:
        """Every cached Label Studio user by id."""
        with self.backend.transaction(write=False) as cur:
            rows = self.backend.run(cur, "SELECT reviewer, email, name FROM reviewers").fetchall()
        return {row[0]: Reviewer(*row) for row in rows}

    def cached_reviewer(self, reviewer: int) -> Reviewer | None:
        """A cached Label Studio user, or None."""
        with self.backend.transaction(write=False) as cur:
            row = self.backend.run(cur, "SELECT reviewer, email, name FROM reviewers WHERE reviewer = $1", (reviewer,)).fetchone()
        return Reviewer(*row) if row else None

    def cache_slack_user(self, email: str, slack_user_id: str, now: float | None = None) -> None:
        """Remember the Slack user found for an email."""
        now = time.time() if now is None else now
        with self.backend.transaction() as cur:
            self.backend.run(
                cur,
                "INSERT INTO slack_users (email, slack_user_id, looked_up_at) VALUES ($1, $2, $3)"
                " ON CONFLICT (email) DO UPDATE SET slack_user_id = excluded.slack_user_id,"
                " looked_up_at = excluded.looked_up_at",
                (email.lower(), slack_user_id, now),
            )

    def cached_slack_user(self, email: str) -> str | None:
        """The Slack user id found earlier for an email, or None."""
        with self.backend.transaction(write=False) as cur:
            row = self.backend.run(cur, "SELECT slack_user_id FROM slack_users WHERE email = $1", (email.lower(),)).fetchone()
        return row[0] if row else None

    def set_paused(self, slack_user_id: str, paused: bool, now: float | None = None) -> None:
        """Pause or resume check-ins for a Slack user."""
        now = time.time() if now is None else now
        with self.backend.transaction() as cur:
            if paused:
                self.backend.run(
                    cur,
                    "INSERT INTO pauses (slack_user_id, paused_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    (slack_user_id, now),
                )
            else:
                self.backend.run(cur, "DELETE FROM pauses WHERE slack_user_id = $1", (slack_user_id,))

    def is_paused(self, slack_user_id: str) -> bool:
        """Whether this Slack user paused check-ins."""
        with self.backend.transaction(write=False) as cur:
            return self.backend.run(cur, "SELECT 1 FROM pauses WHERE slack_user_id = $1", (slack_user_id,)).fetchone() is not None
