"""A client's fault is a 4xx with a one-line reason, never a 5xx: ids beyond 64 bits, integers too
long to read, JSON nested too deep, a non-ASCII Slack signature, odd interaction shapes. Each goes
through the worker on a real port; the logs hold no traceback and no ERROR, and it keeps serving."""

import json
import logging
import time

import pytest
from slack_sdk.signature import SignatureVerifier

from tests.workers.conftest import (
    local_http,
    SIGNING_SECRET,
    WEBHOOK_SECRET,
    annotation,
    button_payload,
    signed_interaction,
    survey_payload,
    webhook_body,
)
from tests.workers.test_service import start_worker
from tests.workers.test_slack_delivery import reach
from workers import messages

DEEP = b'{"action": "ANNOTATION_CREATED", "project": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
LONG_INT = b'{"action": "ANNOTATION_CREATED", "project": {"id": ' + b"9" * 4301 + b"}}"


def _body(project=1, **annotation_fields) -> bytes:
    ann = dict(annotation(1, 1, 7), **annotation_fields)
    return json.dumps({"action": "ANNOTATION_CREATED", "annotation": ann, "project": {"id": project}}).encode()


WEBHOOK_FAULTS = [
    (_body(project=2**63), 422, "project.id is out of range (ids are 0 to 2**63-1)"),
    (_body(id=2**64), 422, "annotation.id is out of range"),
    (_body(task=-1), 422, "annotation.task is out of range"),
    (_body(completed_by={"id": 10**30}), 422, "annotation.completed_by is out of range"),
    (b'{"action": "ANNOTATIONS_DELETED", "project": {"id": 1}, "annotations": [{"id": 9223372036854775808}]}',
     422, "annotations[0].id is out of range"),
    (LONG_INT, 400, "body holds a number too long to read"),
    (DEEP, 400, "body is nested too deeply"),
    (b'{"a": ' * 50_000 + b"1" + b"}" * 50_000, 400, "body is nested too deeply"),
]


@pytest.fixture
def running(store, slack, slack_client, fake_label_studio, caplog):
    """The worker on a real port with one check-in sent to Ada (UADA) and one never sent (reviewer 8)."""
    caplog.set_level(logging.INFO)
    slack.users["ada@example.com"] = "UADA"
    running, parts = start_worker(store, slack_client, fake_label_studio, slack.url)
    with running:
        reach(store, 10)
        slack.wait_for("chat.postMessage", 1)
        parts["service"].stop()  # keep the second check-in unsent
        reach(store, 10, reviewer=8)
        yield running


def _no_traceback_and_still_serving(running, caplog):
    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []
    assert "Traceback" not in caplog.text
    assert local_http.get(f"{running.url}/healthz").status_code == 200
    good = local_http.post(f"{running.url}/label-studio/webhook", content=webhook_body("ANNOTATION_CREATED", annotation(5, 1, 7), 5),
                      headers={"X-Webhook-Secret": WEBHOOK_SECRET})
    assert good.status_code == 200


def test_webhook_client_faults_are_4xx_with_a_reason_logged_at_info(running, store, caplog):
    for body, status, reason in WEBHOOK_FAULTS:
        response = local_http.post(f"{running.url}/label-studio/webhook", content=body,
                              headers={"X-Webhook-Secret": WEBHOOK_SECRET, "Content-Type": "application/json"}, timeout=10)
        assert (response.status_code, response.json()["error"][: len(reason)]) == (status, reason), body[:80]
        assert f"webhook refused ({status}): {reason}" in caplog.text
    assert 2 not in store.events.known_projects()
    _no_traceback_and_still_serving(running, caplog)


def _signed(payload_or_body, secret=SIGNING_SECRET, content_type="application/x-www-form-urlencoded"):
    if isinstance(payload_or_body, dict):
        return signed_interaction(payload_or_body, secret)
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=payload_or_body)
    return payload_or_body, {"Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp,
                             "X-Slack-Signature": signature}


def _odd_payloads(sent_id: int) -> list[tuple[dict | bytes, int]]:
    start = button_payload(messages.START, sent_id)
    return [
        (dict(start, user="UADA"), 422),
        (dict(start, actions=[dict(start["actions"][0], value="9" * 30)]), 422),
        (dict(start, actions=[dict(start["actions"][0], value="\u0665")]), 422),  # an Arabic-Indic five
        (dict(start, actions=[dict(start["actions"][0], value=" 1")]), 422),
        (dict(start, trigger_id=["x"]), 422),
        (dict(survey_payload(sent_id, {}), view=dict(survey_payload(sent_id, {})["view"], state="x")), 422),
        (dict(survey_payload(sent_id, {}), view=dict(survey_payload(sent_id, {})["view"], private_metadata=str(2**63))), 422),
        (b"payload=" + b"%5B" * 50_000, 400),
        (b"payload=%7B%22user%22%3A" + b"9" * 4400 + b"%7D", 400),
        (json.dumps({"type": "url_verification", "challenge": 10**20}).encode()[:-1] + b"9" * 4400 + b"}", 400),
    ]


def test_slack_client_faults_are_4xx_and_a_non_ascii_signature_is_401(running, store, slack, caplog):
    sent = store.checkins.all(("sent",))[0]
    for payload, status in _odd_payloads(sent.id):
        content_type = "application/json" if isinstance(payload, bytes) and payload.startswith(b"{") else \
            "application/x-www-form-urlencoded"
        body, headers = _signed(payload, content_type=content_type)
        response = local_http.post(f"{running.url}/slack/events", content=body, headers=headers)
        assert response.status_code == status, (payload if isinstance(payload, dict) else payload[:60], response.text)
        assert "error" in response.json()

    body, headers = signed_interaction(button_payload(messages.PAUSE, sent.id))
    for signature in ("v0=\u00e9" + "0" * 63, "v0=\u00ff\u00fe", headers["X-Slack-Signature"][:-1] + "\u00e9"):
        response = local_http.post(f"{running.url}/slack/events", content=body,
                              headers=dict(headers, **{"X-Slack-Signature": signature.encode("latin-1")}))
        assert (response.status_code, response.json()) == (401, {"error": "bad Slack signature (check SLACK_SIGNING_SECRET)"})
    # UTF-8 bytes in the header, as a client might send them.
    response = local_http.post(f"{running.url}/slack/events", content=body,
                          headers=dict(headers, **{"X-Slack-Signature": "v0=\u00e9\u4e2d".encode()}))
    assert response.status_code == 401
    assert not store.directory.is_paused("UADA")

    # A channel that is not an object is ignored, not a crash: the owner still gets the modal.
    owner_start = dict(button_payload(messages.START, sent.id), channel="DUADA")
    body, headers = signed_interaction(owner_start)
    assert local_http.post(f"{running.url}/slack/events", content=body, headers=headers).status_code == 200
    slack.wait_for("views.open", 1)
    # A survey whose blocks are odd shapes reads as blanks.
    odd = survey_payload(sent.id, {"Upset": 1})
    odd["view"]["state"]["values"]["item_alert"] = "x"
    odd["view"]["state"]["values"]["comment"] = {"text": ["not text"]}
    body, headers = signed_interaction(odd)
    assert local_http.post(f"{running.url}/slack/events", content=body, headers=headers).status_code == 200
    [answer] = store.checkins.answers()
    assert answer.answer.scores["Upset"] == 1 and answer.answer.scores["Alert"] is None
    _no_traceback_and_still_serving(running, caplog)


def test_an_unsent_checkin_is_answered_by_nobody(running, store, slack, caplog):
    [unsent] = store.checkins.all(("pending",))
    assert unsent.slack_user_id is None
    for user in ("UEVE", "UADA", "UBO"):
        for action in (messages.START, messages.NOT_NOW):
            body, headers = signed_interaction(button_payload(action, unsent.id, user=user, channel=f"D{user}"))
            assert local_http.post(f"{running.url}/slack/events", content=body, headers=headers).status_code == 200
        body, headers = signed_interaction(survey_payload(unsent.id, {"Upset": 4}, user=user))
        response = local_http.post(f"{running.url}/slack/events", content=body, headers=headers)
        assert response.json()["response_action"] == "errors"
    slack.wait_for("chat.postMessage", 6, where=lambda c: "belongs to someone else" in c.params.get("text", ""))
    assert store.checkins.answers() == [] and slack.of("views.open") == []
    assert store.checkins.get(unsent.id).declined_at is None
    _no_traceback_and_still_serving(running, caplog)


def _connect(url: str):
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def test_a_client_that_sends_headers_and_then_nothing_is_answered_408_and_closed(running, caplog, monkeypatch):
    from workers import app

    monkeypatch.setattr(app, "BODY_SECONDS", 1.0)
    silent = [_connect(running.url) for _ in range(20)]
    for connection in silent:
        connection.sendall(b"POST /label-studio/webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
                           b"X-Webhook-Secret: " + WEBHOOK_SECRET.encode() + b"\r\n\r\n{")
    for connection in silent:
        answer = b""
        while chunk := connection.recv(4096):  # the server closes the connection after its answer
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 408 ") and b"the body did not arrive within 1 s" in answer
        connection.close()
    _no_traceback_and_still_serving(running, caplog)


def test_a_client_that_goes_away_before_its_answer_is_logged_at_info(running, caplog):
    connection = _connect(running.url)
    connection.sendall(b"POST /label-studio/webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
                       b"X-Webhook-Secret: " + WEBHOOK_SECRET.encode() + b"\r\n\r\n{")
    connection.close()
    deadline = time.time() + 10
    while "went away" not in caplog.text and time.time() < deadline:
        time.sleep(0.05)
    assert "webhook's client went away before its body arrived; nothing stored" in caplog.text
    _no_traceback_and_still_serving(running, caplog)
