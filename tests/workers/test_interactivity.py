"""Slack interactivity through the worker's /slack/events with requests signed the way Slack signs
them: the buttons, the survey modal and its answers, the lead's alert, and every refusal."""

import json
import time

import pytest

from tests.workers.conftest import (
    SIGNING_SECRET,
    button_payload,
    signed_interaction,
    survey_payload,
)
from tests.workers.test_slack_delivery import reach
from workers import messages
from workers.store import Reviewer
from workers.survey import ITEMS, block_id


@pytest.fixture
def sent_checkin(worker, store, slack):
    """One check-in (milestone 10) delivered to Ada (UADA) in DM DUADA."""
    slack.users["ada@example.com"] = "UADA"
    reach(store, 10)
    worker["sender"].send_all_due()
    [checkin] = store.checkins.all()
    assert checkin.status == "sent"
    return checkin


def interact(client, payload, **sign):
    body, headers = signed_interaction(payload, **sign)
    return client.post("/slack/events", content=body, headers=headers)



def test_start_opens_the_modal_with_the_papers_ten_items(client, slack, sent_checkin):
    response = interact(client, button_payload(messages.START, sent_checkin.id))
    assert response.status_code == 200
    [call] = slack.wait_for("views.open", 1)
    assert call.params["trigger_id"] == "1234.5678.abcd"
    view = call.params["view"]
    assert view["callback_id"] == messages.SURVEY_CALLBACK and view["private_metadata"] == str(sent_checkin.id)
    inputs = [b for b in view["blocks"] if b["type"] == "input"]
    assert [b["label"]["text"] for b in inputs] == [
        "Upset", "Hostile", "Alert", "Ashamed", "Inspired", "Nervous", "Determined", "Attentive", "Afraid", "Active",
        "Anything else you would like to share?",
    ]
    assert all(b["optional"] for b in inputs)
    assert [o["text"]["text"] for o in inputs[0]["element"]["options"]] == ["0 - not at all", "1", "2", "3", "4 - very"]
    assert len(view["title"]["text"]) <= 24


def test_an_answer_is_stored_and_thanked(client, slack, store, sent_checkin):
    scores = {"Upset": 1, "Alert": 3, "Attentive": 4}
    response = interact(client, survey_payload(sent_checkin.id, scores, comment="  long shift  "))
    assert response.status_code == 200 and response.content in (b"", b"{}")
    [stored] = store.checkins.answers()
    assert stored.answer.scores == {item: scores.get(item) for item in ITEMS}
    assert stored.answer.comment == "long shift"
    thanks = slack.wait_for("chat.postMessage", 1, where=lambda c: "Thank you for answering" in c.params.get("text", ""))
    assert thanks[0].params["channel"] == "DUADA"
    # No lead alert: nothing negative at 3 or more.
    assert [c for c in slack.of("chat.postMessage") if c.params["channel"] == "CLEAD"] == []
    # A second press of "Start check-in" says it was already answered instead of opening the modal.
    interact(client, button_payload(messages.START, sent_checkin.id))
    slack.wait_for("chat.postMessage", 1, where=lambda c: "already answered" in c.params.get("text", ""))
    assert slack.of("views.open") == []


def test_a_high_negative_item_tells_the_lead_without_quoting_answers(client, slack, store, sent_checkin):
    interact(client, survey_payload(sent_checkin.id, {"Afraid": 3, "Alert": 2}, comment="private words"))
    [alert] = slack.wait_for("chat.postMessage", 1, where=lambda c: c.params["channel"] == "CLEAD")
    assert alert.params["text"].startswith("Ada Reviewer may want a check-in")
    assert "private words" not in json.dumps(alert.params) and "Afraid" not in alert.params["text"]


def test_the_lead_alert_escapes_the_reviewer_name_so_it_pings_nobody(client, slack, store, sent_checkin):
    store.directory.cache_reviewer(Reviewer(7, "ada@example.com", "<!channel> Cy & co"))
    interact(client, survey_payload(sent_checkin.id, {"Afraid": 3}))
    [alert] = slack.wait_for("chat.postMessage", 1, where=lambda c: c.params["channel"] == "CLEAD")
    assert alert.params["text"].startswith("&lt;!channel&gt; Cy &amp; co may want a check-in")
    assert "<!" not in alert.params["text"]


def test_pause_then_resume(client, slack, store, sent_checkin):
    interact(client, button_payload(messages.PAUSE, sent_checkin.id))
    [confirmation] = slack.wait_for("chat.postMessage", 1, where=lambda c: "paused" in c.params.get("text", ""))
    resume = [e for b in confirmation.params["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [(b["text"]["text"], b["action_id"]) for b in resume] == [("Resume check-ins", messages.RESUME)]
    assert store.directory.is_paused("UADA")
    interact(client, button_payload(messages.RESUME, sent_checkin.id))
    slack.wait_for("chat.postMessage", 1, where=lambda c: "back on" in c.params.get("text", ""))
    assert not store.directory.is_paused("UADA")


def test_not_now_is_recorded(client, slack, store, sent_checkin):
    interact(client, button_payload(messages.NOT_NOW, sent_checkin.id))
    slack.wait_for("chat.postMessage", 1, where=lambda c: "No problem" in c.params.get("text", ""))
    assert store.checkins.get(sent_checkin.id).declined_at is not None


def test_someone_elses_checkin_is_not_opened_or_answered(client, slack, store, sent_checkin):
    interact(client, button_payload(messages.START, sent_checkin.id, user="UEVE", channel="DUEVE"))
    slack.wait_for("chat.postMessage", 1, where=lambda c: "belongs to someone else" in c.params.get("text", ""))
    response = interact(client, survey_payload(sent_checkin.id, {"Upset": 4}, user="UEVE"))
    assert response.json()["response_action"] == "errors"
    assert store.checkins.answers() == [] and slack.of("views.open") == []


def test_a_bad_score_is_shown_in_the_modal(client, store, sent_checkin):
    payload = survey_payload(sent_checkin.id, {"Upset": 1})
    payload["view"]["state"]["values"][block_id("Nervous")]["score"]["selected_option"] = {"value": "9"}
    response = interact(client, payload)
    assert response.json() == {"response_action": "errors", "errors": {block_id("Nervous"): "Nervous: value '9' is not one of 0-4"}}
    assert store.checkins.answers() == []


@pytest.mark.parametrize(
    "change, status, reason",
    [
        ({"secret": "not-the-secret"}, 401, "bad Slack signature (check SLACK_SIGNING_SECRET)"),
        ({"timestamp": int(time.time()) - 301}, 401, "requests older than 5 minutes are refused"),
    ],
)
def test_bad_signatures_and_old_requests_are_refused(client, store, slack, sent_checkin, change, status, reason):
    response = interact(client, button_payload(messages.PAUSE, sent_checkin.id), **change)
    assert response.status_code == status and reason in response.json()["error"]
    # Refused before Bolt dispatched it: no listener ran, so there is nothing to wait for.
    assert not store.directory.is_paused("UADA")


def _raw(client, body: bytes, content_type="application/x-www-form-urlencoded", headers=None):
    timestamp = str(int(time.time()))
    from slack_sdk.signature import SignatureVerifier

    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=timestamp, body=body)
    return client.post(
        "/slack/events", content=body,
        headers={"Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature,
                 **(headers or {})},
    )


@pytest.mark.parametrize(
    "body, status, reason",
    [
        (b"nothing=here", 400, "expected a form field 'payload'"),
        (b"payload=%7Bbroken", 400, "the 'payload' field is not valid JSON"),
        (b"payload=%7B%7D", 422, "payload.user.id missing"),
    ],
)
def test_malformed_interactions_are_refused_with_a_reason(client, body, status, reason):
    response = _raw(client, body)
    assert response.status_code == status and reason in response.json()["error"]


def test_unknown_actions_and_missing_fields_are_refused(client, sent_checkin):
    unknown = button_payload("launch_rockets", sent_checkin.id)
    assert interact(client, unknown).json() == {"error": "unknown action_id 'launch_rockets'"}
    no_trigger = button_payload(messages.START, sent_checkin.id)
    del no_trigger["trigger_id"]
    assert interact(client, no_trigger).status_code == 422
    bad_value = button_payload(messages.PAUSE, sent_checkin.id)
    bad_value["actions"][0]["value"] = "abc"
    assert interact(client, bad_value).json() == {"error": "actions[0].value is not a check-in id"}
    other_view = survey_payload(sent_checkin.id, {})
    other_view["view"]["callback_id"] = "someone_elses_modal"
    assert interact(client, other_view).json() == {"error": "unknown view callback_id"}
    missing_header = client.post("/slack/events", content=b"payload=%7B%7D")
    assert missing_header.status_code == 401 and "missing X-Slack-Request-Timestamp" in missing_header.json()["error"]
    assert _raw(client, b"x" * (1024 * 1024 + 1)).status_code == 413
    # Still serving.
    assert client.get("/healthz").status_code == 200


def test_slacks_url_verification_is_answered(client):
    response = _raw(client, json.dumps({"type": "url_verification", "challenge": "abc"}).encode(), "application/json")
    assert response.status_code == 200 and "abc" in response.text
