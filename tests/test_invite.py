"""What `invite` and `consent` say, from plain data (review_project/invitations.py), and the demo's
paragraph on how joining a real review goes. The commands themselves run against the real Label
Studio, store and Slack stand-in in tests/workers/test_consent_commands.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from review_project import invitations
from review_project.shared import ManifestError

AT = datetime(2026, 11, 27, 9, 30).timestamp()


@dataclass(frozen=True)
class Standing:  # the fields of workers.store.Consent that invite reads
    email: str
    state: str
    invited_at: float | None = AT
    consented_at: float | None = None
    declined_at: float | None = None
    recorded_by: str = "slack"


def test_line_numbers_skip_blank_lines_as_the_reviewers_file_does(tmp_path):
    path = tmp_path / "reviewers.csv"
    path.write_text("email,name,slack_user_id\nana@example.com,Ana,UANA\n\n,,\nBen@Example.com,Ben,\n")
    assert invitations.reviewer_lines(path) == {"ana@example.com": 2, "ben@example.com": 5}


def test_a_consent_by_hand_is_marked_with_the_leads_email():
    assert invitations.lead_mark(" Lead@Example.com ") == "lead:lead@example.com"
    with pytest.raises(ManifestError, match=r"^--recorded-by: 'lead' is not an email address$"):
        invitations.lead_mark("lead")


def test_the_workload_is_each_reviewers_share_and_waits_for_the_project():
    assert invitations.workload_text(1000, 4, 4).startswith("about 1000 transcripts for each reviewer (1000 in the review,")
    assert invitations.workload_text(1000, 4, 8).startswith("about 500 transcripts")
    assert invitations.workload_text(10, 4, 3).startswith("about 10 transcripts")  # never more than the project
    assert invitations.workload_text(None, None, 4) == "your lead will tell you how many transcripts before you start"


def test_the_table_and_the_lines_for_reviewers_without_slack():
    reviewers = [SimpleNamespace(email=e) for e in ("ana@example.com", "ben@example.com", "cy@example.com", "dee@example.com")]
    invited = SimpleNamespace(
        standings={
            "ana@example.com": Standing("ana@example.com", "invited"),
            "ben@example.com": Standing("ben@example.com", "consented", consented_at=AT + 60, recorded_by="lead:l@x.org"),
            "cy@example.com": Standing("cy@example.com", "invited"),
            "dee@example.com": Standing("dee@example.com", "declined", declined_at=AT + 120),
        },
        slack_ids={"ana@example.com": "UANA", "ben@example.com": None, "cy@example.com": None, "dee@example.com": "UDEE"},
        queued=frozenset({"ana@example.com"}), not_asked={"dee@example.com": "declined: not asked again"},
        last_active={7: "2026-11-28T10:00:00.123Z"},
    )
    members = {"ben@example.com": SimpleNamespace(id=7, last_activity=None)}
    rows = invitations.invitee_rows(reviewers, invited, members)
    text = invitations.invite_text(rows, version="abc", consent_text="Line one.\n\nLine two.", link="http://ls/user/signup/?token=T",
                                   new_link=True).splitlines()
    assert text[:2] == [
        "New invite link: http://ls/user/signup/?token=T (every older link no longer works).",
        "Consent text version abc: 1 consent DM(s) queued now; the worker (`review-project worker`) sends each once,"
        " and the invite link only after the reviewer agrees.",
    ]
    table = {line.split()[0]: line for line in text[4:8]}
    assert table["ana@example.com"].endswith("  consent DM queued")
    assert "2026-11-27 09:31 (by the lead)" in table["ben@example.com"] and "2026-11-28 10:00" in table["ben@example.com"]
    assert table["dee@example.com"].endswith("declined: not asked again")
    # Only cy needs the lead: ben has consented already, dee declined, ana is on Slack.
    by_hand = [line for line in text if "invite link http" in line]
    assert by_hand == ["  cy@example.com: invite link http://ls/user/signup/?token=T ; then:"
                       " review-project consent cy@example.com --recorded-by YOUR_EMAIL"]
    assert text[text.index("The consent text (version abc):") + 1:][:4] == ["", "    Line one.", "", "    Line two."]


def test_the_demo_says_how_a_real_review_asks_first():
    from review_project.demo import DemoResult, Login
    from review_project.project_setup import SetupReport

    result = DemoResult("http://127.0.0.1:8080", 1, Login("lead@example.com", "pw"), [Login("r1@example.com", "pw1")],
                        Path("/tmp/demo"), SetupReport(project_id=1))
    paragraph = [line for line in result.text(".review-demo").splitlines() if line.startswith("In a real review")]
    assert len(paragraph) == 1 and "review-project invite" in paragraph[0] and "review-project consent" in paragraph[0]
