"""Inviting reviewers, the store's side of `review-project invite` and `review-project consent`.

Slack is asked first, for every reviewer, before anything is stored or queued: a Slack id that
users.info does not know stops the whole invite (the CSV's line is named). Then the consent text
is kept, each reviewer is recorded as invited with its version, and the consent DM is queued in
the outbox, where the worker delivers it exactly once (workers/outbox.py). Both are idempotent:
the store invites a person once per text, and the outbox holds one 'consent' per `email|version`.
A reviewer who declined or withdrew is never asked again by a re-run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from review_project.shared import ManifestError, Reviewer, WorkerError
from workers import consent
from workers.store import Consent, Store
from workers.store.consents import CONSENTED, DECLINED, WITHDRAWN

# Slack's answers that mean "no such person" (users.info, users.lookupByEmail).
NO_SUCH_USER = frozenset({"user_not_found", "users_not_found", "user_not_visible"})


def slack_ids(reviewers: list[Reviewer], client, where: Callable[[Reviewer], str]) -> dict[str, str | None]:
    """Email (lower-cased) -> the reviewer's Slack user id, or None when Slack has no user with that email.

    A listed Slack id is checked with users.info; an unknown or deactivated one raises a
    ManifestError whose message starts with `where(reviewer)` (the file and line). Without
    `client` (no Slack token) the listed ids are taken as they are.
    """
    found: dict[str, str | None] = {}
    for reviewer in reviewers:
        email = reviewer.email.lower()
        if client is None:
            found[email] = reviewer.slack_user_id
        elif reviewer.slack_user_id:
            user = _ask(client.users_info, "users.info", user=reviewer.slack_user_id)
            if user is None or user.get("deleted"):
                state = "no such user" if user is None else "a deactivated user"
                raise ManifestError(f"{where(reviewer)}: Slack id {reviewer.slack_user_id} of {reviewer.email} is {state}")
            found[email] = reviewer.slack_user_id
        else:
            user = _ask(client.users_lookupByEmail, "users.lookupByEmail", email=reviewer.email)
            found[email] = user["id"] if user and not user.get("deleted") else None
    return found


def _ask(method, name: str, **params) -> dict | None:
    """One Slack lookup: the user, None when Slack has no such user, WorkerError for anything else."""
    from slack_sdk.errors import SlackApiError

    from workers.slack_delivery import error_code

    try:
        return method(**params)["user"]
    except SlackApiError as error:
        code = error_code(error)
        if code in NO_SUCH_USER:
            return None
        raise WorkerError(f"Slack refused {name} ({code or error.response.status_code}): check SLACK_BOT_TOKEN and the app's scopes (docs/worker.md)") from None
    except OSError as error:
        raise WorkerError(f"cannot reach Slack for {name} ({error.__class__.__name__}): check SLACK_API_URL or try again") from None


@dataclass(frozen=True)
class Invited:
    """What one `invite` run did and where everyone stands now."""

    version: str
    text: str  # the consent text (no transcript), for the lead to send to reviewers without Slack
    standings: dict[str, Consent]  # by lower-cased email
    slack_ids: dict[str, str | None]
    queued: frozenset[str] = frozenset()  # emails whose consent DM this run queued
    not_asked: dict[str, str] = field(default_factory=dict)  # email -> why not asked again
    last_active: dict[int, str] = field(default_factory=dict)  # Label Studio user id -> latest annotation time


def invite(store: Store, reviewers: list[Reviewer], ids: dict[str, str | None], text: str,
           now: float | None = None) -> tuple[str, frozenset[str], dict[str, str]]:
    """Keep the consent text, record each reviewer as invited to it and queue the consent DM of
    each one with a Slack id; returns (version, emails queued now, email -> why not asked)."""
    now = time.time() if now is None else now
    version = store.consents.keep_text(text, now)
    current = store.consents.current()
    if current != version:
        # The worker answers only the text kept last: buttons on an older one would be refused as out of date.
        raise WorkerError(f"this consent text (version {version}) was used before version {current}, the current one:"
                          " the worker would refuse its buttons; change the text (e.g. --contact) to ask with it again")
    queued, not_asked = set(), {}
    for reviewer in reviewers:
        email = reviewer.email.lower()
        standing = store.consents.standing(email)
        if standing is not None and standing.state in (DECLINED, WITHDRAWN):
            # Their answer stands: a new text or a re-run must not ask them again.
            not_asked[email] = f"{standing.state}: not asked again"
            continue
        if standing is not None and standing.state == CONSENTED and standing.version == version:
            continue
        if ids.get(email):
            # The worker's own way of asking (it asks the same way when a reviewer annotates unasked),
            # so the outbox holds one consent message per email and text whoever asks first.
            if consent.ask(store, email, ids[email], version):
                queued.add(email)
        else:
            store.consents.invite(email, None, version, now)
    return version, frozenset(queued), not_asked


def record_consent(store: Store, email: str, recorded_by: str, now: float | None = None) -> tuple[Consent, bool]:
    """Record a consent given outside Slack, as recorded by the lead, for the text the person was last invited with;
    returns (their standing, whether it was recorded now: False when they had consented to that text already).

    Queues the welcome DM (the invite link) when the person has a Slack id. WorkerError when the
    person was never invited (the consent text is made by `invite`).
    """
    email = email.strip().lower()
    standing = store.consents.standing(email)
    if standing is None or standing.version is None:
        raise WorkerError(f"{email} was never invited: add them to the reviewers file and run `review-project invite` first")
    if standing.state == CONSENTED:
        return standing, False
    consent.consented(store, email, standing.version, recorded_by, standing.slack_user_id, now)
    return store.consents.standing(email), True
