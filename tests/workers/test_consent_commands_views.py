"""What `status`, `digest --print` and `wellbeing` show of consent: per reviewer consented (when),
joined, tasks done, and a flag on anyone who annotated without a recorded consent. Run through
click's CliRunner on the worker's real store (SQLite and PostgreSQL) and, for status, the real
Label Studio."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from click.testing import CliRunner

from review_project.cli import cli
from tests.workers.test_slack_delivery import reach
from workers.store import Reviewer, open_store

CONSENTED_AT = datetime(2026, 11, 27, 9, 30).timestamp()


def consent_log(store, consented: str, asked: list[str]) -> None:
    """`consented` agreed in Slack; each of `asked` was invited and has not answered."""
    version = store.consents.keep_text("The consent text.")
    for email in [consented, *asked]:
        store.consents.invite(email, None, version, now=CONSENTED_AT - 60)
    store.consents.record(consented, "consented", version, "slack", now=CONSENTED_AT)


@pytest.fixture
def worked_store(store):
    """Ada (consented) did 12 tasks, Bo (never asked) 3; Cy was asked and has not joined."""
    reach(store, 12, reviewer=7)
    reach(store, 3, reviewer=8)
    store.directory.cache_reviewer(Reviewer(7, "ada@example.com", "Ada Reviewer"))
    store.directory.cache_reviewer(Reviewer(8, "bo@example.com", "Bo Reviewer"))
    consent_log(store, "ada@example.com", ["cy@example.com"])
    return store


def test_the_digest_and_wellbeing_flag_who_annotated_without_a_recorded_consent(worked_store, database_url):
    digest = CliRunner().invoke(cli, ["digest", "--print"], env={"DATABASE_URL": database_url})
    assert digest.exit_code == 0, digest.output
    assert digest.output.splitlines()[-4:] == [
        "Consent (consented, joined, tasks done)",
        "- ada@example.com: 2026-11-27 09:30; joined; 12 tasks",
        "- bo@example.com: never asked; joined; 3 tasks - annotated without a recorded consent",
        "- cy@example.com: asked, no answer; not joined; 0 tasks",
    ]
    wellbeing = CliRunner().invoke(cli, ["wellbeing"], env={"DATABASE_URL": database_url})
    assert wellbeing.exit_code == 0, wellbeing.output
    assert wellbeing.output.splitlines()[-6:] == [
        "Consent (review-project invite):",
        "  reviewer         consented         joined  tasks",
        "  ada@example.com  2026-11-27 09:30  yes        12",
        "  bo@example.com   never asked       yes         3  annotated without a recorded consent",
        "  cy@example.com   asked, no answer  no          0",
        "1 annotated without a recorded consent: bo@example.com (they came in another way; `review-project invite` asks them)",
    ]
    as_json = CliRunner().invoke(cli, ["wellbeing", "--json"], env={"DATABASE_URL": database_url})
    rows = {row["email"]: row for row in json.loads(as_json.output)["consent"]}
    assert (rows["bo@example.com"]["unconsented"], rows["ada@example.com"]["consented_at"]) == (True, CONSENTED_AT)


def test_a_withdrawal_is_shown_and_a_consent_given_before_stays_recorded(worked_store, database_url):
    version = worked_store.consents.standing("ada@example.com").version
    worked_store.consents.record("ada@example.com", "withdrawn", version, "slack", now=CONSENTED_AT + 3600)
    text = CliRunner().invoke(cli, ["wellbeing"], env={"DATABASE_URL": database_url}).output
    # She annotated after consenting: withdrawing later does not make her work unconsented.
    assert "  ada@example.com  withdrew          yes        12\n" in text
    assert worked_store.consents.standing("ada@example.com").consented_at == CONSENTED_AT


def test_nothing_about_consent_before_anyone_is_invited(store, database_url):
    reach(store, 3, reviewer=8)
    for args in (["digest", "--print"], ["wellbeing"]):
        result = CliRunner().invoke(cli, args, env={"DATABASE_URL": database_url})
        assert result.exit_code == 0 and "onsent" not in result.output, args


@pytest.mark.label_studio
def test_status_shows_every_reviewers_consent_beside_their_tasks(label_studio, reviewed_project, tmp_path):
    database_url = f"sqlite:///{tmp_path / 'worker.sqlite3'}"
    store = open_store(database_url)
    first, second, *_ = reviewed_project.reviewer_emails
    try:
        consent_log(store, first, [second, "newcomer@example.com"])
    finally:
        store.close()
    env = {**label_studio.env(), "DATABASE_URL": database_url}
    result = CliRunner().invoke(cli, ["status", "--project", reviewed_project.title, "--from-label-studio", "--silent"], env=env)
    assert result.exit_code == 0, result.output
    consent = result.output.split("Consent (review-project invite):\n", 1)[1].splitlines()
    assert consent == [
        "  reviewer              consented         joined  tasks",
        "  newcomer@example.com  asked, no answer  no          0",
        "  panel1@example.com    2026-11-27 09:30  yes         8",
        "  panel2@example.com    asked, no answer  yes         8  annotated without a recorded consent",
        "  panel3@example.com    never asked       yes         8  annotated without a recorded consent",
        "  panel4@example.com    never asked       yes         8  annotated without a recorded consent",
        "3 annotated without a recorded consent: panel2@example.com, panel3@example.com, panel4@example.com"
        " (they came in another way; `review-project invite` asks them)",
    ]
    # Without the worker's store there is no consent to show, and status says nothing of it.
    plain = CliRunner().invoke(cli, ["status", "--project", reviewed_project.title, "--silent"], env=label_studio.env())
    assert plain.exit_code == 0 and "Consent" not in plain.output
