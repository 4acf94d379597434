"""The worker's settings, read once from the environment into a frozen dataclass.

Secrets are excluded from repr() so a logged or printed Settings never shows them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time

from review_project.shared import DEFAULT_DATABASE_URL, WorkerError
from workers.pacing import PacingRules

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
# The lead's daily digest: posted at this local time when LEAD_SLACK_CHANNEL is set (DIGEST_AT=off: never).
DEFAULT_DIGEST_AT = time(9, 0)
DEFAULT_REVIEWERS_PER_TASK = 4
DEFAULT_CONSENT_CONTACT = "your lead"


@dataclass(frozen=True)
class Settings:
    """Everything `review-project worker` needs; see docs/worker.md for each variable."""

    label_studio_url: str
    label_studio_api_key: str = field(repr=False)
    slack_bot_token: str = field(repr=False)  # "" for a worker without Slack
    slack_signing_secret: str = field(repr=False)
    webhook_secret: str = field(repr=False)
    slack_api_url: str = DEFAULT_SLACK_API_URL
    database_url: str = field(default=DEFAULT_DATABASE_URL, repr=False)
    checkin_every: int = 10
    reconcile_seconds: float = 60.0
    lead_slack_channel: str | None = None
    slack_app_token: str | None = field(default=None, repr=False)
    reviewers_csv: str | None = None
    pacing: PacingRules = PacingRules()
    # The lead's daily digest: when (the worker's local time; None: off), and how many reviewers
    # make a task fully reviewed (setup's --reviewers-per-task).
    digest_at: time | None = DEFAULT_DIGEST_AT
    reviewers_per_task: int = DEFAULT_REVIEWERS_PER_TASK
    # Whom a reviewer may contact about the work (CONSENT_CONTACT; the consent text and the withdrawal's
    # confirmation name them), and whether "Stop reviewing" also removes them from the organisation.
    consent_contact: str = DEFAULT_CONSENT_CONTACT
    offboard: bool = False

    @property
    def slack_enabled(self) -> bool:
        """Without SLACK_BOT_TOKEN the worker keeps the ledger and sends no check-ins."""
        return bool(self.slack_bot_token)

    @property
    def digest_enabled(self) -> bool:
        """The lead's daily digest is posted: Slack, a LEAD_SLACK_CHANNEL, and DIGEST_AT not off."""
        return self.slack_enabled and bool(self.lead_slack_channel) and self.digest_at is not None


def positive_number(environ: Mapping[str, str], name: str, default: float | None, kind: type) -> float | None:
    """The environment's `name` as a positive `kind` (`default` when unset); one clear error otherwise."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        noun = "whole number" if kind is int else "number"
        raise WorkerError(f"{name}={raw!r} is not a {noun}; set a positive {noun}") from None
    if value <= 0:
        raise WorkerError(f"{name}={raw!r} must be positive")
    return value


_OFF = ("off", "0", "none", "no", "false")


def _optional_positive(environ: Mapping[str, str], name: str, default: float | None, kind: type) -> float | None:
    """A positive number, the default when unset, or None when set to off (or 0)."""
    if environ.get(name, "").strip().lower() in _OFF:
        return None
    return positive_number(environ, name, default, kind)


def _severe_topics(environ: Mapping[str, str]) -> frozenset[str]:
    from review_project.schema import TOPICS

    raw = environ.get("SEVERE_TOPICS", "").strip()
    if not raw:
        return PacingRules.severe_topics
    if raw.lower() in _OFF:
        return frozenset()
    chosen = [name.strip() for name in raw.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in TOPICS]
    if unknown:
        raise WorkerError(
            f"SEVERE_TOPICS: {unknown[0]!r} is not one of the label config's topics (review_project/schema.py TOPICS);"
            " separate names with commas"
        )
    return frozenset(chosen)


def pacing_from_env(environ: Mapping[str, str]) -> PacingRules:
    """BREAK_AFTER_MINUTES, SEVERE_STREAK, SEVERE_TOPICS and DAILY_TASK_CAP as pacing rules (docs/worker.md)."""
    minutes = _optional_positive(environ, "BREAK_AFTER_MINUTES", 60.0, float)
    streak = _optional_positive(environ, "SEVERE_STREAK", 5, int)
    cap = _optional_positive(environ, "DAILY_TASK_CAP", None, int)
    return PacingRules(
        break_after_seconds=None if minutes is None else minutes * 60,
        severe_streak=None if streak is None else int(streak),
        severe_topics=_severe_topics(environ),
        daily_task_cap=None if cap is None else int(cap),
    )
def digest_at_from_env(environ: Mapping[str, str]) -> time | None:
    """DIGEST_AT as a local time of day (HH:MM, 24-hour), None for "off", DEFAULT_DIGEST_AT when unset."""
    raw = environ.get("DIGEST_AT", "").strip()
    if not raw:
        return DEFAULT_DIGEST_AT
    if raw.lower() == "off":
        return None
    found = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", raw)
    if not found:
        raise WorkerError(f"DIGEST_AT={raw!r} is not a time: use HH:MM (24-hour, the worker's local time) or off")
    return time(int(found[1]), int(found[2]))


def database_url_from_env(environ: Mapping[str, str] | None = None) -> str:
    """DATABASE_URL, or the default SQLite file in the current directory."""
    environ = os.environ if environ is None else environ
    return environ.get("DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL


def settings_from_env(
    environ: Mapping[str, str] | None = None, *, socket_mode: bool = False, reviewers_csv: str | None = None,
    offboard: bool | None = None,
) -> Settings:
    """Read and check the worker's environment; raise WorkerError naming the first missing variable.

    In Socket Mode Slack needs SLACK_APP_TOKEN instead of a signing secret. With no Slack
    setting at all, the worker runs without Slack (Settings.slack_enabled).
    """
    environ = os.environ if environ is None else environ
    given = {name for name in environ if environ.get(name, "").strip()}
    # No Slack setting at all is a worker that keeps the ledger only; any Slack setting means the
    # lead wants check-ins, so then every one of them is required.
    slack = socket_mode or bool(given & {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"})
    required = ["LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY"]
    required += ["SLACK_BOT_TOKEN", "WEBHOOK_SECRET"] if slack else ["WEBHOOK_SECRET"]
    if slack:
        required.append("SLACK_APP_TOKEN" if socket_mode else "SLACK_SIGNING_SECRET")
    missing = [name for name in required if name not in given]
    if missing:
        raise WorkerError(f"missing environment variable {', '.join(missing)} (see docs/worker.md)")
    slack_api_url = environ.get("SLACK_API_URL", "").strip() or DEFAULT_SLACK_API_URL
    if not slack_api_url.endswith("/"):
        # slack-sdk joins method names onto base_url, so a missing slash breaks every call.
        slack_api_url += "/"
    return Settings(
        label_studio_url=environ["LABEL_STUDIO_URL"].strip().rstrip("/"),
        label_studio_api_key=environ["LABEL_STUDIO_API_KEY"].strip(),
        slack_bot_token=environ.get("SLACK_BOT_TOKEN", "").strip(),
        slack_signing_secret=environ.get("SLACK_SIGNING_SECRET", "").strip(),
        webhook_secret=environ["WEBHOOK_SECRET"].strip(),
        slack_api_url=slack_api_url,
        database_url=database_url_from_env(environ),
        checkin_every=int(positive_number(environ, "CHECKIN_EVERY", 10, int)),
        reconcile_seconds=float(positive_number(environ, "RECONCILE_SECONDS", 60.0, float)),
        lead_slack_channel=environ.get("LEAD_SLACK_CHANNEL", "").strip() or None,
        slack_app_token=environ.get("SLACK_APP_TOKEN", "").strip() or None,
        reviewers_csv=reviewers_csv or environ.get("REVIEWERS_CSV", "").strip() or None,
        pacing=pacing_from_env(environ),
        digest_at=digest_at_from_env(environ),
        reviewers_per_task=_reviewers_per_task(environ),
        consent_contact=environ.get("CONSENT_CONTACT", "").strip() or DEFAULT_CONSENT_CONTACT,
        offboard=_flag(environ, "OFFBOARD") if offboard is None else offboard,
    )


def _flag(environ: Mapping[str, str], name: str) -> bool:
    raw = environ.get(name, "").strip().lower()
    if raw in ("", *_OFF):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise WorkerError(f"{name}={raw!r} is not true or false")


def _reviewers_per_task(environ: Mapping[str, str]) -> int:
    value = int(positive_number(environ, "REVIEWERS_PER_TASK", DEFAULT_REVIEWERS_PER_TASK, int))
    if value < 2:
        # Agreement (Fleiss' kappa) needs two ratings of a task.
        raise WorkerError(f"REVIEWERS_PER_TASK={value} must be 2 or more")
    return value
