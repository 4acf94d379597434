"""Broken Slack credentials are loud: invalid_auth, token_revoked, account_inactive and missing_scope
stop delivery for every worker, turn /healthz to 503 with the code, and log one line. Check-ins stay
pending and go out once auth.test passes again (one INFO line)."""

import logging
import time

import pytest

from tests.conftest import wait_until
from tests.workers.conftest import ALL_SCOPES, BOT_TOKEN, annotation, local_http
from tests.workers.test_service import start_worker, submit
from tests.workers.test_slack_delivery import reach, sender_for


def break_credentials(slack, code):
    if code == "missing_scope":
        slack.scopes.discard("im:write")  # the app was installed without it: conversations.open fails
    else:
        slack.auth_error = code  # Slack answers every call with it


def fix_credentials(slack):
    slack.auth_error = None
    slack.scopes.update(ALL_SCOPES)


def _make_the_next_probe_due(store):
    """As if the probe interval had passed since the last auth.test."""
    with store.backend.transaction() as cur:
        store.backend.run(cur, "UPDATE slack_delivery SET probed_at = 0")


def _not_probes(slack):
    with slack.lock:
        return [c.method for c in slack.calls if c.method != "auth.test"]


@pytest.mark.parametrize("code", ["invalid_auth", "token_revoked", "account_inactive", "missing_scope"])
def test_bad_credentials_stop_delivery_loudly_then_it_resumes(store, slack, slack_client, fake_label_studio, caplog, code):
    caplog.set_level(logging.INFO)
    slack.users["ada@example.com"] = "UADA"
    break_credentials(slack, code)
    running, parts = start_worker(store, slack_client, fake_label_studio, slack.url, credentials_probe_seconds=0.2)
    with running:
        health = f"{running.url}/healthz"
        for task in range(10):
            submit(running.url, 1, annotation(1, task, 7))
        wait_until(lambda: local_http.get(health).status_code == 503, what="/healthz 503")
        assert local_http.get(health).json() == {"ok": False, "slack": code}
        for task in range(10, 20):  # the webhook still works; the new check-in waits too
            submit(running.url, 1, annotation(1, task, 7))
        tried = _not_probes(slack)
        probes = len(slack.of("auth.test"))
        slack.wait_for("auth.test", probes + 3)
        # While stopped, only auth.test is asked: no check-in is tried (and none logs a line).
        assert _not_probes(slack) == tried and slack.dms() == []
        assert [c.status for c in store.checkins.all()] == ["pending", "pending"]
        assert local_http.get(health).json() == {"ok": False, "slack": code}

        fix_credentials(slack)
        slack.wait_for("chat.postMessage", 2)
        wait_until(lambda: local_http.get(health).status_code == 200, what="/healthz 200")
        wait_until(lambda: [c.status for c in store.checkins.all()] == ["sent", "sent"], what="both check-ins sent")
    assert slack.checkin_messages() == {"DUADA": [c.id for c in store.checkins.all()]}
    stopped = [r for r in caplog.records if "Slack delivery stopped" in r.getMessage()]
    resumed = [r for r in caplog.records if "Slack delivery resumed" in r.getMessage()]
    assert [(r.levelno, code in r.getMessage()) for r in stopped] == [(logging.ERROR, True)]
    assert [r.levelno for r in resumed] == [logging.INFO]
    assert [r for r in caplog.records if "stays pending" in r.getMessage()] == []
    assert BOT_TOKEN not in caplog.text


@pytest.mark.parametrize(
    "scope, method", [("users:read.email", "users.lookupByEmail"), ("im:write", "conversations.open"),
                      ("chat:write", "chat.postMessage"), ("im:history", "conversations.history")],
)
def test_a_missing_scope_on_any_delivery_call_stops_delivery(store, slack, delivery_clients, fake_label_studio, scope, method):
    slack.users["ada@example.com"] = "UADA"
    reach(store, 10)
    sender = sender_for(store, delivery_clients, fake_label_studio, retry_base_seconds=0.2)
    if method == "conversations.history":  # history is read only after a post without a clear answer
        slack.drop("chat.postMessage", record=False)
        sender.send_next()
        due = store.checkins.all()[0].next_attempt_at
        wait_until(lambda: time.time() > due, what="the retry time")
    slack.scopes.discard(scope)
    assert sender.send_all_due() == 0  # the pass ends at the first credentials error
    [checkin] = store.checkins.all()
    assert (checkin.status, checkin.last_error) == ("pending", f"{method}: missing_scope")
    assert checkin.next_attempt_at <= time.time()  # due again as soon as delivery resumes
    assert store.outbox.delivery_stopped() == "missing_scope"


def test_the_stop_is_shared_by_every_worker_and_a_probe_states_the_current_reason(
    store, slack, delivery_clients, fake_label_studio
):
    slack.users["ada@example.com"] = "UADA"
    slack.auth_error = "invalid_auth"
    one = sender_for(store, delivery_clients, fake_label_studio, worker="one", credentials_probe_seconds=3600)
    other = sender_for(store, delivery_clients, fake_label_studio, worker="other", credentials_probe_seconds=3600)
    reach(store, 10)
    assert one.send_all_due() == 0 and store.outbox.delivery_stopped() == "invalid_auth"
    # Another worker sees the stop: it asks auth.test once when it starts (it may have a new token)...
    assert other.delivery_running() is False and len(slack.of("auth.test")) == 1
    # ...and not again before the interval; the worker that saw the failure does not probe at once.
    assert [other.delivery_running(), one.delivery_running()] == [False, False] and len(slack.of("auth.test")) == 1

    # The token works again but lacks a scope the manifest asks for: still stopped, for that reason.
    slack.auth_error = None
    slack.scopes.discard("im:history")
    _make_the_next_probe_due(store)
    assert one.delivery_running() is False and store.outbox.delivery_stopped() == "missing_scope"

    slack.scopes.add("im:history")
    _make_the_next_probe_due(store)
    assert other.delivery_running() is True and store.outbox.delivery_stopped() is None
    assert one.delivery_running() is True  # cleared for everyone, without another probe
    assert len(slack.of("auth.test")) == 3
    assert one.send_all_due() == 1 and store.checkins.all()[0].status == "sent"


def test_the_documented_manifest_asks_for_every_scope_the_probe_requires():
    import re
    from pathlib import Path

    from workers.slack_delivery import REQUIRED_SCOPES

    from workers.digest_delivery import HISTORY_SCOPES

    doc = (Path(__file__).parents[2] / "docs" / "worker.md").read_text()
    [scopes] = re.findall(r"^\s+bot: \[(.*)\]$", doc, flags=re.M)
    # The lead's digest alone reads a channel's history; the probe does not require that scope.
    assert {s.strip() for s in scopes.split(",")} == REQUIRED_SCOPES | HISTORY_SCOPES == ALL_SCOPES
