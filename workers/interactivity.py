"""Slack interactivity: the check-in DM's buttons, the survey modal, and the consent message's and
"Stop reviewing" buttons (workers/consent.py), as slack-bolt listeners.

Listeners are small and ack first, except the survey submission, which stores the answer
before acking so that a failed write is shown to the reviewer instead of being lost.
Requests are checked before Bolt sees them (`check_slack_request`, `check_interaction`) so
every refusal carries a clear reason; Bolt's own verification is therefore switched off.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from urllib.parse import parse_qs

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from workers import consent, messages
from workers.store import CHECKIN_KINDS, CheckIn, Store
from workers.store.consents import DECLINED
from workers.survey import ITEMS, SurveyError, block_id, read_submission
from workers.webhook import MAX_ID, RequestRefused

log = logging.getLogger(__name__)

MAX_REQUEST_AGE_SECONDS = 300
BUTTONS = (messages.START, messages.NOT_NOW, messages.PAUSE, messages.RESUME, messages.STOP_REVIEWING)
CONSENT_BUTTONS = (messages.CONSENT_YES, messages.CONSENT_NO)
_VERSION = re.compile(r"[0-9a-f]{16}")


def check_slack_request(signing_secret: str, headers: Mapping[str, str], body: bytes, now: float | None = None) -> None:
    """Refuse (401) a request that Slack did not sign with our secret in the last 5 minutes."""
    timestamp = headers.get("x-slack-request-timestamp")
    signature = headers.get("x-slack-signature")
    if not timestamp or not signature:
        raise RequestRefused(401, "missing X-Slack-Request-Timestamp or X-Slack-Signature header")
    try:
        age = (time.time() if now is None else now) - int(timestamp)
    except ValueError:
        raise RequestRefused(401, "X-Slack-Request-Timestamp is not a number") from None
    if abs(age) > MAX_REQUEST_AGE_SECONDS:
        raise RequestRefused(401, f"Slack request timestamp is {int(abs(age))} s off; requests older than 5 minutes are refused")
    expected = SignatureVerifier(signing_secret).generate_signature(timestamp=timestamp, body=body)
    # Bytes, not str: compare_digest refuses non-ASCII str, and a header may hold any byte.
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "surrogateescape")):
        raise RequestRefused(401, "bad Slack signature (check SLACK_SIGNING_SECRET)")


def checkin_id(raw, where: str) -> int:
    """A check-in id from a button value or modal metadata: ASCII digits within 0..2**63-1, else 422."""
    text = str(raw) if isinstance(raw, (str, int)) and not isinstance(raw, bool) else ""
    # int() alone would accept " 5", "5_0" and non-ASCII digits, and any size the store cannot hold.
    if not (text.isascii() and text.isdigit() and len(text) <= 19 and int(text) <= MAX_ID):
        raise RequestRefused(422, f"{where} is not a check-in id")
    return int(text)


def consent_button(raw) -> tuple[int, str]:
    """(consent message id, text version) from a consent button's value `id|version`, else 422."""
    message, _, version = (raw if isinstance(raw, str) else "").partition("|")
    if not _VERSION.fullmatch(version):
        raise RequestRefused(422, "actions[0].value is not a consent message and version")
    return checkin_id(message, "actions[0].value"), version


def _loads(text: str | bytes, what: str):
    # JSONDecodeError, UnicodeDecodeError and the 4300-digit integer limit are all ValueErrors.
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise RequestRefused(400, f"{what} is not valid JSON") from None


def _object(value) -> dict:
    return value if isinstance(value, dict) else {}


def check_interaction(body: bytes, content_type: str) -> None:
    """Refuse (4xx) an interactivity request Bolt would not handle: malformed, unknown or incomplete."""
    if content_type.startswith("application/json"):
        payload = _loads(body, "body")
        if isinstance(payload, dict) and payload.get("type") == "url_verification":
            return
        raise RequestRefused(422, "only Slack interactivity (buttons and the survey modal) is handled here")
    try:
        form = parse_qs(body.decode("utf-8"), strict_parsing=False)
        raw = form["payload"][0]
    except (UnicodeDecodeError, KeyError, IndexError):
        raise RequestRefused(400, "expected a form field 'payload' holding Slack's interaction JSON") from None
    payload = _loads(raw, "the 'payload' field")
    if not isinstance(payload, dict) or not isinstance(_object(payload.get("user")).get("id"), str):
        raise RequestRefused(422, "payload.user.id missing")
    kind = payload.get("type")
    if kind == "block_actions":
        actions = payload.get("actions")
        if not isinstance(actions, list) or len(actions) != 1 or not isinstance(actions[0], dict):
            raise RequestRefused(422, "block_actions payload needs exactly one action")
        action_id = actions[0].get("action_id")
        if action_id in CONSENT_BUTTONS:
            consent_button(actions[0].get("value"))
            return
        if action_id not in BUTTONS:
            raise RequestRefused(422, f"unknown action_id {str(action_id)[:60]!r}")
        checkin_id(actions[0].get("value"), "actions[0].value")
        if action_id == messages.START and not (isinstance(payload.get("trigger_id"), str) and payload["trigger_id"]):
            raise RequestRefused(422, "trigger_id missing (needed to open the survey)")
    elif kind in ("view_submission", "view_closed"):
        view = payload.get("view")
        if not isinstance(view, dict) or view.get("callback_id") != messages.SURVEY_CALLBACK:
            raise RequestRefused(422, "unknown view callback_id")
        checkin_id(view.get("private_metadata"), "view.private_metadata")
        if kind == "view_submission" and not isinstance(_object(view.get("state")).get("values"), dict):
            raise RequestRefused(422, "view.state.values missing")
    else:
        raise RequestRefused(422, f"unsupported interaction type {str(kind)[:40]!r}")


def sent_to(checkin: CheckIn, slack_user: str) -> bool:
    """Whether `slack_user` is the one the check-in was sent to; an unsent check-in (NULL) is nobody's."""
    return checkin.slack_user_id is not None and checkin.slack_user_id == slack_user


def _channel_id(body: dict) -> str | None:
    channel = _object(body.get("channel")).get("id")
    return channel if isinstance(channel, str) else None


def build_slack_app(
    store: Store, client: WebClient, signing_secret: str, checkin_every: int, lead_channel: str | None = None,
    offboard: Callable[[str, int], None] | None = None,
) -> App:
    """The Bolt app with the check-in and consent listeners; the store and the Slack client are handed in.

    offboard(email, reviewer) : with --offboard, removes a reviewer who stopped from the organisation.
    """
    app = App(
        # Named here: without a name Bolt calls inspect.stack(), which reads the source file of every
        # frame on the stack to name the app after its caller's file (0.1-0.2 s a worker start).
        name="review-project worker",
        client=client,
        signing_secret=signing_secret,
        # check_slack_request() verifies first, with reasons Bolt's own check does not give;
        # auth.test at start-up would stop the worker whenever Slack is briefly unreachable.
        request_verification_enabled=False,
        token_verification_enabled=False,
    )

    def reply(channel: str | None, message: tuple[str, list[dict]]) -> None:
        if not channel:
            return
        text, blocks = message
        try:
            client.chat_postMessage(channel=channel, text=text, blocks=blocks)
        except Exception as error:  # a lost courtesy reply must not fail the listener
            log.warning("reply to a check-in button not posted: %s", error.__class__.__name__)

    def owned_checkin(body: dict):
        """The pressed check-in if it was sent to the presser; else post why not and return None."""
        checkin = store.checkins.get(checkin_id(body["actions"][0]["value"], "actions[0].value"))
        channel = _channel_id(body)
        if checkin is None:
            reply(channel, messages.unknown_checkin())
            return None
        if not sent_to(checkin, body["user"]["id"]):
            reply(channel, messages.not_your_checkin())
            return None
        return checkin

    @app.action(messages.START)
    def start_checkin(ack, body, client):
        ack()
        checkin = owned_checkin(body)
        if checkin is None:
            return
        if store.checkins.is_answered(checkin.id):
            reply(_channel_id(body), messages.already_answered())
            return
        client.views_open(trigger_id=body["trigger_id"], view=messages.survey_modal(checkin.id))

    @app.action(messages.NOT_NOW)
    def not_now(ack, body):
        ack()
        checkin = owned_checkin(body)
        if checkin is not None:
            store.checkins.mark_declined(checkin.id)
            reply(_channel_id(body), messages.not_now_reply())

    # Pause and Resume act on the presser's own setting, whichever check-in carried the button.
    @app.action(messages.PAUSE)
    def pause_checkins(ack, body):
        ack()
        store.directory.set_paused(body["user"]["id"], True)
        log.info("a reviewer paused check-ins")
        reply(_channel_id(body), messages.paused(checkin_id(body["actions"][0]["value"], "actions[0].value")))

    @app.action(messages.RESUME)
    def resume_checkins(ack, body):
        ack()
        store.directory.set_paused(body["user"]["id"], False)
        log.info("a reviewer resumed check-ins")
        reply(_channel_id(body), messages.resumed(checkin_every))

    def refuse(body: dict, why: str) -> None:
        # Which button was pressed is the person's answer: the log names the refusal only.
        log.warning("a consent or stop button was refused: %s; nothing changed", why)
        reply(_channel_id(body), messages.consent_refused())

    def answerable_consent(body: dict):
        """(email, version, message) if the pressed consent message may be answered now, else refuse."""
        message_id, version = consent_button(body["actions"][0]["value"])
        message = store.outbox.message(message_id)
        if message is None or message.kind != consent.CONSENT:
            return refuse(body, f"message {message_id} is not a consent message")
        if message.slack_user_id is None or message.slack_user_id != body["user"]["id"]:
            return refuse(body, f"consent message {message_id} was pressed by someone it was not sent to")
        email, sent_version = consent.read_subject(message.subject)
        if sent_version != version or version != store.consents.current():
            return refuse(body, f"consent message {message_id} carries a version that is no longer current")
        if store.consents.answered_since(email, version, message.sent_at or 0.0):
            return refuse(body, f"consent message {message_id} was already answered")
        return email, version, message

    @app.action(messages.CONSENT_YES)
    def consent_yes(ack, body):
        ack()
        answerable = answerable_consent(body)
        if answerable is None:
            return
        email, version, message = answerable
        user = body["user"]["id"]
        consent.consented(store, email, version, "slack", user)
        log.info("consent message %s answered", message.id)

    @app.action(messages.CONSENT_NO)
    def consent_no(ack, body):
        ack()
        answerable = answerable_consent(body)
        if answerable is None:
            return
        email, version, message = answerable
        store.consents.record(email, DECLINED, version, "slack", slack_user_id=body["user"]["id"])
        consent.tell_lead(store, lead_channel, email, DECLINED, version)
        log.info("consent message %s answered", message.id)
        reply(_channel_id(body), messages.declined_reply())

    @app.action(messages.STOP_REVIEWING)
    def stop_reviewing(ack, body):
        ack()
        checkin = owned_checkin(body)
        if checkin is None:
            return
        user = body["user"]["id"]
        reviewer = store.directory.cached_reviewer(checkin.reviewer)
        standing = store.consents.standing(reviewer.email) if reviewer and reviewer.email else None
        standing = standing or store.consents.by_slack_user(user)
        email = reviewer.email if reviewer and reviewer.email else standing.email if standing else None
        if not email:
            return refuse(body, f"check-in {checkin.id}: the reviewer's email is not known")
        version = standing.version if standing else None
        missed = store.consents.withdraw(email, version, user, CHECKIN_KINDS, "the reviewer stopped reviewing")
        if missed is None:
            return refuse(body, f"check-in {checkin.id}: the reviewer had already stopped reviewing")
        store.outbox.enqueue(consent.WITHDRAWN_KIND, subject=email.strip().lower(), recipient=user)
        consent.tell_lead(store, lead_channel, email, "withdrawn", version)
        log.info("a reviewer stopped reviewing (check-in %s); %d waiting check-in(s) will not be sent",
                 checkin.id, missed)
        if offboard is not None:
            try:
                offboard(email, checkin.reviewer)
            except Exception as error:  # the withdrawal stands; the lead can remove the member by hand
                log.error("removing Label Studio user %s from the organisation failed: %s", checkin.reviewer,
                          error.__class__.__name__)

    @app.view(messages.SURVEY_CALLBACK)
    def submit_survey(ack, body, view, client):
        checkin = store.checkins.get(checkin_id(view["private_metadata"], "view.private_metadata"))
        if checkin is None or not sent_to(checkin, body["user"]["id"]):
            ack(response_action="errors", errors={block_id(ITEMS[0]): "This check-in is not yours or no longer exists."})
            return
        try:
            answer = read_submission(view["state"]["values"])
        except SurveyError as error:
            ack(response_action="errors", errors={error.block: str(error)})
            return
        stored = store.checkins.record_answer(checkin.id, answer)
        ack()
        log.info("check-in %s answered%s", checkin.id, "" if stored else " again (first answer kept)")
        if stored and answer.needs_lead_attention() and lead_channel:
            reviewer = store.directory.cached_reviewer(checkin.reviewer)
            name = reviewer.name if reviewer else f"Label Studio user {checkin.reviewer}"
            try:
                client.chat_postMessage(channel=lead_channel, text=messages.lead_alert(name))
                store.checkins.mark_lead_alerted(checkin.id)
            except Exception as error:
                log.warning("lead alert for check-in %s not posted: %s", checkin.id, error.__class__.__name__)
        if stored:
            reply(checkin.channel, messages.thanks_for_answering())

    @app.view_closed(messages.SURVEY_CALLBACK)
    def survey_closed(ack):
        ack()

    return app
