"""Deliver due check-ins as Slack DMs: exactly one DM per check-in, even across crashes.

Slack cannot deduplicate chat.postMessage, so the worker never posts blindly twice:
- chat.postMessage is never retried by the client; each check-in message carries its id in
  Slack message metadata (event type `wellbeing_checkin`);
- before every post the worker commits `post_started_at` (store.begin_post), which also
  confirms it still holds the claim and renews it;
- when the outcome of a post is unknown (timeout, dropped connection, 5xx), and for a check-in
  whose claim expired (its worker died or stalled), the check-in goes back to pending and the
  next attempt reads the DM's history for that id (conversations.history with metadata)
  before posting again; if the message is there, the check-in is recorded as sent.
- a claim expires only after CLAIM_TIMEOUT_SECONDS, which must be several times the post's
  HTTP timeout, so a post is over (answered or timed out) before anyone else may take over;
  mark_sent succeeds only for the current claim holder.

Nothing in delivery sleeps: a 429 anywhere (with its Retry-After) becomes the check-in's
next_attempt_at, so one reviewer's rate limit delays only that reviewer's check-in.

Broken credentials (CREDENTIAL_ERRORS) stop delivery for every worker (the store's
slack_delivery row): one log line, /healthz 503 with the code, check-ins left pending. While
stopped, one worker asks auth.test every CREDENTIALS_PROBE_SECONDS (and each worker once when it
starts, e.g. with a new token); when it passes, delivery resumes with one log line.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

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

from workers import messages, pacing
from workers.label_studio_api import LabelStudioUnavailable, UnknownReviewer
from workers.store import CheckIn, Store

log = logging.getLogger(__name__)

CLAIM_TIMEOUT_SECONDS = 600.0
POST_TIMEOUT_SECONDS = 10.0
# A claim must outlive a post this many times over (see the module docstring).
CLAIM_TO_POST_TIMEOUT = 3
CHECKIN_EVENT = "wellbeing_checkin"
# History is read from (first post attempt - margin): room for Slack's clock to differ from ours.
HISTORY_MARGIN_SECONDS = 300.0
# Slack limits non-Marketplace apps to 15 messages per conversations.history call.
HISTORY_PAGE = 15
HISTORY_MAX_PAGES = 40
CREDENTIALS_PROBE_SECONDS = 60.0
# Slack errors that no retry will fix for this reviewer: the check-in is marked failed.
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


def _error_code(error: SlackApiError) -> str | None:
    data = error.response.data
    return data.get("error") if isinstance(data, dict) else None


def slack_failure(error: Exception, method: str) -> Exception:
    """Classify an error raised by `method` as a Permanent, Credentials or TransientFailure."""
    if isinstance(error, SlackApiError):
        response = error.response
        code = _error_code(error)
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
    answered = status == 429 or (status is not None and status < 500 and _error_code(error) is not None)
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
    """Claims due check-ins from the store and posts each exactly once; safe in several processes."""

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
    _probed: bool = field(default=False, repr=False)
    _channels: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        post_timeout = self.clients.post.timeout
        if self.claim_timeout_seconds < CLAIM_TO_POST_TIMEOUT * post_timeout:
            # Otherwise a claim could expire while its post is still in flight, and a second
            # worker could read the DM's history before Slack has stored the first post.
            raise ValueError(
                f"claim timeout {self.claim_timeout_seconds} s must be at least {CLAIM_TO_POST_TIMEOUT}x"
                f" the post timeout ({post_timeout} s)"
            )

    def _retry_at(self, checkin: CheckIn, failure: TransientFailure, now: float) -> float:
        return retry_time(failure, checkin.attempts, now, base=self.retry_base_seconds,
                          maximum=self.retry_max_seconds, post_timeout=self.clients.post.timeout)

    # -- credentials ----------------------------------------------------------------------------
    def delivery_running(self, now: float | None = None) -> bool:
        """False while bad credentials have stopped delivery; probes auth.test when due and resumes."""
        reason = self.store.delivery_stopped()
        if reason is None:
            return True
        # Each worker probes once when it starts (it may have a new token), then one worker per interval.
        first = not self._probed
        self._probed = True
        if not self.store.claim_credentials_probe(self.credentials_probe_seconds, now, force=first):
            return False
        problem = self._credentials_problem()
        if problem is None:
            if self.store.resume_delivery():
                log.info("Slack delivery resumed: auth.test passes again; pending check-ins go out now")
            return True
        if problem != reason and problem in CREDENTIAL_ERRORS:
            self.store.stop_delivery(problem)
        return False

    def _credentials_problem(self) -> str | None:
        """None if the token works and has every scope; else the Slack code (or why we cannot tell)."""
        try:
            response = self.clients.lookup.auth_test()
        except SlackApiError as error:
            return _error_code(error) or f"HTTP {error.response.status_code}"
        except Exception as error:
            return error.__class__.__name__  # Slack unreachable: stay stopped, ask again later
        headers = {name.lower(): value for name, value in (response.headers or {}).items()}
        granted = headers.get("x-oauth-scopes")
        if granted is not None and not REQUIRED_SCOPES <= {scope.strip() for scope in granted.split(",")}:
            return "missing_scope"
        return None

    def stop_for_credentials(self, failure: CredentialsFailure) -> None:
        """Stop delivery for every worker (bad token or scope), logging it once; the lead's digest uses it too."""
        self._probed = True  # this worker has just seen the credentials fail: no start-up probe needed
        if self.store.stop_delivery(failure.code):
            log.error(
                "Slack delivery stopped: %s answered %s; fix SLACK_BOT_TOKEN or the app's scopes (docs/worker.md)."
                " Check-ins stay pending and /healthz answers 503 until auth.test passes.",
                failure.method, failure.code,
            )

    # -- one check-in -----------------------------------------------------------------------------
    def send_next(self) -> bool:
        """Claim and deliver one due check-in; False when none is due or delivery just stopped."""
        checkin = self.store.claim_next_checkin(self.worker_id)
        if checkin is None:
            return False
        try:
            outcome = self._deliver(checkin)
        except PermanentFailure as failure:
            self.store.mark_failed(checkin.id, self.worker_id, str(failure))
            log.warning("check-in %s failed: %s", checkin.id, failure)
            return True
        except CredentialsFailure as failure:
            # Not the check-in's fault: due again as soon as delivery resumes.
            self.store.mark_retry(checkin.id, self.worker_id, str(failure), time.time())
            self.stop_for_credentials(failure)
            return False
        except TransientFailure as failure:
            now = time.time()
            retry_at = self._retry_at(checkin, failure, now)
            self.store.mark_retry(checkin.id, self.worker_id, str(failure), retry_at)
            log.warning("check-in %s stays pending (%s); next try in %.0f s", checkin.id, failure, retry_at - now)
            return True
        if outcome:
            log.info("check-in %s %s (project %s, reviewer %s, %s %s)", checkin.id, outcome, checkin.project,
                     checkin.reviewer, checkin.kind, checkin.milestone)
        return True

    def _deliver(self, checkin: CheckIn) -> str | None:
        """Deliver a claimed check-in; returns what happened for the log line (None: already logged)."""
        slack_user = self.directory.slack_user(checkin.reviewer)
        channel = None
        if checkin.post_started_at is not None:
            # An earlier post may have reached Slack: look before posting again.
            channel = self._open(slack_user)
            ts = self._find_posted(channel, checkin)
            if ts is not None:
                self._record_sent(checkin, slack_user, channel, ts)
                return "found in the DM, recorded as sent (not posted again)"
        if self.store.is_paused(slack_user):
            self.store.mark_paused(checkin.id, self.worker_id, slack_user)
            return "skipped: reviewer paused check-ins"
        channel = channel or self._open(slack_user)
        if not self.store.begin_post(checkin.id, self.worker_id):
            log.warning("check-in %s: this worker's claim expired before posting; left to the worker that holds it",
                        checkin.id)
            return None
        ts = self._post(checkin, channel)
        self._record_sent(checkin, slack_user, channel, ts)
        return "sent"

    def _record_sent(self, checkin: CheckIn, slack_user: str, channel: str, ts: str) -> None:
        if not self.store.mark_sent(checkin.id, self.worker_id, slack_user, channel, ts):
            # Another worker took the claim over; it reads the DM's history and finds this post.
            log.warning("check-in %s posted, but its claim had passed to another worker, which will record it",
                        checkin.id)

    def _open(self, slack_user: str) -> str:
        """The DM channel with a reviewer, opened once per worker (Slack gives the same one each time)."""
        channel = self._channels.get(slack_user)
        if channel is None:
            try:
                channel = self.clients.lookup.conversations_open(users=slack_user)["channel"]["id"]
            except Exception as error:
                raise slack_failure(error, "conversations.open") from None
            self._channels[slack_user] = channel
        return channel

    def _find_posted(self, channel: str, checkin: CheckIn) -> str | None:
        """The ts of this check-in's message in the DM (found by its metadata), or None."""
        oldest = checkin.post_started_at - HISTORY_MARGIN_SECONDS
        return find_posted(self.clients.lookup, channel, oldest, CHECKIN_EVENT, "checkin_id", checkin.id)

    def message(self, checkin: CheckIn) -> tuple[str, list[dict]]:
        """The DM for a check-in or a nudge, by its kind."""
        if checkin.kind == pacing.BREAK:
            return messages.break_dm(checkin.id, max(1, round((self.rules.break_after_seconds or 3600) / 60)))
        if checkin.kind == pacing.SEVERE:
            return messages.severe_dm(checkin.id, self.rules.severe_streak or pacing.PacingRules.severe_streak)
        if checkin.kind == pacing.DAILY_CAP:
            return messages.daily_cap_dm(checkin.id, self.rules.daily_task_cap or checkin.milestone)
        return messages.checkin_dm(checkin.id, checkin.milestone, self.checkin_every)

    def _post(self, checkin: CheckIn, channel: str) -> str:
        text, blocks = self.message(checkin)
        metadata = {"event_type": CHECKIN_EVENT, "event_payload": {"checkin_id": checkin.id}}
        return post_once(self.clients.post, channel, metadata, text=text, blocks=blocks)

    def send_all_due(self) -> int:
        """Deliver every check-in due now; returns how many were handled."""
        handled = 0
        while self.send_next():
            handled += 1
        return handled
