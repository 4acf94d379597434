"""The worker's background work and its assembly: apply the inbox, deliver due check-ins, catch
up periodically, and `run_worker` for `review-project worker`.

The service's daemon threads: one applies the inbox (applier.py: received webhooks become
counts, ledger rows, pacing and check-ins), looking every APPLY_POLL_SECONDS while it is empty;
one delivers (woken by the applier when a check-in fell due, else every POLL_SECONDS, which
also picks up check-ins made due by other processes); one catches up at start and every
RECONCILE_SECONDS. With Slack, a lead channel and DIGEST_AT, another looks every
DIGEST_POLL_SECONDS whether the lead's daily digest is due (digest_delivery.py).

`review-project worker` runs the service in a background process of its own (background.py)
beside the web process; `build_worker` assembles both in one process, as the tests use them.
Several workers may share one PostgreSQL store.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid

from workers.applier import InboxApplier
from workers.background import LOG_FORMAT, BackgroundProcess
from workers.catch_up import catch_up, projects_to_watch
from workers.digest_delivery import DIGEST_POLL_SECONDS, DigestPoster
from workers.label_studio_api import LabelStudioUnavailable
from workers.pacing import NO_NUDGES, PacingRules
from workers.outbox import OutboxSender
from workers.store import LATEST, LIVE, MISSED, Store

log = logging.getLogger(__name__)

# How often delivery looks for reviewers who annotated with no consent on record.
CONSENT_CHECK_SECONDS = 30.0

POLL_SECONDS = 2.0
# How often an idle applier looks at the inbox: the most a check-in waits for its webhook's event
# to be applied; each look is a read or two of an index.
APPLY_POLL_SECONDS = 0.05
# How long the web process waits for a PostgreSQL connection: with the database down, a webhook
# is answered 503 well within Label Studio's 1 s timeout (a batch waits once, not once per event).
WEB_STORE_WAIT_SECONDS = 0.3


def worker_id() -> str:
    """A name for this process in check-in claims: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class WorkerService:
    """Runs the applier, delivery and catch-up in background threads; start() and stop() bracket them."""

    def __init__(
        self,
        store: Store,
        sender: OutboxSender | None,
        label_studio,
        webhook_secret: str,
        checkin_every: int,
        reconcile_seconds: float,
        poll_seconds: float = POLL_SECONDS,
        rules: PacingRules = NO_NUDGES,
        digest: DigestPoster | None = None,
        digest_poll_seconds: float = DIGEST_POLL_SECONDS,
        apply_poll_seconds: float = APPLY_POLL_SECONDS,
    ):
        self.store = store
        self.rules = rules
        self.sender = sender
        self.label_studio = label_studio
        self.webhook_secret = webhook_secret
        self.checkin_every = checkin_every
        self.reconcile_seconds = reconcile_seconds
        self.poll_seconds = poll_seconds
        self.digest = digest
        self.digest_poll_seconds = digest_poll_seconds
        self.apply_poll_seconds = apply_poll_seconds
        # Without Slack no check-in is sent: the webhooks' milestones are recorded as missed.
        self.applier = InboxApplier(store, checkin_every, scheduling=LIVE if sender is not None else MISSED,
                                    rules=rules, on_due=self.wake)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.catch_up_passes = 0
        self.digest_passes = 0
        self._stale_checked_at = 0.0
        self._consent_checked_at = 0.0

    def wake(self) -> None:
        """A check-in became due: deliver now rather than at the next poll."""
        self._wake.set()

    @property
    def scheduling(self) -> str:
        """Without Slack no check-in is sent, so every milestone is recorded as missed."""
        return LATEST if self.sender is not None else MISSED

    def start(self) -> None:
        """Start the applier and catch-up threads, the delivery thread when there is Slack to deliver
        to, and the digest thread when there is a digest to post."""
        self._stop.clear()
        threads = [("inbox", self._apply_forever), ("catch-up", self._catch_up_forever)]
        if self.sender is not None:
            threads.append(("checkin-delivery", self._deliver_forever))
        if self.digest is not None:
            threads.append(("lead-digest", self._digest_forever))
        for name, target in threads:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 15.0) -> None:
        """Ask the threads to finish their current step (the applier: to apply what waits) and wait for them."""
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def alive(self) -> bool:
        """Whether every thread started is still running (for /healthz)."""
        return all(thread.is_alive() for thread in self._threads)

    def _apply_forever(self) -> None:
        busy = False
        while not self._stop.is_set():
            try:
                # An idle applier only reads: on SQLite an empty write transaction would still take
                # the write lock from the webhooks.
                busy = (busy or self.store.inbox.anything_received()) and self.applier.apply_once() > 0
            except Exception as error:  # the store is down: the events wait in the inbox
                log.error("applying received events failed: %s", error.__class__.__name__)
                busy = False
                self._stop.wait(1.0)
            if not busy:
                self._stop.wait(self.apply_poll_seconds)
        try:
            self.applier.drain()
        except Exception as error:
            log.error("applying received events at stop failed (%s); they are applied at the next start",
                      error.__class__.__name__)

    def deliver_once(self) -> int:
        """Unless bad credentials stopped delivery: return stale claims to pending, then send every
        due check-in; returns how many were handled."""
        if not self.sender.delivery_running():
            return 0
        now = time.time()
        released = 0
        # A claim only goes stale after claim_timeout_seconds, so looking a few times per timeout is
        # enough; looking on every pass would take SQLite's write lock from the webhooks each time.
        if now - self._stale_checked_at >= self.sender.claim_timeout_seconds / 4:
            self._stale_checked_at = now
            released = self.store.outbox.release_stale_claims(now - self.sender.claim_timeout_seconds)
        if released:
            log.warning("%d check-in(s) were claimed by a worker that stopped or stalled mid-send; each is looked"
                        " for in its DM before it is posted", released)
        # Who annotated is read from every exposure: at the whole dataset's size that is worth
        # doing every CONSENT_CHECK_SECONDS, not on each pass of a thread that wakes every 2 s.
        if now - self._consent_checked_at >= CONSENT_CHECK_SECONDS:
            self._consent_checked_at = now
            self._ask_unconsented()
        return self.sender.send_all_due()

    def _ask_unconsented(self) -> None:
        """Anyone who annotated with no consent on record gets the consent message (workers/consent.py)."""
        try:
            self.sender.ask_unconsented()
        except Exception as error:  # delivery of everything else goes on; asked again at the next pass
            log.error("looking for reviewers without consent failed: %s", error.__class__.__name__)

    def catch_up_once(self):
        """One catch-up pass over every watched project."""
        projects = projects_to_watch(self.store, self.label_studio, self.webhook_secret)
        report = catch_up(self.store, self.label_studio, projects, self.checkin_every, self.scheduling, self.rules)
        self.catch_up_passes += 1
        if report.exposures_new or report.annotations_removed:
            log.info("catch-up: %d task(s) newly seen by their reviewer, %d annotation(s) gone from Label Studio,"
                     " %d check-in(s) due", report.exposures_new, report.annotations_removed, report.checkins_due)
        if report.checkins_due:
            self.wake()
        return report

    def digest_once(self) -> str | None:
        """Post today's lead digest if it is due and no process has (see digest_delivery.py)."""
        try:
            return self.digest.post_if_due()
        finally:
            self.digest_passes += 1

    def _digest_forever(self) -> None:
        while not self._stop.is_set():
            try:
                self.digest_once()
            except Exception as error:  # keep serving; the day stays claimed or pending, tried again
                log.error("lead digest pass failed: %s", error.__class__.__name__)
            self._stop.wait(self.digest_poll_seconds)

    def _deliver_forever(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.deliver_once()
            except Exception as error:  # keep serving; the check-in stays pending or claimed
                log.error("delivery pass failed: %s", error.__class__.__name__)
            self._wake.wait(self.poll_seconds)

    def _catch_up_forever(self) -> None:
        while not self._stop.is_set():
            try:
                self.catch_up_once()
            except LabelStudioUnavailable as error:
                log.warning("catch-up skipped, Label Studio unavailable: %s", error)
            except Exception as error:
                log.error("catch-up pass failed: %s", error.__class__.__name__)
            self._stop.wait(self.reconcile_seconds)


def slack_ids_from_csv(path: str | None) -> dict[str, str]:
    """email -> Slack user id from setup's reviewers CSV (rows without a Slack id are left out)."""
    if not path:
        return {}
    from review_project.shared import read_reviewers

    return {r.email.lower(): r.slack_user_id for r in read_reviewers(path) if getattr(r, "slack_user_id", None)}


def build_service(settings, *, store: Store | None = None, label_studio=None, delivery_clients=None,
                  retry_base_seconds: float = 30.0, poll_seconds: float = POLL_SECONDS,
                  claim_timeout_seconds: float | None = None, credentials_probe_seconds: float | None = None,
                  digest_poll_seconds: float = DIGEST_POLL_SECONDS) -> WorkerService:
    """The background's parts (store, Label Studio reader, check-in sender, digest) as a WorkerService.

    `review-project worker` calls it in its background process with the settings alone; tests
    hand in stand-ins. Delivery has Slack clients of its own (make_delivery_clients).
    """
    from workers.label_studio_api import LabelStudioReader
    from workers.store import open_store

    store = store or open_store(settings.database_url)
    label_studio = label_studio or LabelStudioReader(settings.label_studio_url, settings.label_studio_api_key)
    sender = digest = None
    if settings.slack_enabled:
        sender = _sender(settings, store, label_studio, delivery_clients, retry_base_seconds, claim_timeout_seconds,
                         credentials_probe_seconds)
    if settings.digest_enabled:
        digest = DigestPoster(sender, settings.lead_slack_channel, settings.digest_at, settings.reviewers_per_task)
    return WorkerService(
        store, sender, label_studio, settings.webhook_secret, settings.checkin_every, settings.reconcile_seconds,
        poll_seconds=poll_seconds, rules=settings.pacing, digest=digest, digest_poll_seconds=digest_poll_seconds,
    )


def build_web(settings, store: Store, service, *, socket_mode: bool = False, slack_client=None):
    """The web process's ASGI app (webhook, Slack's Request URL, /healthz) over `store`, starting and
    stopping `service` with the server; returns (app, the Bolt app or None)."""
    from workers.app import build_app

    slack_app = None
    if settings.slack_enabled:
        from workers.interactivity import build_slack_app
        from workers.slack_delivery import make_slack_client

        slack_client = slack_client or make_slack_client(settings.slack_bot_token, settings.slack_api_url)
        offboard = None
        if settings.offboard:
            from workers.consent import offboarder
            from workers.label_studio_api import LabelStudioReader

            offboard = offboarder(LabelStudioReader(settings.label_studio_url, settings.label_studio_api_key))
        slack_app = build_slack_app(
            store, slack_client, settings.slack_signing_secret, settings.checkin_every, settings.lead_slack_channel,
            offboard=offboard,
        )
    app = build_app(
        store,
        webhook_secret=settings.webhook_secret,
        slack_app=None if socket_mode else slack_app,
        slack_signing_secret=settings.slack_signing_secret,
        service=service,
    )
    return app, slack_app


def build_worker(settings, *, socket_mode: bool = False, store: Store | None = None, slack_client=None,
                 **service_options):
    """The whole worker in ONE process, the service's threads beside the server (tests use it this way;
    `review-project worker` puts the service in a process of its own): returns (app, parts).

    `service_options` go to build_service; `slack_client` serves the Bolt app.
    """
    from workers.store import open_store

    store = store or open_store(settings.database_url)
    service = build_service(settings, store=store, **service_options)
    app, slack_app = build_web(settings, store, service, socket_mode=socket_mode, slack_client=slack_client)
    sender = service.sender
    return app, {"store": store, "slack_app": slack_app, "service": service, "sender": sender,
                 "delivery_clients": sender.clients if sender else None, "digest": service.digest}


def _sender(settings, store, label_studio, delivery_clients, retry_base_seconds, claim_timeout_seconds,
            credentials_probe_seconds) -> OutboxSender:
    """The check-in sender with its Slack clients."""
    from workers.slack_delivery import SlackDirectory, make_delivery_clients

    delivery_clients = delivery_clients or make_delivery_clients(settings.slack_bot_token, settings.slack_api_url)
    timings = {
        name: value for name, value in (("claim_timeout_seconds", claim_timeout_seconds),
                                        ("credentials_probe_seconds", credentials_probe_seconds)) if value is not None
    }
    return OutboxSender(
        store=store,
        clients=delivery_clients,
        directory=SlackDirectory(store, delivery_clients.lookup, label_studio, slack_ids_from_csv(settings.reviewers_csv)),
        worker_id=worker_id(),
        checkin_every=settings.checkin_every,
        rules=settings.pacing,
        contact=settings.consent_contact,
        lead_channel=settings.lead_slack_channel,
        webhook_secret=settings.webhook_secret,
        retry_base_seconds=retry_base_seconds,
        **timings,
    )


def run_worker(settings, host: str, port: int, *, socket_mode: bool = False, build=build_service) -> None:
    """Serve until interrupted: uvicorn for the webhook (and Slack's Request URL unless Socket Mode) in
    this process, the service (`build(settings)`) in a background process of its own."""
    import uvicorn

    from workers.store import open_store

    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    # What the background process reads at its start is read here first: a bad reviewers file
    # stops the command in one line instead of a background restarted again and again.
    slack_ids_from_csv(settings.reviewers_csv)
    store = open_store(settings.database_url, wait_seconds=WEB_STORE_WAIT_SECONDS)
    app, slack_app = build_web(settings, store, BackgroundProcess(settings, build), socket_mode=socket_mode)
    if not settings.slack_enabled:
        log.info("no Slack settings (SLACK_BOT_TOKEN): keeping the ledger, sending no check-ins")
    elif settings.digest_enabled:
        log.info("the lead's digest goes to %s daily at %s (local time)", settings.lead_slack_channel,
                 settings.digest_at.strftime("%H:%M"))
    handler = None
    if socket_mode:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        handler = SocketModeHandler(slack_app, settings.slack_app_token)
        handler.connect()
    try:
        uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=False)
    finally:
        if handler is not None:
            handler.close()
        store.close()
