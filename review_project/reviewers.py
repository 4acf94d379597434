"""The reviewers file: a CSV with columns email, name and an optional slack_user_id."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from review_project.errors import ManifestError


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
    rows = csv.DictReader(text.splitlines())
    header = [name.strip().lower() for name in rows.fieldnames or []]
    for required in ("email", "name"):
        if required not in header:
            raise ManifestError(f"{path}: line 1: the header needs an {required!r} column (email,name,slack_user_id)")
    reviewers: list[Reviewer] = []
    seen: set[str] = set()
    for line, row in enumerate(rows, start=2):
        row = {(key or "").strip().lower(): (value or "").strip() for key, value in row.items()}
        email = row.get("email", "")
        if not email and not any(row.values()):
            continue
        if "@" not in email:
            raise ManifestError(f"{path}: line {line}: {email!r} is not an email address")
        if email.lower() in seen:
            raise ManifestError(f"{path}: line {line}: {email} is listed twice")
        seen.add(email.lower())
        reviewers.append(Reviewer(email=email, name=row.get("name") or email, slack_user_id=row.get("slack_user_id") or None))
    if not reviewers:
        raise ManifestError(f"{path}: no reviewers listed")
    return reviewers


def write_reviewers(path: str | Path, reviewers: list[Reviewer]) -> None:
    """Write a reviewers CSV that read_reviewers reads back unchanged."""
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["email", "name", "slack_user_id"])
        for reviewer in reviewers:
            writer.writerow([reviewer.email, reviewer.name, reviewer.slack_user_id or ""])
