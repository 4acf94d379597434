"""`review-project worker` whose clock for pacing can be moved on by a test, so a break that is due
after minutes of continuous reviewing is tested without waiting them out.

Pacing times each task by the annotation's created_at (pacing.reviewed_at), which Label Studio
sets itself and its API does not let a client choose. Run as `python -m
tests.workers.clock_shifted_worker worker ...`, this is the real command, except that the web
process reads every webhook's annotation.created_at that many seconds later, in Label Studio's own
format, before workers.webhook checks it: the inbox, the pacing rules and the ledger all see the
moved time. The seconds are read from the file named by $CLOCK_SHIFT_FILE at each webhook (none
while it is missing); a test moves the clock with `run_ahead`.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

CLOCK_SHIFT_FILE = "CLOCK_SHIFT_FILE"


def run_ahead(env: dict, seconds: float) -> None:
    """From now on the worker started with `env` reads each annotation's created_at `seconds` later."""
    Path(env[CLOCK_SHIFT_FILE]).write_text(f"{seconds}\n")


def moved(created_at: str, seconds: float) -> str:
    """An ISO 8601 time `seconds` later, written as Label Studio writes it ("...Z" stays "...Z")."""
    later = datetime.fromisoformat(created_at.replace("Z", "+00:00")) + timedelta(seconds=seconds)
    text = later.isoformat()
    return text.replace("+00:00", "Z") if created_at.endswith("Z") else text


def _seconds_ahead() -> float:
    path = os.environ.get(CLOCK_SHIFT_FILE)
    try:
        return float(Path(path).read_text()) if path else 0.0
    except FileNotFoundError:
        return 0.0


def install() -> None:
    """Move created_at in every webhook this process reads (workers.webhook.parse_webhook's annotation_seen)."""
    from workers import webhook

    read = webhook.annotation_seen

    def annotation_seen(project, annotation, action, attack_id=None):
        seconds = _seconds_ahead()
        if seconds and isinstance(annotation, dict) and isinstance(annotation.get("created_at"), str):
            annotation = {**annotation, "created_at": moved(annotation["created_at"], seconds)}
        return read(project, annotation, action, attack_id)

    webhook.annotation_seen = annotation_seen


if __name__ == "__main__":
    from review_project.cli import main

    install()
    main()
