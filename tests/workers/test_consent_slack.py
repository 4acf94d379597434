"""Joining and leaving through Slack: the consent message, its two buttons, "Stop reviewing" on every
check-in, and the consent rules, with requests signed the way Slack signs them, the worker's real
outbox delivery through slack-sdk against the Slack stand-in, on SQLite and the real PostgreSQL."""

import json
import logging
import time

import pytest

from review_project.schema import TOPICS
from tests.workers.conftest import button_payload, signed_interaction
from tests.workers.test_slack_delivery import reach
from workers import consent, messages
from workers.pacing import PacingRules

CONTACT = "Dr Lee <lee@example.org>"
INVITE_PATH = "/user/signup/?token=abc123"


def interact(client, payload, **sign):
    body, headers = signed_interaction(payload, **sign)
    return client.post("/slack/events", content=body, headers=headers)


def wait_until(condition, timeout: float = 10.0):
    # Bolt runs a listener after its ack: the store changes just after the response.
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def text_for(contact: str = CONTACT, cap: int | None = 40) -> str:
    return messages.consent_text("A red-team review of chatbot transcripts", TOPICS, "about 100 transcripts",
                                 PacingRules(daily_task_cap=cap), 10, contact)


@pytest.fixture
def lead_invited(worker, store, slack, fake_label_studio):
    """What `review-project invite` leaves: Ada (UADA) invited with the current text, her consent message queued."""
    slack.users["ada@example.com"] = "UADA"
    fake_label_studio.url = "http://ls.example:8080"
    fake_label_studio.invite_link = lambda: fake_label_studio.url + INVITE_PATH
    version = store.consents.keep_text(text_for())
    assert consent.ask(store, "Ada@Example.com", "UADA", version, project=5)
    return version


def consent_dm(slack, worker):
    worker["sender"].send_all_due()
    [dm] = [c for c in slack.dms() if (c.params.get("metadata") or {}).get("event_type") == "review_consent"
            and c.params["blocks"][-1].get("block_id") == "consent_actions"][-1:]
    return dm


def press(action, dm, user="UADA", channel="DUADA"):
    payload = button_payload(action, 0, user=user, channel=channel)
    [button] = [e for e in dm.params["blocks"][-1]["elements"] if e["action_id"] == action]
    payload["actions"][0].update(value=button["value"], block_id="consent_actions")
    return payload


def events(store):
    with store.backend.transaction(write=False) as cur:
        return [tuple(r) for r in store.backend.run(cur, "SELECT email, event, text_version, recorded_by"
                                                    " FROM consent_events ORDER BY id").fetchall()]


def test_the_consent_text_says_what_the_issue_asks():
    text = text_for()
    assert all(topic in text for topic in TOPICS)
    for said in ("violence, abuse and self-harm", "about 100 transcripts", "every 10 transcripts", "daily limit of 40",
                 "break after about 60 minutes", CONTACT, "stop at any time without giving a reason",
                 '"Stop reviewing" button', "every project", "adjudication project", "other reviewers' ratings"):
        assert said in text, said
    assert text_for() == text and text_for(contact="someone else") != text  # pure, and the contact is in it


def test_consent_then_the_welcome_with_the_invite_link(client, worker, store, slack, lead_invited):
    dm = consent_dm(slack, worker)
    assert dm.params["channel"] == "DUADA"
    body = json.dumps(dm.params["blocks"])
    # Escaped for Slack: the contact's <...> cannot become a link or a ping.
    assert "Dr Lee &lt;lee@example.org&gt;" in body and "Self-harm" in body
    assert [e["text"]["text"] for e in dm.params["blocks"][-1]["elements"]] == [
        "I understand and want to take part", "Not for me"]
    assert slack.of("chat.postMessage")[0].params["metadata"]["event_type"] == "review_consent"

    interact(client, press(messages.CONSENT_YES, dm))
    wait_until(lambda: store.outbox.find("welcome", subject=f"ada@example.com|{lead_invited}"))
    standing = store.consents.standing("ada@example.com")
    assert (standing.state, standing.version, standing.recorded_by, standing.slack_user_id) == (
        "consented", lead_invited, "slack", "UADA")
    worker["sender"].send_all_due()
    [welcome] = [c for c in slack.dms() if "Sign up with this link" in c.params["text"]]
    assert "http://ls.example:8080/user/signup/?token=abc123" in welcome.params["text"]
    assert "http://ls.example:8080/projects/5/" in welcome.params["text"]  # the project she was invited to
    assert store.outbox.find("welcome", subject=f"ada@example.com|{lead_invited}").status == "sent"


def test_not_for_me_tells_the_lead_one_line(client, worker, store, slack, lead_invited):
    interact(client, press(messages.CONSENT_NO, consent_dm(slack, worker)))
    wait_until(lambda: store.outbox.find("lead_notice", subject=f"ada@example.com|declined|{lead_invited}"))
    assert store.consents.standing("ada@example.com").state == "declined"
    slack.wait_for("chat.postMessage", 1, where=lambda c: "nobody will ask you why" in c.params.get("text", ""))
    worker["sender"].send_all_due()
    [notice] = [c for c in slack.of("chat.postMessage") if c.params["channel"] == "CLEAD"]
    assert notice.params["text"] == "ada@example.com declined to take part in the review."
    assert store.outbox.find("welcome", subject=f"ada@example.com|{lead_invited}") is None


def test_a_replayed_foreign_or_stale_press_changes_nothing(client, worker, store, slack, lead_invited, caplog):
    dm = consent_dm(slack, worker)
    interact(client, press(messages.CONSENT_YES, dm))
    wait_until(lambda: store.outbox.find("welcome", subject=f"ada@example.com|{lead_invited}"))
    before = events(store)
    caplog.set_level(logging.INFO)
    refusals = []
    for payload in (
        press(messages.CONSENT_YES, dm),  # the same press again
        press(messages.CONSENT_NO, dm),  # a second answer to the same message
        press(messages.CONSENT_YES, dm, user="UEVE", channel="DUEVE"),  # someone it was not sent to
    ):
        assert interact(client, payload).status_code == 200
        refusals.append(len(slack.wait_for("chat.postMessage", len(refusals) + 1,
                                           where=lambda c: "can no longer be used" in c.params.get("text", ""))))
    # Stale: the lead changed the text since the message was sent.
    store.consents.keep_text(text_for(contact="someone new"), now=time.time() + 1)
    interact(client, press(messages.CONSENT_NO, dm))
    slack.wait_for("chat.postMessage", 4, where=lambda c: "can no longer be used" in c.params.get("text", ""))
    assert events(store) == before
    assert [c for c in slack.of("chat.postMessage") if c.params["channel"] == "CLEAD"] == []
    logged = "\n".join(r.getMessage() for r in caplog.records if "refused" in r.getMessage())
    assert logged.count("refused") == 4
    for answer in ("consent_yes", "consent_no", "take part", "Not for me", "declin"):
        assert answer not in logged


def test_a_tampered_consent_value_is_refused_before_bolt(client, worker, store, slack, lead_invited):
    dm = consent_dm(slack, worker)
    payload = press(messages.CONSENT_YES, dm)
    payload["actions"][0]["value"] = "12|not-a-version"
    response = interact(client, payload)
    assert response.status_code == 422 and "consent message and version" in response.text
    assert [e[1] for e in events(store)] == ["invited"]


@pytest.fixture
def consented_with_checkins(client, worker, store, slack, lead_invited):
    """Ada consented, reviewed 20 tasks and got her check-in at 10; the one at 20 waits."""
    interact(client, press(messages.CONSENT_YES, consent_dm(slack, worker)))
    wait_until(lambda: store.outbox.find("welcome", subject=f"ada@example.com|{lead_invited}"))
    reach(store, 10)
    worker["sender"].send_all_due()
    reach(store, 20)
    [sent, waiting] = store.checkins.all()
    assert (sent.status, waiting.status) == ("sent", "pending")
    return sent, waiting


def test_every_checkin_and_nudge_has_stop_reviewing(consented_with_checkins, slack):
    [checkin] = [c for c in slack.dms() if (c.params.get("metadata") or {}).get("event_type") == "wellbeing_checkin"]
    ids = [e["action_id"] for b in checkin.params["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert ids[-1] == messages.STOP_REVIEWING
    for nudge in (messages.break_dm(1, 60), messages.daily_cap_dm(1, 40), messages.severe_dm(1, 5)):
        assert messages.STOP_REVIEWING in json.dumps(nudge[1])


def test_stop_reviewing_records_stops_checkins_and_tells_the_lead(client, worker, store, slack, lead_invited,
                                                                   consented_with_checkins):
    sent, waiting = consented_with_checkins
    interact(client, button_payload(messages.STOP_REVIEWING, sent.id))
    notice = f"ada@example.com|withdrawn|{lead_invited}"
    wait_until(lambda: store.outbox.find("lead_notice", subject=notice) is not None)
    standing = store.consents.standing("ada@example.com")
    assert standing.state == "withdrawn" and standing.consented_at is not None and standing.withdrawn_at >= standing.consented_at  # consent kept
    assert store.checkins.get(waiting.id).status == "missed"
    assert store.checkins.get(waiting.id).last_error == "the reviewer stopped reviewing"
    worker["sender"].send_all_due()
    [confirmation] = [c for c in slack.dms() if "You have stopped reviewing" in c.params["text"]]
    assert confirmation.params["channel"] == "DUADA" and "your lead" in confirmation.params["text"]
    [notice] = [c for c in slack.of("chat.postMessage") if c.params["channel"] == "CLEAD"]
    assert notice.params["text"] == "Ada Reviewer (ada@example.com) stopped reviewing."
    # New check-ins and nudges are never delivered, and a second press changes nothing.
    posted = len(slack.of("chat.postMessage"))
    reach(store, 30)
    worker["sender"].send_all_due()
    assert [c.status for c in store.checkins.all()] == ["sent", "missed", "missed"]
    interact(client, button_payload(messages.STOP_REVIEWING, sent.id))
    slack.wait_for("chat.postMessage", 1, where=lambda c: "can no longer be used" in c.params.get("text", ""))
    worker["sender"].send_all_due()
    assert len(slack.of("chat.postMessage")) == posted + 1
    assert [e[1] for e in events(store)] == ["invited", "consented", "withdrawn"]


def test_stop_reviewing_on_someone_elses_checkin_is_refused(client, store, slack, consented_with_checkins):
    sent, _ = consented_with_checkins
    interact(client, button_payload(messages.STOP_REVIEWING, sent.id, user="UEVE", channel="DUEVE"))
    slack.wait_for("chat.postMessage", 1, where=lambda c: "belongs to someone else" in c.params.get("text", ""))
    assert store.consents.standing("ada@example.com").state == "consented"


def test_a_changed_text_is_asked_again_at_the_next_checkin(worker, store, slack, lead_invited, consented_with_checkins):
    new = store.consents.keep_text(text_for(contact="Sam <sam@example.org>"), now=time.time() + 1)
    worker["sender"].send_all_due()  # the check-in at 20 goes out, and with it the new consent message
    assert store.outbox.find("consent", subject=f"ada@example.com|{new}").status == "sent"
    [dm] = [c for c in slack.dms() if "Sam &lt;sam@example.org&gt;" in json.dumps(c.params.get("blocks"))]
    assert dm.params["blocks"][-1]["elements"][0]["value"].endswith(f"|{new}")
    standing = store.consents.standing("ada@example.com")
    assert (standing.state, standing.version) == ("invited", new) and standing.consented_at is not None
    assert not store.consents.consented("ada@example.com", new)


def test_annotating_with_no_consent_sends_it_at_once_and_tells_the_lead(worker, store, slack, fake_label_studio):
    slack.users["bo@example.com"] = "UBO"
    version = store.consents.keep_text(text_for())
    reach(store, 3, reviewer=8)
    worker["service"].deliver_once()
    assert store.outbox.find("consent", subject=f"bo@example.com|{version}").status == "sent"
    [notice] = [c for c in slack.of("chat.postMessage") if c.params["channel"] == "CLEAD"]
    assert notice.params["text"] == ("Bo Reviewer (bo@example.com) annotated with no consent on record;"
                                     " the consent message was sent to them.")
    worker["service"].deliver_once()  # once only
    assert len(slack.of("chat.postMessage")) == 2


def test_no_consent_asked_while_consent_is_not_in_use(worker, store, slack):
    slack.users["bo@example.com"] = "UBO"
    reach(store, 3, reviewer=8)
    worker["service"].deliver_once()
    assert slack.of("chat.postMessage") == [] and store.consents.everyone() == []


def test_an_invited_reviewer_who_annotates_before_answering_is_not_asked_twice(worker, store, slack, lead_invited):
    consent_dm(slack, worker)
    reach(store, 3)
    worker["service"].deliver_once()
    consent_messages = [c for c in slack.dms() if c.params["blocks"][-1].get("block_id") == "consent_actions"]
    assert len(consent_messages) == 1
    [notice] = [c for c in slack.of("chat.postMessage") if c.params["channel"] == "CLEAD"]
    assert notice.params["text"].startswith("Ada Reviewer (ada@example.com) annotated with no consent on record")


def test_a_long_consent_text_fits_slacks_sections():
    text = messages.consent_text("x" * 5000, TOPICS, "y" * 3500, PacingRules(), 10, CONTACT)
    _, blocks = messages.consent_dm(1, text, "0123456789abcdef")
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")
    assert sum(b["type"] == "section" for b in blocks) == 1 + len(text.split("\n\n"))


def test_someone_who_declined_and_annotates_is_not_asked_again_but_the_lead_is_told(worker, store, slack):
    slack.users["bo@example.com"] = "UBO"
    version = store.consents.keep_text(text_for())
    store.consents.record("bo@example.com", "declined", version, "slack", slack_user_id="UBO")
    reach(store, 3, reviewer=8)
    worker["service"].deliver_once()
    assert slack.dms() == []
    [notice] = [c for c in slack.of("chat.postMessage") if c.params["channel"] == "CLEAD"]
    assert notice.params["text"] == "Bo Reviewer (bo@example.com) annotated after declining to take part."
