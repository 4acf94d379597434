"""Reviewers' consent: the texts they were shown, and what each person did, as an append-only log.

`consent_texts` keeps every consent text by its version (the first 16 hex characters of the
sha256 of the exact text), so a recorded consent always names the words the person agreed to.
`consent_events` is a log, never updated: invited, consented, declined, withdrawn. A person's
state is their latest event; an older consent stays recorded when they are asked again.
People are known by their email, lower-cased; nothing here holds transcript text.
A unique index lets `invite` record one invitation per email and text, even from several processes.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable

from workers.store.backend import marks
from workers.store.records import Consent

INVITED, CONSENTED, DECLINED, WITHDRAWN = "invited", "consented", "declined", "withdrawn"
# What `record` accepts: the person's own answers (or the lead's record of them), not invitations.
ANSWERS = (CONSENTED, DECLINED, WITHDRAWN)
_EVENTS = (INVITED, *ANSWERS)
_COLUMNS = "email, slack_user_id, event, text_version, recorded_by, at"


def text_version(text: str) -> str:
    """The version of a consent text: the first 16 hex characters of the sha256 of its exact bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def standings(events: Iterable[tuple]) -> dict[str, Consent]:
    """Each person's standing from their events (rows of `_COLUMNS`, oldest first): pure, no SQL."""
    found: dict[str, Consent] = {}
    for email, slack_user_id, event, version, recorded_by, at in events:
        before = found.get(email)
        times = {
            "invited_at": before.invited_at if before else None,
            "consented_at": before.consented_at if before else None,
            "declined_at": before.declined_at if before else None,
            "withdrawn_at": before.withdrawn_at if before else None,
        }
        times[f"{event}_at"] = at
        found[email] = Consent(
            email=email,
            # An event recorded by the lead may not know the Slack user: keep the last one seen.
            slack_user_id=slack_user_id or (before.slack_user_id if before else None),
            state=event,
            version=version,
            recorded_by=recorded_by,
            **times,
        )
    return found


class Consents:
    """The consent texts and every person's invitations, consents, declines and withdrawals."""

    def __init__(self, backend):
        self.backend = backend

    def keep_text(self, text: str, now: float | None = None) -> str:
        """Store a consent text if it is new; returns its version."""
        now = time.time() if now is None else now
        version = text_version(text)
        with self.backend.transaction() as cur:
            self.backend.run(
                cur,
                "INSERT INTO consent_texts (version, text, first_used_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                (version, text, now),
            )
        return version

    def text(self, version: str) -> str | None:
        """The consent text of a version, or None if it was never kept."""
        with self.backend.transaction(write=False) as cur:
            row = self.backend.run(cur, "SELECT text FROM consent_texts WHERE version = $1", (version,)).fetchone()
        return row[0] if row else None

    def invite(self, email: str, slack_user_id: str | None, version: str, now: float | None = None) -> bool:
        """Record that a person was invited with this text; False if they already were (re-running is safe)."""
        now = time.time() if now is None else now
        with self.backend.transaction() as cur:
            return (
                self.backend.run(
                    cur,
                    f"INSERT INTO consent_events ({_COLUMNS}) VALUES ($1, $2, 'invited', $3, 'slack', $4)"
                    " ON CONFLICT DO NOTHING",
                    (email.strip().lower(), slack_user_id, version, now),
                ).rowcount
                == 1
            )

    def record(
        self,
        email: str,
        event: str,
        version: str | None,
        recorded_by: str,
        slack_user_id: str | None = None,
        now: float | None = None,
    ) -> None:
        """Append a person's answer: 'consented', 'declined' or 'withdrawn', recorded by 'slack' or 'lead:<email>'."""
        if event not in ANSWERS:
            raise ValueError(f"a consent event is one of {', '.join(ANSWERS)}, not {event!r}")
        if recorded_by != "slack" and not recorded_by.startswith("lead:"):
            raise ValueError(f"recorded_by is 'slack' or 'lead:<email>', not {recorded_by!r}")
        now = time.time() if now is None else now
        with self.backend.transaction() as cur:
            self.backend.run(
                cur,
                f"INSERT INTO consent_events ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)",
                (email.strip().lower(), slack_user_id, event, version, recorded_by, now),
            )

    def _events(self, email: str | None = None) -> list[tuple]:
        with self.backend.transaction(write=False) as cur:
            if email is None:
                return self.backend.run(cur, f"SELECT {_COLUMNS} FROM consent_events ORDER BY id").fetchall()
            return self.backend.run(
                cur, f"SELECT {_COLUMNS} FROM consent_events WHERE email = $1 ORDER BY id", (email.strip().lower(),)
            ).fetchall()

    def standing(self, email: str) -> Consent | None:
        """A person's standing (their latest event and when each kind last happened), or None if never seen."""
        return standings(self._events(email)).get(email.strip().lower())

    def everyone(self) -> list[Consent]:
        """Every person's standing, by email."""
        return sorted(standings(self._events()).values(), key=lambda consent: consent.email)

    def consented(self, email: str, version: str) -> bool:
        """Whether the person's latest event is a consent to this version of the text."""
        consent = self.standing(email)
        return consent is not None and consent.state == CONSENTED and consent.version == version

    def by_slack_user(self, slack_user_id: str) -> Consent | None:
        """The standing of the person last seen with this Slack user id, or None."""
        with self.backend.transaction(write=False) as cur:
            row = self.backend.run(
                cur,
                "SELECT email FROM consent_events WHERE slack_user_id = $1 ORDER BY id DESC LIMIT 1",
                (slack_user_id,),
            ).fetchone()
        return self.standing(row[0]) if row else None

    def current(self) -> str | None:
        """The version of the text kept last (the lead's latest `invite`), or None while consent is not in use."""
        with self.backend.transaction(write=False) as cur:
            row = self.backend.run(
                cur, "SELECT version FROM consent_texts ORDER BY first_used_at DESC, version LIMIT 1"
            ).fetchone()
        return row[0] if row else None

    def answered_since(self, email: str, version: str, since: float) -> bool:
        """Whether the person consented or declined to this version at or after `since` (a consent DM is answered once)."""
        with self.backend.transaction(write=False) as cur:
            return self.backend.run(
                cur,
                "SELECT 1 FROM consent_events WHERE email = $1 AND text_version = $2 AND at >= $3"
                " AND event IN ('consented', 'declined') LIMIT 1",
                (email.strip().lower(), version, since),
            ).fetchone() is not None

    def withdraw(self, email: str, version: str | None, slack_user_id: str | None, checkin_kinds: tuple[str, ...],
                 reason: str, now: float | None = None) -> int | None:
        """Record a withdrawal and make the person's waiting check-ins and nudges 'missed' (`reason`), in
        one transaction; returns how many were, or None if their latest event already was a withdrawal."""
        now = time.time() if now is None else now
        email = email.strip().lower()
        with self.backend.transaction() as cur:
            latest = self.backend.run(
                cur, "SELECT event FROM consent_events WHERE email = $1 ORDER BY id DESC LIMIT 1", (email,)
            ).fetchone()
            if latest is not None and latest[0] == WITHDRAWN:
                return None
            self.backend.run(
                cur,
                f"INSERT INTO consent_events ({_COLUMNS}) VALUES ($1, $2, 'withdrawn', $3, 'slack', $4)",
                (email, slack_user_id, version, now),
            )
            # Their Label Studio ids as the worker cached them, or the DM a check-in went to.
            return self.backend.run(
                cur,
                "UPDATE outbox SET status = 'missed', last_error = $3 WHERE status IN ('pending', 'paused')"
                f" AND kind IN ({marks(4, len(checkin_kinds))}) AND (reviewer IN (SELECT reviewer FROM reviewers"
                " WHERE lower(email) = $1) OR (slack_user_id IS NOT NULL AND slack_user_id = $2))",
                (email, slack_user_id or "", reason, *checkin_kinds),
            ).rowcount

    def annotators(self) -> list[int]:
        """The Label Studio ids of everyone who has reviewed a task in any project."""
        with self.backend.transaction(write=False) as cur:
            rows = self.backend.run(cur, "SELECT DISTINCT reviewer FROM exposures ORDER BY reviewer").fetchall()
        return [row[0] for row in rows]
