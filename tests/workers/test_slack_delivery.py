"""Delivery through the real slack-sdk WebClient against the local Slack stand-in: the DM and its
metadata, who the reviewer is on Slack, 5xx and connection errors, check-ins left pending and shown
by `wellbeing --pending`. (Exactly-once and rate limits: test_delivery_once.py.)"""

import json
import time

from click.testing import CliRunner

from review_project.cli import cli
from review_project.shared import ANNOTATION_CREATED
from workers import messages
from workers.outbox import OutboxSender
from workers.slack_delivery import SlackDirectory
from workers.webhook import AnnotationSeen
from workers.store import CHECKIN_KINDS


def reach(store, count, reviewer=7, project=1):
    for task in range(count):
        store.events.record_annotation(
            AnnotationSeen(project, reviewer * 10_000 + task, task, reviewer, False, "t", ANNOTATION_CREATED), 10
        )


def sender_for(store, clients, label_studio, csv_ids=None, retry_base_seconds=60.0, worker="worker-1", **timings):
    directory = SlackDirectory(store, clients.lookup, label_studio, csv_ids or {})
    return OutboxSender(store, clients, directory, worker, 10, retry_base_seconds=retry_base_seconds, **timings)


def test_a_due_checkin_becomes_one_dm_with_three_buttons(store, slack, delivery_clients, fake_label_studio):
    slack.users["ada@example.com"] = "UADA"
    reach(store, 20)
    sender = sender_for(store, delivery_clients, fake_label_studio)
    assert sender.send_all_due() == 2
    # The DM channel is opened once and kept: Slack gives the same one each time.
    assert [c.params["users"] for c in slack.of("conversations.open")] == ["UADA"]
    dms = slack.dms()
    assert [d.params["channel"] for d in dms] == ["DUADA", "DUADA"]
    first = dms[0].params
    # Each message carries its check-in's id, which is how a lost answer is found again in the DM.
    checkins = store.checkins.all()
    assert [d.params["metadata"] for d in dms] == [
        {"event_type": "wellbeing_checkin", "event_payload": {"checkin_id": c.id}} for c in checkins
    ]
    assert slack.checkin_messages() == {"DUADA": [c.id for c in checkins]}
    assert "reviewed 10 transcripts" in first["text"] and "take a short walk" in first["text"]
    assert "make yourself a cup of tea" in dms[1].params["text"]  # the next idea from the paper's list
    buttons = [e for b in first["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [(b["text"]["text"], b["action_id"]) for b in buttons] == [
        ("Start check-in", messages.START), ("Not now", messages.NOT_NOW), ("Pause check-ins", messages.PAUSE),
        ("Stop reviewing", messages.STOP_REVIEWING),
    ]
    assert {c.status for c in store.checkins.all()} == {"sent"}
    assert store.checkins.all()[0].slack_user_id == "UADA" and store.checkins.all()[0].channel == "DUADA"
    # Label Studio's users.get and Slack's users.lookupByEmail were each asked once, then cached.
    assert fake_label_studio.user_calls == 1
    assert len(slack.of("users.lookupByEmail")) == 1
    assert slack.of("chat.postMessage")[0].headers["Authorization"] == "Bearer xoxb-test-token"


def test_the_reviewers_csv_slack_id_wins_over_lookup(store, slack, delivery_clients, fake_label_studio):
    reach(store, 10)
    sender_for(store, delivery_clients, fake_label_studio, {"ADA@example.com": "UFROMCSV"}).send_all_due()
    assert slack.of("users.lookupByEmail") == []
    assert slack.of("conversations.open")[0].params["users"] == "UFROMCSV"


def test_a_500_backs_off_then_stays_pending_and_shows_in_wellbeing_pending(
    store, slack, delivery_clients, fake_label_studio, database_url
):
    slack.users["ada@example.com"] = "UADA"
    slack.fail("users.lookupByEmail", 500)
    reach(store, 10)
    sender = sender_for(store, delivery_clients, fake_label_studio)
    before = time.time()
    assert sender.send_next()
    assert len(slack.of("users.lookupByEmail")) == 1  # not retried in the delivery thread
    [checkin] = store.checkins.all()
    assert (checkin.status, checkin.attempts, checkin.last_error) == ("pending", 1, "users.lookupByEmail: internal_error")
    assert checkin.next_attempt_at >= before + 60
    assert sender.send_next() is False  # not due again yet

    result = CliRunner().invoke(cli, ["wellbeing", "--pending"], env={"DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "1 check-in(s) not delivered:",
        "  #1 project 1, Ada Reviewer, milestone 10: pending after 1 attempt(s) - users.lookupByEmail: internal_error",
    ]
    as_json = json.loads(CliRunner().invoke(cli, ["wellbeing", "--pending", "--json"], env={"DATABASE_URL": database_url}).output)
    assert [(r["checkin"], r["status"]) for r in as_json] == [(1, "pending")]

    # Later, Slack is back: the same check-in goes out once.
    store.outbox.release_stale_claims(0)
    claimed = store.outbox.claim("other", CHECKIN_KINDS, now=checkin.next_attempt_at + 1)
    assert claimed.id == checkin.id and claimed.attempts == 2


def test_connection_errors_leave_the_checkin_pending(store, fake_label_studio, slack):
    from workers.slack_delivery import make_delivery_clients

    slack.users["ada@example.com"] = "UADA"
    closed = make_delivery_clients("xoxb-test-token", "http://127.0.0.1:9/api/", post_timeout=2, lookup_timeout=2)
    reach(store, 10)
    sender_for(store, closed, fake_label_studio).send_next()
    [checkin] = store.checkins.all()
    assert checkin.status == "pending" and checkin.last_error.startswith("users.lookupByEmail: connection failed")


def test_no_slack_account_or_no_email_is_a_failed_checkin(store, slack, delivery_clients, fake_label_studio):
    reach(store, 10, reviewer=8)  # bo@example.com is not in the Slack workspace
    reach(store, 10, reviewer=9)  # Label Studio user 9 has no email
    reach(store, 10, reviewer=4)  # Label Studio has no user 4
    sender_for(store, delivery_clients, fake_label_studio).send_all_due()
    errors = {c.reviewer: (c.status, c.last_error) for c in store.checkins.all()}
    assert errors == {
        8: ("failed", "users.lookupByEmail: users_not_found"),
        9: ("failed", "Label Studio user 9 has no email"),
        4: ("failed", "Label Studio user 4: not found"),
    }
    assert slack.dms() == []


def test_failed_checkins_go_out_after_the_cause_is_fixed_and_retry_failed(
    store, slack, delivery_clients, fake_label_studio, database_url
):
    reach(store, 10, reviewer=8)
    sender = sender_for(store, delivery_clients, fake_label_studio)
    sender.send_all_due()
    assert store.checkins.all()[0].status == "failed"
    slack.users["bo@example.com"] = "UBO"  # Bo joins the workspace
    result = CliRunner().invoke(cli, ["wellbeing", "--retry-failed"], env={"DATABASE_URL": database_url})
    assert (result.exit_code, result.output) == (0, "1 failed check-in(s) back to pending: a running worker sends them within seconds.\n")
    sender.send_all_due()
    assert store.checkins.all()[0].status == "sent" and [d.params["channel"] for d in slack.dms()] == ["DUBO"]
    conflict = CliRunner().invoke(cli, ["wellbeing", "--retry-failed", "--json"], env={"DATABASE_URL": database_url})
    assert conflict.exit_code == 2 and "--retry-failed changes the store and prints one line: use it alone" in conflict.output


def test_label_studio_down_keeps_the_checkin_pending(store, slack, delivery_clients, fake_label_studio):
    fake_label_studio.down = True
    reach(store, 10)
    sender_for(store, delivery_clients, fake_label_studio).send_next()
    [checkin] = store.checkins.all()
    assert (checkin.status, checkin.last_error) == ("pending", "Label Studio user: ConnectError")


def test_a_paused_reviewer_gets_no_checkin(store, slack, delivery_clients, fake_label_studio):
    slack.users["ada@example.com"] = "UADA"
    store.directory.set_paused("UADA", True)
    reach(store, 10)
    sender_for(store, delivery_clients, fake_label_studio).send_all_due()
    assert store.checkins.all()[0].status == "paused"
    assert slack.dms() == []
