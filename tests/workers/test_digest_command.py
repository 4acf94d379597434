"""`review-project digest --print` through click's CliRunner, on a real store (SQLite and the real
PostgreSQL) holding ledger rows, check-ins delivered and answered, and severe-streak nudges."""

from __future__ import annotations

import time

import pytest
from click.testing import CliRunner

from review_project.cli import cli
from review_project.shared import ANNOTATION_CREATED
from tests.workers.test_ledger import rated, webhook
from workers.pacing import PacingRules
from workers.store import CHECKIN_KINDS, Reviewer
from workers.survey import SurveyAnswer

SEVERE_EVERY_5 = PacingRules(break_after_seconds=None, severe_streak=5, daily_task_cap=None)


@pytest.fixture
def reviewed_store(store):
    """Ten tasks each rated 3 by Ada and 1 by Bo (split: disputed); each got a check-in at 10 tasks;
    Ada's ratings of 3 made two severe-streak nudges; Ada answered hers (a negative item at 2)."""
    events = [webhook(ANNOTATION_CREATED, rated(1, task, reviewer, "3" if reviewer == 7 else "1"))
              for task in range(1, 11) for reviewer in (7, 8)]
    store.events.record_events(events, 10, rules=SEVERE_EVERY_5)
    store.directory.cache_reviewer(Reviewer(7, "ada@example.com", "Ada Reviewer"))
    store.directory.cache_reviewer(Reviewer(8, "bo@example.com", "Bo Reviewer"))
    while (checkin := store.outbox.claim("w", CHECKIN_KINDS)) is not None:
        store.outbox.mark_sent(checkin.id, "w", "U", "D", "1")
    [ada] = [c for c in store.checkins.all() if c.reviewer == 7 and c.kind == "milestone"]
    store.checkins.record_answer(ada.id, SurveyAnswer({"Upset": 2, "Alert": 3}, "a private comment"))
    return store


def test_digest_print_shows_the_digest_from_the_store(reviewed_store, database_url):
    before = time.time()
    result = CliRunner().invoke(cli, ["digest", "--print"], env={"DATABASE_URL": database_url, "REVIEWERS_PER_TASK": "2"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"Daily digest of the review, {time.strftime('%Y-%m-%d', time.localtime(before))} (since ")
    assert lines[2:5] == [
        "Project 1",
        "- Progress: 10 of 10 tasks fully reviewed (2 reviewers each); 0 in progress, 0 untouched",
        "- Tasks per reviewer: Ada Reviewer: 10, Bo Reviewer: 10",
    ]
    # Every task is rated 3 and 1: no agreement beyond chance, and every attack split.
    assert lines[5] == (
        "- Agreement so far: Fleiss' kappa -1.00 (95% interval -1.00 to -1.00; poor); success at 3 or more:"
        " -1.00 (95% interval -1.00 to -1.00; poor); over 10 tasks with 2 valid ratings"
    )
    assert lines[6] == "- Disputed attacks: 10"
    assert lines[8:12] == [
        "Well-being (every project)",
        "- Check-ins: 4 delivered, 1 answered (response rate 25%)",  # 2 at 10 tasks, Ada's 2 severe-streak
        "- Negative affect: shown once 3 reviewers have answered, 1 so far (the paper's 0.24)",
        "- May want a check-in: Ada Reviewer",
    ]
    assert lines[12].endswith(": 2 (2 severe streak); in total: 2 (2 severe streak)")
    # Never an answer: no comment, no score of Ada's.
    assert "private comment" not in result.output and "2.00" not in result.output
    # Nothing was posted or claimed: the worker alone posts.
    with reviewed_store.backend.transaction(write=False) as cur:
        assert reviewed_store.backend.run(cur, "SELECT count(*) FROM outbox WHERE kind = 'digest'").fetchone()[0] == 0


def test_the_option_names_the_reviewers_per_task(reviewed_store, database_url):
    result = CliRunner().invoke(cli, ["digest", "--print", "--database-url", database_url, "--reviewers-per-task", "3"])
    assert result.exit_code == 0, result.output
    assert "- Progress: 0 of 10 tasks fully reviewed (3 reviewers each); 10 in progress, 0 untouched" in result.output


def test_digest_needs_print_and_a_store(tmp_path):
    without = CliRunner().invoke(cli, ["digest"])
    assert without.exit_code == 2
    assert "Error: give --print: this command prints the digest; the worker alone posts it" in without.output
    missing = CliRunner().invoke(cli, ["digest", "--print", "--database-url", f"sqlite:///{tmp_path}/none.sqlite3"])
    assert missing.exit_code == 2
    assert missing.output == (
        f"Error: no worker store at {tmp_path}/none.sqlite3: start `review-project worker` first, or set DATABASE_URL\n"
    )
    one = CliRunner().invoke(cli, ["digest", "--print", "--reviewers-per-task", "1"])
    assert one.exit_code == 2 and "1 is not in the range 2<=x<=50" in one.output
