"""The worker's consent rules: who is asked, when, and what the lead is told (docs/worker.md, "Consent and leaving").

Consent is in use once the lead's `review-project invite` has kept a consent text in the store;
the text kept last is the current one. Then:
- a reviewer who annotates with no consent on record is sent the consent message at once, and
  the lead gets one line ('lead_notice');
- a reviewer who consented to an older text is asked again when their next check-in is delivered
  (their old consent stays recorded);
- a reviewer who stopped reviewing gets no check-in or nudge (workers/outbox.py skips them).
Every message goes through the outbox, keyed so that each is enqueued once, whoever asks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from workers.store import Store
from workers.store.consents import CONSENTED, DECLINED, INVITED, WITHDRAWN

log = logging.getLogger(__name__)

CONSENT, WELCOME, WITHDRAWN_KIND, LEAD_NOTICE = "consent", "welcome", "withdrawn", "lead_notice"
# The lead's notice for someone who annotated before any consent was recorded.
UNCONSENTED = "unconsented"


def consent_subject(email: str, version: str) -> str:
    """A 'consent' or 'welcome' message's subject: `email|version`."""
    return f"{email.strip().lower()}|{version}"


def read_subject(subject: str) -> tuple[str, str]:
    """(email, version) from a 'consent' or 'welcome' subject."""
    email, _, version = subject.rpartition("|")
    return email, version


def notice_subject(email: str, event: str, version: str | None) -> str:
    """A 'lead_notice' subject: `email|event|version`."""
    return f"{email.strip().lower()}|{event}|{version or ''}"


def ask(store: Store, email: str, slack_user: str, version: str, project: int = 0) -> bool:
    """Invite a person with this text and queue its consent message; False if they already were asked with it.

    project : the Label Studio project the welcome message links to after consent (0: the one the
    worker knows, if only one, else the list of projects).
    """
    store.consents.invite(email, slack_user, version)
    subject = consent_subject(email, version)
    return store.outbox.enqueue(CONSENT, project=project, subject=subject, recipient=slack_user) is not None


def consented(store: Store, email: str, version: str, recorded_by: str, slack_user: str | None,
              now: float | None = None) -> None:
    """Record a consent to this text and, for someone on Slack, queue the welcome DM (the invite link)."""
    store.consents.record(email, CONSENTED, version, recorded_by, slack_user_id=slack_user, now=now)
    if slack_user:
        store.outbox.enqueue(WELCOME, subject=consent_subject(email, version), recipient=slack_user, now=now)


def tell_lead(store: Store, lead_channel: str | None, email: str, event: str, version: str | None) -> bool:
    """Queue the lead's one-line notice about a person (once per email, event and version)."""
    if not lead_channel:
        return False
    subject = notice_subject(email, event, version)
    return store.outbox.enqueue(LEAD_NOTICE, subject=subject, recipient=lead_channel) is not None


def withdrew(store: Store, email: str | None, slack_user: str | None) -> bool:
    """Whether this person's latest consent event is a withdrawal (by email, else by Slack user)."""
    standing = store.consents.standing(email) if email else None
    if standing is None and slack_user:
        standing = store.consents.by_slack_user(slack_user)
    return standing is not None and standing.state == WITHDRAWN


def ask_again_if_text_changed(store: Store, email: str, slack_user: str) -> bool:
    """At a delivered check-in: a reviewer whose consent is to an older text is asked with the current one."""
    current = store.consents.current()
    standing = store.consents.standing(email)
    if current is None or standing is None or standing.state != CONSENTED or standing.version == current:
        return False
    return ask(store, email, slack_user, current)


def ask_unconsented(store: Store, email: str, slack_user: str | None, lead_channel: str | None) -> bool:
    """A reviewer who annotated: with no consent ever recorded, send the consent message and tell the lead.

    Returns whether anything was queued. Someone who declined is not asked again (they said no),
    but the lead is told they annotated; so is someone with no Slack user.
    """
    current = store.consents.current()
    if current is None:
        return False  # consent is not in use on this store
    standing = store.consents.standing(email)
    if standing is not None and standing.consented_at is not None:
        return False
    if standing is not None and standing.state == DECLINED:
        return tell_lead(store, lead_channel, email, "annotated_after_declining", current)
    if not slack_user:
        return tell_lead(store, lead_channel, email, "annotated_unasked", current)
    asked = False
    # Someone invited with a Slack id already has their consent message (the lead's invite queued it).
    if standing is None or standing.state == INVITED and standing.slack_user_id is None:
        asked = ask(store, email, slack_user, current)
    told = tell_lead(store, lead_channel, email, UNCONSENTED, current)
    return asked or told


def offboarder(label_studio) -> Callable[[str, int], None]:
    """With --offboard: remove a reviewer who stopped from the organisation (a soft delete: annotations stay)."""

    def offboard(email: str, reviewer: int) -> None:
        user_id = reviewer or label_studio.member_id(email)
        if not user_id:
            log.warning("--offboard: no Label Studio member has the email of the reviewer who stopped")
        elif label_studio.remove_member(user_id):
            log.info("--offboard: Label Studio user %s removed from the organisation (annotations kept)", user_id)
        else:
            log.info("--offboard: Label Studio user %s was no longer a member", user_id)

    return offboard
