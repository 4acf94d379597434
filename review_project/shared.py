"""What the lead's commands and the worker both rely on, in one light module.

The error types every command turns into one line, the reviewers file that `setup` and the
worker read, the webhook that `setup` registers and the worker receives, and where the worker's
store lives by default. It imports only the standard library, so the worker (`workers/`) can
depend on it without pulling in the Label Studio SDK, pandas or matplotlib.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

# -- errors a user can cause: the CLI prints each as one line and exits with its exit_code -------


class ReviewError(Exception):
    """Base class: the message says what went wrong and where, never any transcript text."""

    exit_code = 1


class RecordError(ReviewError):
    """A red-team file or record that cannot be read (names the file and the record)."""

    exit_code = 2


class SampleError(ReviewError):
    """A sample that cannot be drawn as asked (names the stratum)."""

    exit_code = 2


class ManifestError(ReviewError):
    """A manifest or reviewers file that cannot be read (names the file and line)."""

    exit_code = 2


class LabelStudioError(ReviewError):
    """Label Studio could not be reached, refused the key, or answered unexpectedly."""


class ExportError(ReviewError):
    """An export file or table that cannot be read (names the file, task and annotation)."""

    exit_code = 2


class WorkerError(ReviewError):
    """The check-in worker's settings or store are unusable (names the variable or the database)."""

    exit_code = 2


class SetupError(ReviewError):
    """Setup options that cannot work together (names the option to fix)."""

    exit_code = 2


# -- the webhook `setup` registers and the worker receives ---------------------------------------

ANNOTATION_CREATED = "ANNOTATION_CREATED"
ANNOTATION_UPDATED = "ANNOTATION_UPDATED"
ANNOTATIONS_DELETED = "ANNOTATIONS_DELETED"
WEBHOOK_ACTIONS = (ANNOTATION_CREATED, ANNOTATION_UPDATED, ANNOTATIONS_DELETED)
# Label Studio cannot sign webhooks; it can send up to 10 fixed headers, so the worker checks
# this one against WEBHOOK_SECRET.
WEBHOOK_SECRET_HEADER = "X-Webhook-Secret"

# The worker's store when DATABASE_URL is not set: a SQLite file in the current directory.
DEFAULT_DATABASE_URL = "sqlite:///review-project-worker.sqlite3"


# -- the reviewers file: a CSV with columns email, name and an optional slack_user_id ------------


@dataclass(frozen=True)
class Reviewer:
    """One reviewer as the lead listed them."""

    email: str
    name: str
    slack_user_id: str | None = None

    @property
    def first_name(self) -> str:
        return self.name.split(" ", 1)[0]

    @property
    def last_name(self) -> str:
        parts = self.name.split(" ", 1)
        return parts[1] if len(parts) > 1 else ""


def read_reviewers(path: str | Path) -> list[Reviewer]:
    """Read the reviewers CSV; one line naming file and line for anything wrong."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise ManifestError(f"{path}: cannot read reviewers file ({error.strerror})") from None
    except UnicodeDecodeError as error:
        raise ManifestError(f"{path}: not UTF-8 text (byte {error.start})") from None
    rows = csv.DictReader(text.splitlines())
    header = [name.strip().lower() for name in rows.fieldnames or []]
    for required in ("email", "name"):
        if required not in header:
            raise ManifestError(f"{path}: line 1: the header needs an {required!r} column (email,name,slack_user_id)")
    reviewers: list[Reviewer] = []
    seen: set[str] = set()
    for line, row in enumerate(rows, start=2):
        row = {(key or "").strip().lower(): _cell(value) for key, value in row.items()}
        email = row.get("email", "")
        if not email and not any(row.values()):
            continue
        problem = email_problem(email)
        if problem:
            raise ManifestError(f"{path}: line {line}: {email!r} {problem}")
        if email.lower() in seen:
            raise ManifestError(f"{path}: line {line}: {email} is listed twice")
        seen.add(email.lower())
        reviewers.append(Reviewer(email=email, name=row.get("name") or email, slack_user_id=row.get("slack_user_id") or None))
    if not reviewers:
        raise ManifestError(f"{path}: no reviewers listed")
    return reviewers


# Django's EmailValidator, which Label Studio's accounts go through (quoted local parts and
# address literals left out): checking here stops `setup` before it changes anything.
_LOCAL_PART = re.compile(r"[-!#$%&'*+/=?^_`{}|~0-9A-Z]+(\.[-!#$%&'*+/=?^_`{}|~0-9A-Z]+)*\Z", re.IGNORECASE)
_DOMAIN = re.compile(r"((?:[A-Z0-9](?:[A-Z0-9-]{0,61}[A-Z0-9])?\.)+)(?:[A-Z0-9-]{2,63}(?<!-))\Z", re.IGNORECASE)


def email_problem(email: str) -> str | None:
    """Why Label Studio would not take this email for an account, or None when it would."""
    if not email.isascii():
        return "has a character outside ASCII: Label Studio's accounts take ASCII emails only"
    local, at, domain = email.rpartition("@")
    if not at or not local or not _LOCAL_PART.match(local) or not (_DOMAIN.match(domain) or domain == "localhost"):
        return "is not an email address"
    if len(email) > 254:
        return "is longer than an email address may be (254 characters)"
    return None


def _cell(value) -> str:
    # A row with more cells than the header puts the extras in a list under the key None.
    if isinstance(value, list):
        return ",".join(value).strip()
    return (value or "").strip()


def write_reviewers(path: str | Path, reviewers: list[Reviewer]) -> None:
    """Write a reviewers CSV that read_reviewers reads back unchanged."""
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["email", "name", "slack_user_id"])
        for reviewer in reviewers:
            writer.writerow([reviewer.email, reviewer.name, reviewer.slack_user_id or ""])
