"""`review-project invite` and `review-project consent`, run as a lead runs them (click's CliRunner)
against the real Label Studio, the worker's store on SQLite and on PostgreSQL, and the Slack stand-in."""

from __future__ import annotations

import itertools

import pytest
from click.testing import CliRunner

from review_project.cli import cli
from review_project.shared import Reviewer, write_reviewers
from tests.workers.conftest import ALL_SCOPES, BOT_TOKEN
from workers.store import open_store

pytestmark = pytest.mark.label_studio
_people = itertools.count(1)


def answers_users_info(slack) -> None:
    """Teach the stand-in users.info, which the invite asks for each listed Slack id (as Slack answers it)."""
    delegate = slack.answer

    def answer(method, params):
        if method != "users.info":
            return delegate(method, params)
        headers = {"X-OAuth-Scopes": ",".join(sorted(ALL_SCOPES))}
        if params.get("user") in set(slack.users.values()):
            return 200, {"ok": True, "user": {"id": params["user"], "deleted": False}}, headers, None
        return 200, {"ok": False, "error": "user_not_found"}, headers, None

    slack.answer = answer


@pytest.fixture
def people(slack):
    """Three new reviewers: one listed with a Slack id, one Slack finds by email, one without Slack."""
    n = next(_people)
    ana, ben, cy = (f"{name}{n}@example.com" for name in ("ana", "ben", "cy"))
    slack.users.update({ana: f"UANA{n}", ben: f"UBEN{n}"})
    answers_users_info(slack)
    return [Reviewer(ana, "Ana A", f"UANA{n}"), Reviewer(ben, "Ben B"), Reviewer(cy, "Cy C")]


def run(args, label_studio, database_url, slack, **env):
    environ = {**label_studio.env(), "DATABASE_URL": database_url, "SLACK_BOT_TOKEN": BOT_TOKEN,
               "SLACK_API_URL": slack.url, "CONSENT_CONTACT": "", "CHECKIN_EVERY": "", **env}
    return CliRunner().invoke(cli, args, env=environ)


def consent_messages(store) -> list:
    return store.outbox.messages(("consent",))


def invited_events(store) -> int:
    with store.backend.transaction(write=False) as cur:
        return store.backend.run(cur, "SELECT count(*) FROM consent_events WHERE event = 'invited'").fetchone()[0]


def test_invite_queues_one_consent_dm_per_slack_reviewer_and_a_rerun_queues_nothing(
        label_studio, database_url, slack, people, tmp_path):
    ana, ben, cy = people
    path = tmp_path / "reviewers.csv"
    write_reviewers(path, people)
    args = ["invite", "--reviewers", str(path), "--project", "Not set up yet", "--contact", "Dana, dana@example.com"]

    first = run(args, label_studio, database_url, slack)
    assert first.exit_code == 0, first.output
    store = open_store(database_url)
    try:
        messages = consent_messages(store)
        standing = {c.email: c for c in store.consents.everyone()}
        version = standing[ana.email].version
        assert {(m.subject, m.recipient, m.status) for m in messages} == {
            (f"{ana.email}|{version}", ana.slack_user_id, "pending"),
            (f"{ben.email}|{version}", slack.users[ben.email], "pending"),
        }
        assert {email: (c.state, c.version) for email, c in standing.items()} == {
            p.email: ("invited", version) for p in people}
        # The text kept is the one the worker will show: it names the contact and no transcript.
        assert "Dana, dana@example.com" in store.consents.text(version)
        assert invited_events(store) == 3
    finally:
        store.close()
    assert slack.of("chat.postMessage") == []  # the worker posts; invite only queues
    assert [c.params["user"] for c in slack.of("users.info")] == [ana.slack_user_id]
    link = label_studio.client().organizations.invites.get_invite_link().invite_url
    lines = first.output.splitlines()
    assert lines[0].startswith(f"Consent text version {version}: 2 consent DM(s) queued now")
    assert f"  {cy.email}: invite link {label_studio.url}{link} ;" in first.output
    assert ana.email not in [line.split(":")[0].strip() for line in lines if "invite link http" in line]

    again = run(args, label_studio, database_url, slack)
    assert again.exit_code == 0, again.output
    assert again.output.splitlines()[0].startswith(f"Consent text version {version}: 0 consent DM(s) queued now")
    store = open_store(database_url)
    try:
        assert len(consent_messages(store)) == 2 and invited_events(store) == 3
    finally:
        store.close()


def test_invite_shows_who_joined_and_never_asks_again_who_declined(label_studio, database_url, slack, people, tmp_path):
    ana, ben, cy = people
    path = tmp_path / "reviewers.csv"
    write_reviewers(path, people)
    args = ["invite", "--reviewers", str(path), "--project", "Not set up yet"]
    assert run(args, label_studio, database_url, slack).exit_code == 0
    label_studio.make_reviewer(ben.email)
    store = open_store(database_url)
    try:
        version = store.consents.standing(ana.email).version
        store.consents.record(ana.email, "declined", version, "slack", ana.slack_user_id)
    finally:
        store.close()

    # A new contact is a new consent text: ben is asked again, ana (who declined) is not.
    changed = run([*args, "--contact", "Eve, eve@example.com"], label_studio, database_url, slack)
    assert changed.exit_code == 0, changed.output
    rows = {line.split()[0]: line for line in changed.output.splitlines() if line.startswith("  ") and "@" in line.split()[0]}
    assert "declined: not asked again" in rows[ana.email] and " no " in rows[ana.email]
    assert "consent DM queued" in rows[ben.email] and " yes " in rows[ben.email]
    # Back to the first text: the worker takes the text kept last as current, so that is refused, not sent.
    back = run(args, label_studio, database_url, slack)
    assert back.exit_code == 2 and "was used before version " in back.output and len(back.output.splitlines()) == 1
    store = open_store(database_url)
    try:
        new = store.consents.standing(ben.email).version
        assert new != version
        assert sorted(m.subject for m in consent_messages(store)) == sorted(
            [f"{ana.email}|{version}", f"{ben.email}|{version}", f"{ben.email}|{new}"])
        assert store.consents.standing(ana.email).state == "declined"
    finally:
        store.close()


@pytest.mark.parametrize("row, problem", [
    (Reviewer("dan@example.com", "Dan", "UNOBODY"), "line 3: Slack id UNOBODY of dan@example.com is no such user"),
    (Reviewer("ANA@example.com", "Ana again"), "line 3: ANA@example.com is listed twice"),
    (Reviewer("not-an-email", "X"), "line 3: 'not-an-email' is not an email address"),
])
def test_a_bad_reviewers_file_stops_invite_before_anything_is_stored(label_studio, database_url, slack, tmp_path, row, problem):
    answers_users_info(slack)
    slack.users["ana@example.com"] = "UANA"
    path = tmp_path / "reviewers.csv"
    write_reviewers(path, [Reviewer("ana@example.com", "Ana", "UANA"), row])
    link = label_studio.client().organizations.invites.get_invite_link().invite_url
    result = run(["invite", "--reviewers", str(path), "--new-link"], label_studio, database_url, slack)
    assert result.exit_code == 2
    assert label_studio.client().organizations.invites.get_invite_link().invite_url == link  # not reset either
    assert result.output.strip().splitlines()[-1].endswith(problem)
    assert len(result.output.strip().splitlines()) == 1
    store = open_store(database_url)
    try:
        assert store.consents.everyone() == [] and consent_messages(store) == []
    finally:
        store.close()


def test_the_lead_records_a_consent_given_outside_slack(label_studio, database_url, slack, people, tmp_path):
    ana, ben, cy = people
    path = tmp_path / "reviewers.csv"
    write_reviewers(path, people)
    assert run(["invite", "--reviewers", str(path)], label_studio, database_url, slack).exit_code == 0

    recorded = run(["consent", cy.email.upper(), "--recorded-by", "Lead@example.com"], label_studio, database_url, slack)
    assert recorded.exit_code == 0, recorded.output
    assert "recorded by lead@example.com (by hand)" in recorded.output
    again = run(["consent", cy.email, "--recorded-by", "lead@example.com"], label_studio, database_url, slack)
    assert again.exit_code == 0 and again.output.startswith(f"Nothing to record: {cy.email} consented")
    # By hand for someone on Slack too: the worker then sends them the invite link.
    assert run(["consent", ana.email, "--recorded-by", "lead@example.com"], label_studio, database_url, slack).exit_code == 0
    store = open_store(database_url)
    try:
        for person in (cy, ana):
            standing = store.consents.standing(person.email)
            assert (standing.state, standing.recorded_by) == ("consented", "lead:lead@example.com")
            assert store.consents.consented(person.email, standing.version)
        assert [(m.subject, m.recipient) for m in store.outbox.messages(("welcome",))] == [
            (f"{ana.email}|{standing.version}", ana.slack_user_id)]
    finally:
        store.close()

    never = run(["consent", "zed@example.com", "--recorded-by", "lead@example.com"], label_studio, database_url, slack)
    assert never.exit_code == 2 and "zed@example.com was never invited" in never.output
    bad = run(["consent", cy.email, "--recorded-by", "lead"], label_studio, database_url, slack)
    assert bad.exit_code == 2 and "--recorded-by: 'lead' is not an email address" in bad.output


def test_a_new_link_stops_the_old_one_working(label_studio, database_url, slack, people, tmp_path):
    path = tmp_path / "reviewers.csv"
    write_reviewers(path, people)
    old = label_studio.client().organizations.invites.get_invite_link().invite_url
    result = run(["invite", "--reviewers", str(path), "--new-link"], label_studio, database_url, slack)
    assert result.exit_code == 0, result.output
    new = label_studio.client().organizations.invites.get_invite_link().invite_url
    assert new != old
    assert result.output.splitlines()[0] == f"New invite link: {label_studio.url}{new} (every older link no longer works)."
