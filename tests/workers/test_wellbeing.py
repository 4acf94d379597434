"""The lead's summary: numbers computed by hand, the paper's means beside ours, comments only on
request, and the `wellbeing` command's output and errors through CliRunner."""

import json

import pytest
from click.testing import CliRunner

from review_project.cli import cli
from tests.workers.test_slack_delivery import reach
from workers.store import CHECKIN_KINDS, Reviewer
from workers.survey import ITEMS, PAPER_MEANS, SurveyAnswer
from workers.wellbeing import summarize


@pytest.fixture
def answered_store(store):
    """Ada: milestones 10, 20 sent, both answered; Bo: 10 sent, unanswered; Ada 30 pending."""
    reach(store, 30, reviewer=7)
    reach(store, 10, reviewer=8)
    store.directory.cache_reviewer(Reviewer(7, "ada@example.com", "Ada Reviewer"))
    store.directory.cache_reviewer(Reviewer(8, "bo@example.com", "Bo Reviewer"))
    by_key = {(c.reviewer, c.milestone): c for c in store.checkins.all()}
    while (checkin := store.outbox.claim("w", CHECKIN_KINDS)) is not None:
        if (checkin.reviewer, checkin.milestone) == (7, 30):
            store.outbox.mark_retry(checkin.id, "w", "chat.postMessage: HTTP 500", retry_at=10**12)
        else:
            store.outbox.mark_sent(checkin.id, "w", "U", "D", "1")
    store.checkins.record_answer(by_key[(7, 10)].id, SurveyAnswer({"Upset": 0, "Alert": 2, "Afraid": 1}, "first comment"))
    store.checkins.record_answer(by_key[(7, 20)].id, SurveyAnswer({"Upset": 3, "Alert": 4, "Active": 2}, None))
    return store


def test_summary_numbers(answered_store):
    s = summarize(answered_store.checkins.all(), answered_store.checkins.answers(), answered_store.directory.reviewers())
    assert (s["checkins"], s["delivered"], s["answered"], s["response_rate"]) == (4, 3, 2, 0.667)
    assert s["by_status"] == {"pending": 1, "sent": 3}
    items = {row["item"]: row for row in s["items"]}
    assert [row["item"] for row in s["items"]] == list(ITEMS)
    assert (items["Upset"]["mean"], items["Upset"]["answers"]) == (1.5, 2)
    assert (items["Alert"]["mean"], items["Afraid"]["mean"], items["Hostile"]["mean"]) == (3.0, 1.0, None)
    assert {row["item"]: row["paper_mean"] for row in s["items"]} == PAPER_MEANS
    assert PAPER_MEANS["Attentive"] == 1.73 and PAPER_MEANS["Hostile"] == 0.16
    # Trend: negative mean per answer averaged over the items it answered.
    assert s["trend"] == [
        {"milestone": 10, "sent": 2, "answers": 1, "negative_mean": 0.5, "positive_mean": 2.0},
        {"milestone": 20, "sent": 1, "answers": 1, "negative_mean": 3.0, "positive_mean": 3.0},
    ]
    assert s["not_answered"] == [{"reviewer": "Bo Reviewer", "sent": 1, "answered": 0}]
    assert "comments" not in s and "first comment" not in json.dumps(s)


def test_comments_only_when_asked(answered_store):
    s = summarize(answered_store.checkins.all(), answered_store.checkins.answers(), answered_store.directory.reviewers(), include_comments=True)
    assert s["comments"] == [{"milestone": 10, "reviewer": "Ada Reviewer", "comment": "first comment"}]


def test_no_checkins_yet():
    s = summarize([], [], {})
    assert (s["response_rate"], s["trend"], s["not_answered"]) == (None, [], [])
    assert all(row["mean"] is None for row in s["items"])


def test_the_command_prints_the_summary(answered_store, database_url):
    result = CliRunner().invoke(cli, ["wellbeing"], env={"DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Check-ins: 4 due, 3 delivered, 2 answered (response rate 67%)"
    assert lines[1] == "Not delivered: 1 pending (see --pending)"
    assert "Upset         1.50   0.31    2" in lines
    assert "Hostile          -   0.16    0" in lines
    assert "10              2        1      0.50      2.00" in lines
    assert "  Bo Reviewer: answered 0 of 1" in lines
    assert "first comment" not in result.output

    with_comments = CliRunner().invoke(cli, ["wellbeing", "--include-comments"], env={"DATABASE_URL": database_url})
    assert "  [Ada Reviewer, milestone 10] first comment" in with_comments.output.splitlines()

    as_json = CliRunner().invoke(cli, ["wellbeing", "--json"], env={"DATABASE_URL": database_url})
    assert json.loads(as_json.output)["response_rate"] == 0.667


def test_the_command_rejects_conflicting_options_and_a_missing_store(tmp_path):
    conflict = CliRunner().invoke(cli, ["wellbeing", "--pending", "--include-comments"])
    assert conflict.exit_code == 2
    assert "--pending lists undelivered check-ins, which have no comments: drop --include-comments" in conflict.output
    missing = CliRunner().invoke(cli, ["wellbeing", "--database-url", f"sqlite:///{tmp_path}/none.sqlite3"])
    assert missing.exit_code == 2
    assert missing.output == (
        f"Error: no worker store at {tmp_path}/none.sqlite3: start `review-project worker` first, or set DATABASE_URL\n"
    )


def test_wellbeing_report_and_retry_without_click(answered_store, database_url):
    import workers

    report = workers.wellbeing_report(database_url)
    assert report.data["response_rate"] == 0.667 and report.text.startswith("Check-ins: 4 due, 3 delivered")
    pending = workers.wellbeing_report(database_url, pending=True)
    assert [row["milestone"] for row in pending.data] == [30]
    assert workers.retry_failed_checkins(database_url) == 0


def test_missed_milestones_are_shown_apart_from_undelivered_ones(store, database_url):
    from review_project.shared import ANNOTATION_CREATED
    from workers.store import MISSED
    from workers.webhook import AnnotationSeen

    events = [AnnotationSeen(1, 5000 + task, task, 7, False, "t", ANNOTATION_CREATED) for task in range(1, 26)]
    store.events.record_events(events, 10, scheduling=MISSED)
    result = CliRunner().invoke(cli, ["wellbeing"], env={"DATABASE_URL": database_url})
    lines = result.output.splitlines()
    assert lines[0] == "Check-ins: 2 due, 0 delivered, 0 answered (response rate -)"
    assert lines[1] == (
        "Missed: 2 milestone(s) reached while the worker was not watching or had no Slack; not sent"
        " (a reviewer gets at most one check-in for the latest)"
    )
    assert "Not delivered" not in result.output
