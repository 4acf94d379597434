"""The well-being check-in worker: Label Studio webhooks in, Slack check-ins out (docs/worker.md).

The lead's CLI reaches the worker only through the functions below, one per command. Each
imports what it needs when called, so `review-project` runs without the worker's extra
dependencies until a command needs them, and then says in one line what to install.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from review_project.shared import WorkerError

INSTALL_HINT = "pip install 'red-team-review[worker]'"


@contextlib.contextmanager
def _needs_worker_extra(what: str) -> Iterator[None]:
    try:
        yield
    except ModuleNotFoundError as missing:
        raise WorkerError(f"{what} needs the worker's extra dependencies ({missing.name} is not installed): {INSTALL_HINT}") from None


def serve(host: str, port: int, *, reviewers_csv: str | None = None, socket_mode: bool = False,
          offboard: bool | None = None) -> None:
    """`review-project worker`: read the settings from the environment and serve until interrupted."""
    with _needs_worker_extra("`review-project worker`"):
        from workers.service import run_worker
        from workers.settings import settings_from_env

    settings = settings_from_env(socket_mode=socket_mode, reviewers_csv=reviewers_csv, offboard=offboard)
    run_worker(settings, host, port, socket_mode=socket_mode)


@dataclass(frozen=True)
class WellbeingReport:
    """What `review-project wellbeing` shows: `data` for --json, `text` to print."""

    data: dict | list
    text: str


def wellbeing_report(database_url: str, *, pending: bool = False, include_comments: bool = False) -> WellbeingReport:
    """The lead's summary of the check-ins in the worker's store, or (`pending`) those not delivered yet."""
    from workers import wellbeing
    from workers.store import open_store

    store = open_store(database_url, create=False)
    try:
        checkins, reviewers = store.checkins.all(), store.directory.reviewers()
        if pending:
            rows = wellbeing.pending(checkins, reviewers)
            return WellbeingReport(rows, wellbeing.pending_text(rows))
        exposures = store.events.exposure_log()
        summary = wellbeing.summarize(
            checkins, store.checkins.answers(), reviewers, include_comments=include_comments, exposures=exposures
        )
        consent = wellbeing.consent(store.consents.everyone(), exposures, reviewers)
        if consent:  # the section appears once `review-project invite` has asked anyone
            summary["consent"] = [vars(row) for row in consent]
        return WellbeingReport(summary, wellbeing.summary_text(summary))
    finally:
        store.close()


def digest_text(database_url: str, *, reviewers_per_task: int) -> str:
    """`review-project digest --print`: the lead's digest as the worker would post it now, from its store.

    It counts "since" from the latest digest posted (or the last 24 hours), and posts nothing.
    """
    import time

    from workers import digest
    from workers.store import open_store

    store = open_store(database_url, create=False)
    try:
        now = time.time()
        day = time.strftime("%Y-%m-%d", time.localtime(now))
        return digest.digest_text(digest.read_digest(store, day, now, reviewers_per_task))
    finally:
        store.close()


def invite_reviewers(database_url: str, reviewers, *, where, study: str, workload: str, contact: str | None,
                     project: int | None = None):
    """`review-project invite`: check every Slack id, then record the invitations and queue each consent DM
    (invitations.Invited); nothing is stored when a Slack id is unknown. Slack settings come from the environment."""
    import os

    from review_project.schema import TOPICS
    from workers import invitations, messages
    from workers.settings import DEFAULT_SLACK_API_URL, positive_number, pacing_from_env
    from workers.store import open_store

    with _needs_worker_extra("`review-project invite`"):
        from slack_sdk import WebClient
    token = os.environ.get("SLACK_BOT_TOKEN", "").strip()
    # slack-sdk joins method names onto base_url, so it must end with a slash (as settings.py does).
    api_url = (os.environ.get("SLACK_API_URL", "").strip() or DEFAULT_SLACK_API_URL).rstrip("/") + "/"
    client = WebClient(token=token, base_url=api_url, timeout=10.0) if token else None
    ids = invitations.slack_ids(reviewers, client, where)
    every = int(positive_number(os.environ, "CHECKIN_EVERY", 10, int))
    contact = contact or os.environ.get("CONSENT_CONTACT", "").strip() or "your lead"
    text = messages.consent_text(study, TOPICS, workload, pacing_from_env(os.environ), every, contact)
    store = open_store(database_url)
    try:
        version, queued, not_asked = invitations.invite(store, reviewers, ids, text)
        standings = {c.email: c for c in store.consents.everyone()}
        active = store.ledger.last_annotated(project) if project is not None else {}
        return invitations.Invited(version, text, standings, ids, queued, not_asked, active)
    finally:
        store.close()


def record_consent(database_url: str, email: str, recorded_by: str):
    """`review-project consent`: record a consent given outside Slack, marked `recorded_by` ('lead:<email>');
    returns (the person's Consent, whether it was recorded now)."""
    from workers.invitations import record_consent
    from workers.store import open_store

    store = open_store(database_url, create=False)
    try:
        return record_consent(store, email, recorded_by)
    finally:
        store.close()


def consent_standings(database_url: str) -> list:
    """Everyone's consent standing (store.consents.everyone()), for `status`: an empty list when none was recorded."""
    from workers.store import open_store

    store = open_store(database_url, create=False)
    try:
        return store.consents.everyone()
    finally:
        store.close()


def open_ledger(database_url: str):
    """The review's ledger in the worker's store, for status, export and agreement (live_project.Ledger)."""
    from urllib.parse import urlsplit

    from workers.store.ledger_reads import StoreLedger
    from workers.store import open_store

    parts = urlsplit(database_url)
    # Name the store without its password.
    where = database_url if parts.scheme.startswith("sqlite") else f"{parts.hostname}:{parts.port or 5432}{parts.path}"
    return StoreLedger(open_store(database_url, create=False), where)


def retry_failed_checkins(database_url: str) -> int:
    """Return every failed check-in to pending (once its cause is fixed); returns how many."""
    from workers.store import open_store

    store = open_store(database_url, create=False)
    try:
        return store.checkins.retry_failed()
    finally:
        store.close()
