"""Talking to Slack for delivery: the clients, what a failed call means, posting once, finding a
post again by its metadata, and who a reviewer is on Slack. workers/outbox.py uses these to
deliver every message exactly once.

Failures are classified (slack_failure) into:
- PermanentFailure: nothing will succeed without someone fixing something (no such Slack user);
- CredentialsFailure: the bot token or a scope is wrong (delivery stops for every worker);
- TransientFailure: try again later (a 429 with its Retry-After, a 5xx, a dropped connection);
  UncertainPost when chat.postMessage got no clear answer: the message may be in Slack.
"""

from __future__ import annotations

import logging
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
    FixedValueRetryIntervalCalculator,
)

from workers.label_studio_api import LabelStudioUnavailable, UnknownReviewer
from workers.store import Store

log = logging.getLogger(__name__)

POST_TIMEOUT_SECONDS = 10.0
# History is read from (first post attempt - margin): room for Slack's clock to differ from ours.
HISTORY_MARGIN_SECONDS = 300.0
# Slack limits non-Marketplace apps to 15 messages per conversations.history call.
HISTORY_PAGE = 15
HISTORY_MAX_PAGES = 40
# Slack errors that no retry will fix for this recipient: the message is marked failed.
PERMANENT_SLACK_ERRORS = frozenset(
    {"users_not_found", "user_not_found", "user_disabled", "cannot_dm_bot", "user_not_visible", "channel_not_found"}
)
# Slack errors that mean the bot token or the app's scopes are wrong: delivery stops for everyone.
CREDENTIAL_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive", "missing_scope"}
)
# The app manifest's bot scopes (docs/worker.md); the credentials probe checks them.
REQUIRED_SCOPES = frozenset({"chat:write", "im:write", "im:history", "users:read", "users:read.email"})


def make_slack_client(
    token: str, base_url: str, *, max_retries: int = 3, backoff_factor: float = 0.5, timeout: float = 10.0
) -> WebClient:
    """The interactive client (button replies, the modal, the lead's note): retries 429, 5xx and
    connection errors itself. Never used for delivery, which must not retry posts or sleep."""
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


@dataclass(frozen=True)
class DeliveryClients:
    """Delivery's two Slack clients: `post` never retries; `lookup` (read-only calls) retries a
    dropped connection once, at once. Neither waits on a 429: that is the check-in's not-before."""

    post: WebClient
    lookup: WebClient


def make_delivery_clients(
    token: str, base_url: str, *, post_timeout: float = POST_TIMEOUT_SECONDS, lookup_timeout: float = 10.0
) -> DeliveryClients:
    """The clients for delivery (see DeliveryClients)."""
    # retry_handlers=[] and not None: None means slack-sdk's default, which retries connection errors.
    post = WebClient(token=token, base_url=base_url, timeout=post_timeout, retry_handlers=[])
    lookup = WebClient(
        token=token,
        base_url=base_url,
        timeout=lookup_timeout,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=1, interval_calculator=FixedValueRetryIntervalCalculator(0))
        ],
    )
    return DeliveryClients(post=post, lookup=lookup)


class PermanentFailure(Exception):
    """Delivery cannot succeed without someone fixing something (the message says what)."""


class TransientFailure(Exception):
    """Delivery failed for now; `retry_after` is the server's requested wait, if it gave one."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


class UncertainPost(TransientFailure):
    """chat.postMessage got no clear answer: the message may be in the DM."""


class CredentialsFailure(Exception):
    """Slack refused the bot token or a scope; `code` is Slack's error code (never the token)."""

    def __init__(self, method: str, code: str):
        super().__init__(f"{method}: {code}")
        self.method = method
        self.code = code


def error_code(error: SlackApiError) -> str | None:
    """Slack's error code in a failed call's answer (e.g. invalid_auth), if it gave one."""
    data = error.response.data
    return data.get("error") if isinstance(data, dict) else None


def slack_failure(error: Exception, method: str) -> Exception:
    """Classify an error raised by `method` as a Permanent, Credentials or TransientFailure."""
    if isinstance(error, SlackApiError):
        response = error.response
        code = error_code(error)
        if response.status_code == 429 or code == "ratelimited":
            retry_after = response.headers.get("retry-after") or response.headers.get("Retry-After")
            try:
                wait = float(retry_after) if retry_after else None
            except ValueError:
                wait = None
            return TransientFailure(f"{method}: rate limited (HTTP 429)", wait)
        if code in CREDENTIAL_ERRORS:
            return CredentialsFailure(method, code)
        if code in PERMANENT_SLACK_ERRORS:
            return PermanentFailure(f"{method}: {code}")
        return TransientFailure(f"{method}: {code or 'HTTP ' + str(response.status_code)}")
    if isinstance(error, OSError):  # URLError, timeouts and dropped connections are OSErrors
        return TransientFailure(f"{method}: connection failed ({error.__class__.__name__})")
    return TransientFailure(f"{method}: {error.__class__.__name__}")


def _post_failure(error: Exception, where: str = "the DM") -> Exception:
    """Like slack_failure, but anything short of Slack's clear "no" leaves the outcome unknown."""
    status = error.response.status_code if isinstance(error, SlackApiError) else None
    answered = status == 429 or (status is not None and status < 500 and error_code(error) is not None)
    if answered:  # Slack said ok: false (or 429): nothing was posted
        return slack_failure(error, "chat.postMessage")
    what = f"HTTP {status}" if status is not None else error.__class__.__name__
    return UncertainPost(f"chat.postMessage: no clear answer ({what}); {where} is checked before posting again")


def retry_time(failure: TransientFailure, attempts: int, now: float, *, base: float, maximum: float,
               post_timeout: float) -> float:
    """When to try again after a transient failure: Slack's Retry-After, else `base` doubling per
    attempt up to `maximum`; after an uncertain post, never sooner than the post's own timeout."""
    if failure.retry_after is not None:  # Slack said when (429 Retry-After); 0 must not spin
        return now + max(failure.retry_after, 1.0)
    backoff = min(maximum, base * 2 ** max(attempts - 1, 0))
    if isinstance(failure, UncertainPost):
        # Give a post that Slack was still storing at our timeout as long again to appear.
        backoff = max(backoff, post_timeout)
    return now + backoff


def post_once(client: WebClient, channel: str, metadata: dict, *, where: str = "the DM", **message) -> str:
    """chat.postMessage once, with its metadata; returns the ts, or raises (see _post_failure)."""
    try:
        response = client.chat_postMessage(channel=channel, metadata=metadata, **message)
    except Exception as error:
        raise _post_failure(error, where) from None
    return response["ts"]


def find_posted(client: WebClient, channel: str, oldest: float, event_type: str, key: str, value) -> str | None:
    """The ts of the message in `channel` since `oldest` whose metadata is `event_type` with
    payload[key] == value, or None; PermanentFailure when there are too many messages to be sure."""
    cursor = None
    for _ in range(HISTORY_MAX_PAGES):
        try:
            page = client.conversations_history(
                channel=channel, oldest=f"{oldest:.6f}", include_all_metadata=True, limit=HISTORY_PAGE, cursor=cursor
            )
        except Exception as error:
            raise slack_failure(error, "conversations.history") from None
        for message in page.get("messages") or []:
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if metadata.get("event_type") == event_type and str(payload.get(key)) == str(value):
                return message.get("ts")
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not page.get("has_more") or not cursor:
            return None
    # Not sure it is absent, so never post: someone must look (wellbeing --pending shows this).
    raise PermanentFailure(
        f"conversations.history: over {HISTORY_PAGE * HISTORY_MAX_PAGES} messages since the first post;"
        " not posted again in case it is among them"
    )


class SlackDirectory:
    """Who a Label Studio reviewer is on Slack: setup's CSV first, then users.lookupByEmail (cached)."""

    def __init__(self, store: Store, client: WebClient, label_studio, csv_slack_ids: dict[str, str] | None = None):
        self.store = store
        self.client = client
        self.label_studio = label_studio
        self.csv_slack_ids = {email.lower(): sid for email, sid in (csv_slack_ids or {}).items() if sid}
        # Who a reviewer is on Slack does not change while the worker runs (the store's cache
        # never refreshes either): each delivery asks the store only once per reviewer.
        self._slack_users: dict[int, str] = {}

    def reviewer(self, reviewer_id: int):
        """The cached Label Studio user, fetched once through users.get."""
        cached = self.store.directory.cached_reviewer(reviewer_id)
        if cached is not None:
            return cached
        try:
            reviewer = self.label_studio.reviewer(reviewer_id)
        except UnknownReviewer as error:
            raise PermanentFailure(str(error)) from None
        except LabelStudioUnavailable as error:
            raise TransientFailure(str(error)) from None
        self.store.directory.cache_reviewer(reviewer)
        return reviewer

    def slack_user(self, reviewer_id: int) -> str:
        """The reviewer's Slack user id; PermanentFailure when they have no email or no Slack account."""
        known = self._slack_users.get(reviewer_id)
        if known is None:
            known = self._slack_users[reviewer_id] = self._find_slack_user(reviewer_id)
        return known

    def _find_slack_user(self, reviewer_id: int) -> str:
        reviewer = self.reviewer(reviewer_id)
        if not reviewer.email:
            raise PermanentFailure(f"Label Studio user {reviewer_id} has no email")
        email = reviewer.email.lower()
        if email in self.csv_slack_ids:
            return self.csv_slack_ids[email]
        cached = self.store.directory.cached_slack_user(email)
        if cached:
            return cached
        try:
            user_id = self.client.users_lookupByEmail(email=email)["user"]["id"]
        except Exception as error:
            raise slack_failure(error, "users.lookupByEmail") from None
        self.store.directory.cache_slack_user(email, user_id)
        return user_id
