"""Deliver due check-ins as Slack DMs, one claimed check-in at a time.

Each HTTP call retries by itself (slack-sdk retry handlers): 429 waits for Retry-After, 5xx and
connection errors back off. When those retries run out, the check-in goes back to pending with
a later next_attempt_at, and `review-project wellbeing --pending` shows it.

The one window in which a reviewer can get the same DM twice: the worker dies after Slack
accepted chat.postMessage and before mark_sent() committed. The check-in then stays claimed
('sending'); once the claim is older than CLAIM_TIMEOUT_SECONDS it returns to pending and is
sent again. Every other crash point either sends nothing or has already recorded the send.
"""

from __future__ import annotations

import logging
import time
import urllib.error
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import (
    BackoffRetryIntervalCalculator,
)

from workers import messages
from workers.label_studio_api import LabelStudioUnavailable, UnknownReviewer
from workers.store import CheckIn, Store

log = logging.getLogger(__name__)

CLAIM_TIMEOUT_SECONDS = 600.0
# Slack errors that no retry will fix for this reviewer: the check-in is marked failed.
PERMANENT_SLACK_ERRORS = frozenset(
    {"users_not_found", "user_not_found", "user_disabled", "cannot_dm_bot", "user_not_visible", "channel_not_found"}
)


def make_slack_client(
    token: str, base_url: str, *, max_retries: int = 3, backoff_factor: float = 0.5, timeout: float = 10.0
) -> WebClient:
    """A WebClient that honours Retry-After on 429 and backs off on 5xx and connection errors."""
    interval = BackoffRetryIntervalCalculator(backoff_factor=backoff_factor)
    return WebClient(
        token=token,
        base_url=base_url,
        timeout=timeout,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=max_retries, interval_calculator=interval),
            RateLimitErrorRetryHandler(max_retry_count=max_retries),
            ServerErrorRetryHandler(max_retry_count=max_retries, interval_calculator=interval),
        ],
    )


class PermanentFailure(Exception):
    """Delivery cannot succeed without someone fixing something (the message says what)."""


class TransientFailure(Exception):
    """Delivery failed for now; `retry_after` is the server's requested wait, if it gave one."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


def slack_failure(error: Exception, method: str) -> Exception:
    """Classify a slack-sdk error raised by `method` as a PermanentFailure or TransientFailure."""
    if isinstance(error, SlackApiError):
        response = error.response
        code = response.get("error") if isinstance(response.data, dict) else None
        if response.status_code == 429 or code == "ratelimited":
            retry_after = response.headers.get("retry-after") or response.headers.get("Retry-After")
            try:
                wait = float(retry_after) if retry_after else None
            except ValueError:
                wait = None
            return TransientFailure(f"{method}: rate limited (HTTP 429)", wait)
        if code in PERMANENT_SLACK_ERRORS:
            return PermanentFailure(f"{method}: {code}")
        return TransientFailure(f"{method}: {code or 'HTTP ' + str(response.status_code)}")
    if isinstance(error, (urllib.error.URLError, OSError, TimeoutError)):
        return TransientFailure(f"{method}: connection failed ({error.__class__.__name__})")
    return TransientFailure(f"{method}: {error.__class__.__name__}")


class SlackDirectory:
    """Who a Label Studio reviewer is on Slack: setup's CSV first, then users.lookupByEmail (cached)."""

    def __init__(self, store: Store, client: WebClient, label_studio, csv_slack_ids: dict[str, str] | None = None):
        self.store = store
        self.client = client
        self.label_studio = label_studio
        self.csv_slack_ids = {email.lower(): sid for email, sid in (csv_slack_ids or {}).items() if sid}

    def reviewer(self, reviewer_id: int):
        """The cached Label Studio user, fetched once through users.get."""
        cached = self.store.cached_reviewer(reviewer_id)
        if cached is not None:
            return cached
        try:
            reviewer = self.label_studio.reviewer(reviewer_id)
        except UnknownReviewer as error:
            raise PermanentFailure(str(error)) from None
        except LabelStudioUnavailable as error:
            raise TransientFailure(str(error)) from None
        self.store.cache_reviewer(reviewer)
        return reviewer

    def slack_user(self, reviewer_id: int) -> str:
        """The reviewer's Slack user id; PermanentFailure when they have no email or no Slack account."""
        reviewer = self.reviewer(reviewer_id)
        if not reviewer.email:
            raise PermanentFailure(f"Label Studio user {reviewer_id} has no email")
        email = reviewer.email.lower()
        if email in self.csv_slack_ids:
            return self.csv_slack_ids[email]
        cached = self.store.cached_slack_user(email)
        if cached:
            return cached
        try:
            user_id = self.client.users_lookupByEmail(email=email)["user"]["id"]
        except Exception as error:
            raise slack_failure(error, "users.lookupByEmail") from None
        self.store.cache_slack_user(email, user_id)
        return user_id


@dataclass
class CheckInSender:
    """Claims due check-ins from the store and posts them; safe to run in several processes."""

    store: Store
    client: WebClient
    directory: SlackDirectory
    worker_id: str
    checkin_every: int
    retry_base_seconds: float = 30.0
    retry_max_seconds: float = 1800.0

    def _retry_at(self, checkin: CheckIn, failure: TransientFailure, now: float) -> float:
        backoff = min(self.retry_max_seconds, self.retry_base_seconds * 2 ** max(checkin.attempts - 1, 0))
        return now + max(backoff, failure.retry_after or 0.0)

    def send_next(self) -> bool:
        """Claim and deliver one due check-in; False when none is due."""
        checkin = self.store.claim_next_checkin(self.worker_id)
        if checkin is None:
            return False
        try:
            slack_user = self.directory.slack_user(checkin.reviewer)
            if self.store.is_paused(slack_user):
                self.store.mark_paused(checkin.id, self.worker_id, slack_user)
                log.info("check-in %s skipped: reviewer paused check-ins", checkin.id)
                return True
            channel, ts = self._post(checkin, slack_user)
        except PermanentFailure as failure:
            self.store.mark_failed(checkin.id, self.worker_id, str(failure))
            log.warning("check-in %s failed: %s", checkin.id, failure)
            return True
        except TransientFailure as failure:
            retry_at = self._retry_at(checkin, failure, time.time())
            self.store.mark_retry(checkin.id, self.worker_id, str(failure), retry_at)
            log.warning("check-in %s stays pending (%s); next try in %.0f s", checkin.id, failure, retry_at - time.time())
            return True
        # The crash window: Slack has the message, the store does not know yet (module docstring).
        self.store.mark_sent(checkin.id, self.worker_id, slack_user, channel, ts)
        log.info("check-in %s sent (project %s, reviewer %s, milestone %s)", checkin.id, checkin.project,
                 checkin.reviewer, checkin.milestone)
        return True

    def _post(self, checkin: CheckIn, slack_user: str) -> tuple[str, str]:
        try:
            channel = self.client.conversations_open(users=slack_user)["channel"]["id"]
        except Exception as error:
            raise slack_failure(error, "conversations.open") from None
        text, blocks = messages.checkin_dm(checkin.id, checkin.milestone, self.checkin_every)
        try:
            response = self.client.chat_postMessage(channel=channel, text=text, blocks=blocks)
        except Exception as error:
            raise slack_failure(error, "chat.postMessage") from None
        return channel, response["ts"]

    def send_all_due(self) -> int:
        """Deliver every check-in due now; returns how many were handled."""
        handled = 0
        while self.send_next():
            handled += 1
        return handled
