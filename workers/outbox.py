"""Deliver every message in the outbox exactly once: check-ins, nudges, the lead's digest, and any
kind described here, across crashes and several worker processes.

Slack cannot deduplicate chat.postMessage, so the worker never posts blindly twice:
- chat.postMessage is never retried by the client; each message carries what it is in Slack
  message metadata (its kind's event type, and its id or subject);
- before every post the worker commits `post_started_at` and the channel (store.outbox.begin_post),
  which also confirms it still holds the claim and renews it;
- when the outcome of a post is unknown (timeout, dropped connection, 5xx), and for a message
  whose claim expired (its worker died or stalled), the message goes back to pending and the
  next attempt reads the channel's history for it (conversations.history with metadata)
  before posting again; if it is there, it is recorded as sent.
- a claim expires only after CLAIM_TIMEOUT_SECONDS, which must be several times the post's
  HTTP timeout, so a post is over (answered or timed out) before anyone else may take over;
  mark_sent succeeds only for the current claim holder.

Nothing in delivery sleeps: a 429 anywhere (with its Retry-After) becomes the message's
next_attempt_at, so one reviewer's rate limit delays only that reviewer's message.

Broken credentials (CREDENTIAL_ERRORS) stop delivery for every worker (the store's
slack_delivery row): one log line, /healthz 503 with the code, messages left pending. While
stopped, one worker asks auth.test every CREDENTIALS_PROBE_SECONDS (and each worker once when it
starts, e.g. with a new token); when it passes, delivery resumes with one log line.

A kind of message is a small description (Kind): its text and buttons, whether it goes to the
lead's channel or a reviewer's DM, and what names it in Slack's metadata. Who makes it due is
the kind's producer: counting makes check-ins and nudges (store/events.py), the daily schedule
the digest (digest_delivery.py), `review-project invite`, the consent buttons and the consent rules
(workers/consent.py) the 'consent', 'welcome', 'withdrawn' and 'lead_notice' messages. Adding a
kind adds a Kind, no delivery code. One rule is delivery's own: a check-in or nudge for a
reviewer who pressed "Stop reviewing" is never posted (it becomes 'missed').
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from workers import consent, messages, pacing
from workers.consent import CONSENT, LEAD_NOTICE, WELCOME, read_subject
from workers.consent import WITHDRAWN_KIND as WITHDRAWN
from workers.slack_delivery import (
    CREDENTIAL_ERRORS,
    HISTORY_MARGIN_SECONDS,
    REQUIRED_SCOPES,
    CredentialsFailure,
    DeliveryClients,
    PermanentFailure,
    SlackDirectory,
    TransientFailure,
    error_code,
    find_posted,
    post_once,
    retry_time,
)
from workers.store import CHECKIN_KINDS, Message, Store

log = logging.getLogger(__name__)

CLAIM_TIMEOUT_SECONDS = 600.0
# A claim must outlive a post this many times over (see the module docstring).
CLAIM_TO_POST_TIMEOUT = 3
CREDENTIALS_PROBE_SECONDS = 60.0
CHECKIN_EVENT = "wellbeing_checkin"
DIGEST_EVENT = "lead_digest"
# Why a check-in or nudge was never sent: its reviewer pressed "Stop reviewing".
WITHDREW = "the reviewer stopped reviewing"


@dataclass(frozen=True)
class Kind:
    """One kind of message: its text and buttons, where it goes, and what names it in Slack.

    render(message, sender, now) -> (text, blocks or None). to_lead: posted to the message's
    `recipient` channel (the lead's), else to the reviewer's DM. event_type and key: the
    metadata a post carries, payload {key: key_of(message)}, by which it is found again.
    pausable: a reviewer who paused check-ins does not get it.
    """

    name: str
    render: Callable[[Message, OutboxSender, float], tuple[str, list | None]]
    label: Callable[[Message], str]
    to_lead: bool = False
    event_type: str = CHECKIN_EVENT
    key: str = "checkin_id"
    key_of: Callable[[Message], object] = lambda message: message.id
    pausable: bool = True


def _checkin_label(message: Message) -> str:
    return f"check-in {message.id}"


def _milestone(message: Message, sender: OutboxSender, now: float):
    return messages.checkin_dm(message.id, message.milestone, sender.checkin_every)


def _break(message: Message, sender: OutboxSender, now: float):
    return messages.break_dm(message.id, max(1, round((sender.rules.break_after_seconds or 3600) / 60)))


def _severe(message: Message, sender: OutboxSender, now: float):
    return messages.severe_dm(message.id, sender.rules.severe_streak or pacing.PacingRules.severe_streak)


def _daily_cap(message: Message, sender: OutboxSender, now: float):
    return messages.daily_cap_dm(message.id, sender.rules.daily_task_cap or message.milestone)


def _digest(message: Message, sender: OutboxSender, now: float):
    from workers.digest import digest_text, read_digest

    facts = read_digest(sender.store, message.subject, now, sender.reviewers_per_task,
                        before_day=message.subject)
    return messages.slack_text(digest_text(facts)), None


# -- joining and leaving: consent, welcome, withdrawal, and the lead's one-line notices ---------
CONSENT_EVENT = "review_consent"
LEAD_NOTICE_EVENT = "lead_notice"


def _consent(message: Message, sender: OutboxSender, now: float):
    email, version = read_subject(message.subject)
    text = sender.store.consents.text(version)
    if text is None:
        raise PermanentFailure(f"consent text {version} is not in the store")
    return messages.consent_dm(message.id, text, version)


def _welcome(message: Message, sender: OutboxSender, now: float):
    label_studio = sender.directory.label_studio
    email, _ = read_subject(message.subject)
    # The project the lead invited them to (its consent message says), else the one the worker
    # knows, else the list of projects.
    asked = [m.project for m in sender.store.outbox.messages((CONSENT,))
             if m.project and read_subject(m.subject)[0] == email]
    projects = [message.project] if message.project else asked[-1:] or sender.watched_projects()
    base = label_studio.url.rstrip("/")
    project_url = f"{base}/projects/{projects[0]}/" if len(projects) == 1 else f"{base}/projects/"
    return messages.welcome_dm(label_studio.invite_link(), project_url)


def _withdrawn(message: Message, sender: OutboxSender, now: float):
    return messages.withdrawn_dm(sender.contact)


def _lead_notice(message: Message, sender: OutboxSender, now: float):
    email, event, _ = message.subject.split("|", 2)
    names = [r.name for r in sender.store.directory.reviewers().values() if r.email.lower() == email]
    return messages.lead_notice(f"{names[0]} ({email})" if names else email, event), None


def _by_id(event_type: str, to_lead: bool = False) -> dict:
    return {"to_lead": to_lead, "event_type": event_type, "key": "message_id", "pausable": False}


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind(pacing.MILESTONE, _milestone, _checkin_label),
        Kind(pacing.BREAK, _break, _checkin_label),
        Kind(pacing.SEVERE, _severe, _checkin_label),
        Kind(pacing.DAILY_CAP, _daily_cap, _checkin_label),
        Kind("digest", _digest, lambda message: f"lead digest for {message.subject}", to_lead=True,
             event_type=DIGEST_EVENT, key="day", key_of=lambda message: message.subject, pausable=False),
        Kind(CONSENT, _consent, lambda message: f"consent message {message.id}", **_by_id(CONSENT_EVENT)),
        Kind(WELCOME, _welcome, lambda message: f"welcome message {message.id}", **_by_id(CONSENT_EVENT)),
        Kind(WITHDRAWN, _withdrawn, lambda message: f"withdrawal confirmation {message.id}", **_by_id(CONSENT_EVENT)),
        Kind(LEAD_NOTICE, _lead_notice, lambda message: f"lead notice {message.id}",
             **_by_id(LEAD_NOTICE_EVENT, to_lead=True)),
    )
}


@dataclass
class OutboxSender:
    """Claims due messages from the store's outbox and posts each exactly once; safe in several processes."""

    store: Store
    clients: DeliveryClients
    directory: SlackDirectory
    worker_id: str
    checkin_every: int
    retry_base_seconds: float = 30.0
    retry_max_seconds: float = 1800.0
    claim_timeout_seconds: float = CLAIM_TIMEOUT_SECONDS
    credentials_probe_seconds: float = CREDENTIALS_PROBE_SECONDS
    # The numbers the nudges' messages quote (the triggers themselves run in the store).
    rules: pacing.PacingRules = pacing.PacingRules()
    # The digest's paper figure counts tasks with this many ratings (digest.py).
    reviewers_per_task: int = 4
    kinds: dict[str, Kind] = field(default_factory=lambda: dict(KINDS))
    # Whom a reviewer may contact (CONSENT_CONTACT), quoted in the withdrawal's confirmation.
    contact: str = "your lead"
    # The lead's channel (LEAD_SLACK_CHANNEL), where the consent rules' notices go.
    lead_channel: str | None = None
    # WEBHOOK_SECRET: which projects are this worker's, for the welcome message's project link.
    webhook_secret: str = field(default="", repr=False)
    _consent_checked: set = field(default_factory=set, repr=False)
    _probed: bool = field(default=False, repr=False)
    _channels: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        post_timeout = self.clients.post.timeout
        if self.claim_timeout_seconds < CLAIM_TO_POST_TIMEOUT * post_timeout:
            # Otherwise a claim could expire while its post is still in flight, and a second
            # worker could read the channel's history before Slack has stored the first post.
            raise ValueError(
                f"claim timeout {self.claim_timeout_seconds} s must be at least {CLAIM_TO_POST_TIMEOUT}x"
                f" the post timeout ({post_timeout} s)"
            )

    # -- credentials ----------------------------------------------------------------------------
    def delivery_running(self, now: float | None = None) -> bool:
        """False while bad credentials have stopped delivery; probes auth.test when due and resumes."""
        reason = self.store.outbox.delivery_stopped()
        if reason is None:
            return True
        # Each worker probes once when it starts (it may have a new token), then one worker per interval.
        first = not self._probed
        self._probed = True
        if not self.store.outbox.claim_credentials_probe(self.credentials_probe_seconds, now, force=first):
            return False
        problem = self._credentials_problem()
        if problem is None:
            if self.store.outbox.resume_delivery():
                log.info("Slack delivery resumed: auth.test passes again; pending messages go out now")
            return True
        if problem != reason and problem in CREDENTIAL_ERRORS:
            self.store.outbox.stop_delivery(problem)
        return False

    def _credentials_problem(self) -> str | None:
        """None if the token works and has every scope; else the Slack code (or why we cannot tell)."""
        from slack_sdk.errors import SlackApiError

        try:
            response = self.clients.lookup.auth_test()
        except SlackApiError as error:
            return error_code(error) or f"HTTP {error.response.status_code}"
        except Exception as error:
            return error.__class__.__name__  # Slack unreachable: stay stopped, ask again later
        headers = {name.lower(): value for name, value in (response.headers or {}).items()}
        granted = headers.get("x-oauth-scopes")
        if granted is not None and not REQUIRED_SCOPES <= {scope.strip() for scope in granted.split(",")}:
            return "missing_scope"
        return None

    def stop_for_credentials(self, failure: CredentialsFailure) -> None:
        """Stop delivery for every worker (bad token or scope), logging it once."""
        self._probed = True  # this worker has just seen the credentials fail: no start-up probe needed
        if self.store.outbox.stop_delivery(failure.code):
            log.error(
                "Slack delivery stopped: %s answered %s; fix SLACK_BOT_TOKEN or the app's scopes (docs/worker.md)."
                " Messages stay pending and /healthz answers 503 until auth.test passes.",
                failure.method, failure.code,
            )

    # -- one message ------------------------------------------------------------------------------
    def send_next(self) -> bool:
        """Claim and deliver one due message of any kind; False when none is due or delivery just stopped."""
        outcome = self.deliver_next()
        return outcome is not None and not outcome.startswith("waits for Slack delivery")

    def deliver_next(self, kinds: tuple[str, ...] | None = None, subject: str | None = None,
                     now: float | None = None) -> str | None:
        """Claim one due message (of these kinds, about `subject`) and deliver it; returns what
        happened, or None when nothing was due."""
        message = self.store.outbox.claim(self.worker_id, kinds or tuple(self.kinds), now, subject)
        if message is None:
            return None
        kind = self.kinds[message.kind]
        outcome = self._attempt(message, kind, time.time() if now is None else now)
        log.info("%s: %s", kind.label(message), outcome)
        return outcome

    def _attempt(self, message: Message, kind: Kind, now: float) -> str:
        worker = self.worker_id
        try:
            return self._deliver(message, kind, now)
        except PermanentFailure as failure:
            self.store.outbox.mark_failed(message.id, worker, str(failure))
            return f"failed: {failure}"
        except CredentialsFailure as failure:
            if kind.to_lead and failure.method == "conversations.history" and failure.code == "missing_scope":
                # Only messages to a channel need its history: this must not stop the check-ins.
                self.store.outbox.mark_failed(message.id, worker, str(failure))
                log.error("%s not posted: conversations.history answered missing_scope; add channels:history and"
                          " groups:history to the Slack app and reinstall it (docs/worker.md)", kind.label(message))
                return f"failed: {failure}"
            # Not the message's fault: due again as soon as delivery resumes.
            self.store.outbox.mark_retry(message.id, worker, str(failure), time.time())
            self.stop_for_credentials(failure)
            return f"waits for Slack delivery to resume ({failure})"
        except TransientFailure as failure:
            now = time.time()
            retry_at = retry_time(failure, message.attempts, now, base=self.retry_base_seconds,
                                  maximum=self.retry_max_seconds, post_timeout=self.clients.post.timeout)
            self.store.outbox.mark_retry(message.id, worker, str(failure), retry_at)
            return f"stays pending ({failure}); next try in {retry_at - now:.0f} s"

    def _deliver(self, message: Message, kind: Kind, now: float) -> str:
        """Deliver a claimed message; returns what happened."""
        slack_user = None
        if kind.to_lead:
            channel, where = message.recipient, message.recipient
        else:
            slack_user = message.recipient or self.directory.slack_user(message.reviewer)
            channel, where = self._open(slack_user), "the DM"
        if message.post_started_at is not None:
            # An earlier post may be in the channel it went to: look before posting again.
            looked_in = message.channel or channel
            oldest = message.post_started_at - HISTORY_MARGIN_SECONDS
            ts = find_posted(self.clients.lookup, looked_in, oldest, kind.event_type, kind.key, kind.key_of(message))
            if ts is not None:
                self._record_sent(message, kind, slack_user, looked_in, ts)
                return f"found in {looked_in if kind.to_lead else where}, recorded as sent (not posted again)"
        checkin = message.kind in CHECKIN_KINDS
        if checkin and self._withdrawn(message.reviewer, slack_user):
            self.store.outbox.mark_missed(message.id, self.worker_id, WITHDREW)
            return f"skipped: {WITHDREW}"
        if kind.pausable and slack_user and self.store.directory.is_paused(slack_user):
            self.store.outbox.mark_paused(message.id, self.worker_id, slack_user)
            return "skipped: reviewer paused check-ins"
        try:
            text, blocks = kind.render(message, self, now)
        except Exception as error:  # the store or the numbers failed: the message stays due, later
            raise TransientFailure(f"writing the message: {error.__class__.__name__}") from None
        if not self.store.outbox.begin_post(message.id, self.worker_id, channel, now):
            return "not posted: this worker's claim expired first; the worker that holds it posts it"
        metadata = {"event_type": kind.event_type, "event_payload": {kind.key: kind.key_of(message)}}
        extra = {"blocks": blocks} if blocks is not None else {"mrkdwn": False}
        where_said = "the channel" if kind.to_lead else "the DM"
        ts = post_once(self.clients.post, channel, metadata, where=where_said, text=text, **extra)
        self._record_sent(message, kind, slack_user, channel, ts)
        if checkin:
            try:
                self.ask_again_if_text_changed(message.reviewer, slack_user)
            except Exception as error:  # the check-in is sent; the next one asks again
                log.warning("%s: asking again for consent failed: %s", kind.label(message), error.__class__.__name__)
        return f"posted to {channel}" if kind.to_lead else "sent"

    def _record_sent(self, message: Message, kind: Kind, slack_user: str | None, channel: str, ts: str) -> None:
        if not self.store.outbox.mark_sent(message.id, self.worker_id, slack_user, channel, ts):
            # Another worker took the claim over; it reads the channel's history and finds this post.
            log.warning("%s posted, but its claim had passed to another worker, which will record it",
                        kind.label(message))

    def watched_projects(self) -> list[int]:
        """The projects this worker watches: those in its store, and those whose webhook carries its secret."""
        from workers.catch_up import projects_to_watch

        if not self.webhook_secret:
            return self.store.events.known_projects()
        return projects_to_watch(self.store, self.directory.label_studio, self.webhook_secret)

    # -- the consent rules at delivery (workers/consent.py) -------------------------------------
    def _email(self, reviewer: int) -> str | None:
        """The reviewer's email, lower-cased, or None (no reviewer, or none in Label Studio)."""
        if not reviewer:
            return None
        return (self.directory.reviewer(reviewer).email or "").strip().lower() or None

    def _withdrawn(self, reviewer: int, slack_user: str | None) -> bool:
        return consent.withdrew(self.store, self._email(reviewer), slack_user)

    def ask_again_if_text_changed(self, reviewer: int, slack_user: str) -> None:
        """After a check-in went out: ask again a reviewer who consented to an older consent text."""
        email = self._email(reviewer)
        if email and consent.ask_again_if_text_changed(self.store, email, slack_user):
            log.info("check-in for Label Studio user %s: the consent text changed since their consent;"
                     " asked again", reviewer)

    def ask_unconsented(self) -> int:
        """Everyone who annotated with no consent on record gets the consent message, and the lead is
        told (once each); returns how many were newly asked or told. Nothing while consent is not in use."""
        if self.store.consents.current() is None:
            return 0
        newly = 0
        for reviewer in self.store.consents.annotators():
            if reviewer in self._consent_checked:
                continue
            try:
                email = self._email(reviewer)
                slack_user = self.directory.slack_user(reviewer) if email else None
            except PermanentFailure:
                email, slack_user = self._email_or_none(reviewer), None
            except TransientFailure:
                continue  # Label Studio or Slack did not answer: asked again at the next pass
            if email is None:
                self._consent_checked.add(reviewer)
                continue
            if consent.ask_unconsented(self.store, email, slack_user, self.lead_channel):
                newly += 1
                log.info("Label Studio user %s annotated with no consent on record: consent message queued,"
                         " the lead told", reviewer)
            # Asked, told, or consented: nothing more to do for them in this process.
            self._consent_checked.add(reviewer)
        return newly

    def _email_or_none(self, reviewer: int) -> str | None:
        try:
            return self._email(reviewer)
        except (PermanentFailure, TransientFailure):
            return None

    def _open(self, slack_user: str) -> str:
        """The DM channel with a reviewer, opened once per worker (Slack gives the same one each time)."""
        channel = self._channels.get(slack_user)
        if channel is None:
            from workers.slack_delivery import slack_failure

            try:
                channel = self.clients.lookup.conversations_open(users=slack_user)["channel"]["id"]
            except Exception as error:
                raise slack_failure(error, "conversations.open") from None
            self._channels[slack_user] = channel
        return channel

    def message(self, message: Message, now: float | None = None) -> tuple[str, list | None]:
        """The text and blocks a message is posted with, by its kind."""
        return self.kinds[message.kind].render(message, self, time.time() if now is None else now)

    def send_all_due(self) -> int:
        """Deliver every message due now; returns how many were handled."""
        handled = 0
        while self.send_next():
            handled += 1
        return handled
