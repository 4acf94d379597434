"""Exactly one DM per check-in, through the real slack-sdk and the Slack stand-in: Slack takes the
post and then drops the connection, answers too late, answers 500/503 (with or without taking it),
a worker is killed (-9) mid-post, several processes race a slow send past the claim timeout.
The same for a reviewer's consent message (`ada` with "consent": a DM to a Slack user id).
And one reviewer's rate limit delays only that reviewer: nothing in delivery sleeps."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import pytest

from tests.conftest import wait_until
from tests.workers.conftest import BOT_TOKEN, POST_TIMEOUT, retry_now
from tests.workers.test_slack_delivery import reach, sender_for
from workers import consent
from workers.outbox import KINDS, OutboxSender
from workers.slack_delivery import SlackDirectory, make_delivery_clients
from workers.store import Reviewer, open_store

ALL_KINDS = tuple(KINDS)
# What delivers exactly once: a check-in, and a consent message (workers/outbox.py's 'consent').
MESSAGES = ["checkin", "consent"]
CONSENT_TEXT = "What this review involves (a test text)."


def deliver_until_sent(sender, store, message_id, timeout=20.0):
    """Run delivery passes (as the worker's thread does) until the message is recorded as sent; the
    wait before each retry is skipped (retry_now), not slept."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        retry_now(store, message_id)
        sender.send_all_due()
        if store.outbox.message(message_id).status == "sent":
            return store.outbox.message(message_id)
        time.sleep(0.05)
    raise AssertionError(f"message {message_id} not sent within {timeout} s: {store.outbox.message(message_id)}")


def delivered(slack) -> dict[str, list[int]]:
    """DM channel -> the ids of the check-in and consent messages in it (from their metadata), oldest first."""
    found: dict[str, list[int]] = {}
    with slack.lock:
        for channel, held in slack.stored.items():
            for message in held:
                payload = (message.get("metadata") or {}).get("event_payload") or {}
                key = payload.get("checkin_id", payload.get("message_id"))
                if key is not None:
                    found.setdefault(channel, []).append(int(key))
    return found


def the_one_message(slack, store, message_id):
    """The DM holds exactly one message of ours, this one, and the store recorded it as sent."""
    assert delivered(slack) == {"DUADA": [message_id]}
    [message] = slack.messages_in("DUADA")
    sent = store.outbox.message(message_id)
    assert (sent.status, sent.channel, sent.slack_user_id) == ("sent", "DUADA", "UADA")
    assert sent.message_ts == message["ts"]


def due_message(store, which: str):
    """Ada's check-in at 10 tasks, or the consent message `review-project invite` queued for her."""
    if which == "checkin":
        reach(store, 10)
        [checkin] = store.checkins.all()
        return checkin
    version = store.consents.keep_text(CONSENT_TEXT)
    assert consent.ask(store, "ada@example.com", "UADA", version)
    return store.outbox.find("consent", subject=consent.consent_subject("ada@example.com", version))


@pytest.fixture
def ada(store, slack, request):
    slack.users["ada@example.com"] = "UADA"
    return due_message(store, getattr(request, "param", "checkin"))


@pytest.mark.parametrize("ada", MESSAGES, indirect=True)
@pytest.mark.parametrize(
    "misbehave, why",
    [
        (lambda slack: slack.drop("chat.postMessage", record=True), "RemoteDisconnected"),
        (lambda slack: slack.delay("chat.postMessage", POST_TIMEOUT + 1.5), "TimeoutError"),
        (lambda slack: slack.fail("chat.postMessage", 500, record=True), "HTTP 500"),
        (lambda slack: slack.fail("chat.postMessage", 503, record=True), "HTTP 503"),
    ],
    ids=["taken-then-dropped", "answered-after-the-timeout", "taken-then-500", "taken-then-503"],
)
def test_a_post_slack_took_without_a_clear_answer_is_found_in_the_dm_not_posted_again(
    store, slack, delivery_clients, fake_label_studio, ada, misbehave, why
):
    misbehave(slack)
    sender = sender_for(store, delivery_clients, fake_label_studio, retry_base_seconds=0.2)
    assert sender.send_next()
    after_first = store.outbox.message(ada.id)
    assert after_first.status == "pending" and after_first.post_started_at is not None
    assert after_first.last_error.startswith(f"chat.postMessage: no clear answer ({why})")
    assert len(slack.messages_in("DUADA")) == 1  # Slack has it already

    deliver_until_sent(sender, store, ada.id)
    the_one_message(slack, store, ada.id)
    assert len(slack.of("chat.postMessage")) == 1  # never posted again
    [history] = slack.of("conversations.history")
    assert history.params["channel"] == "DUADA" and history.params["include_all_metadata"] == "1"
    assert float(history.params["oldest"]) <= after_first.post_started_at


@pytest.mark.parametrize("ada", MESSAGES, indirect=True)
@pytest.mark.parametrize(
    "misbehave",
    [
        lambda slack: slack.fail("chat.postMessage", 500),
        lambda slack: slack.fail("chat.postMessage", 503),
        lambda slack: slack.drop("chat.postMessage", record=False),
    ],
    ids=["500-not-taken", "503-not-taken", "dropped-not-taken"],
)
def test_a_post_slack_did_not_take_is_posted_once_after_the_history_check(
    store, slack, delivery_clients, fake_label_studio, ada, misbehave
):
    misbehave(slack)
    sender = sender_for(store, delivery_clients, fake_label_studio, retry_base_seconds=0.2)
    assert sender.send_next()
    assert slack.messages_in("DUADA") == []
    deliver_until_sent(sender, store, ada.id)
    the_one_message(slack, store, ada.id)
    assert len(slack.of("chat.postMessage")) == 2 and len(slack.of("conversations.history")) == 1


@pytest.mark.parametrize("ada", MESSAGES, indirect=True)
def test_a_clear_no_from_slack_is_tried_again_and_posted_once(
    store, slack, delivery_clients, fake_label_studio, ada
):
    slack.fail("chat.postMessage", error="msg_too_long")  # Slack answered: nothing was posted
    sender = sender_for(store, delivery_clients, fake_label_studio, retry_base_seconds=0.2)
    sender.send_next()
    # begin_post recorded the attempt, so the next try still looks first: cheap, and never wrong.
    assert store.outbox.message(ada.id).last_error == "chat.postMessage: msg_too_long"
    deliver_until_sent(sender, store, ada.id)
    the_one_message(slack, store, ada.id)


def _age_claim(store, checkin_id, seconds):
    with store.backend.transaction() as cur:
        store.backend.run(cur, "UPDATE outbox SET claimed_at = claimed_at - $1 WHERE id = $2", (seconds, checkin_id))


@pytest.mark.parametrize("ada", MESSAGES, indirect=True)
@pytest.mark.parametrize("reached_slack", [True, False])
def test_a_checkin_found_sending_at_start_is_looked_for_before_it_is_posted(
    worker, store, slack, ada, reached_slack
):
    """A worker died holding the claim: after the claim timeout the next worker finds or posts it once."""
    dead = store.outbox.claim("dead-worker", ALL_KINDS)
    if reached_slack:
        # What the dead worker's post left in Slack, made with the real client and its metadata.
        kind = KINDS[dead.kind]
        metadata = {"event_type": kind.event_type, "event_payload": {kind.key: dead.id}}
        worker["delivery_clients"].post.chat_postMessage(channel="DUADA", text="check-in", metadata=metadata)
    _age_claim(store, dead.id, 601)  # older than CLAIM_TIMEOUT_SECONDS

    worker["service"].deliver_once()
    the_one_message(slack, store, dead.id)
    assert len(slack.of("conversations.history")) == 1
    assert len(slack.of("chat.postMessage")) == 1  # the dead worker's, or this worker's single post


@pytest.mark.parametrize("ada", MESSAGES, indirect=True)
def test_a_worker_that_lost_its_claim_before_posting_posts_nothing(store, slack, delivery_clients, fake_label_studio, ada):
    slow = store.outbox.claim("slow-worker", ALL_KINDS)
    _age_claim(store, slow.id, 601)
    assert store.outbox.release_stale_claims(time.time() - 600) == 1
    assert store.outbox.begin_post(slow.id, "slow-worker", "D") is False  # the claim is gone: nothing may be posted
    fast = sender_for(store, delivery_clients, fake_label_studio, worker="fast-worker")
    assert fast.send_next()
    assert store.outbox.begin_post(slow.id, "slow-worker", "D") is False and store.outbox.mark_sent(slow.id, "slow-worker", "U", "D", "1") is False
    the_one_message(slack, store, slow.id)


def test_the_claim_timeout_must_outlast_a_post_several_times(store, slack, fake_label_studio):
    clients = make_delivery_clients(BOT_TOKEN, slack.url, post_timeout=10)
    with pytest.raises(ValueError, match="claim timeout 20 s must be at least 3x the post timeout"):
        OutboxSender(store, clients, SlackDirectory(store, clients.lookup, fake_label_studio), "w", 10,
                      claim_timeout_seconds=20)


# -- real processes --------------------------------------------------------------------------------
def _prepared(url, which="checkin"):
    """The store with Ada known (no Label Studio needed in a child process) and her message due."""
    store = open_store(url)
    store.directory.cache_reviewer(Reviewer(7, "ada@example.com", "Ada Reviewer"))
    store.directory.cache_slack_user("ada@example.com", "UADA")
    return store, due_message(store, which)


def _worker_process(url, slack_url, stop, post_timeout, claim_timeout):
    """A worker's delivery loop (what its thread does), in its own process, until `stop` is set."""
    from workers.service import WorkerService, worker_id

    store = open_store(url)
    clients = make_delivery_clients(BOT_TOKEN, slack_url, post_timeout=post_timeout)
    sender = OutboxSender(store, clients, SlackDirectory(store, clients.lookup, None), worker_id(), 10,
                           retry_base_seconds=0.2, claim_timeout_seconds=claim_timeout)
    service = WorkerService(store, sender, None, "", 10, 3600)
    while not stop.is_set():
        service.deliver_once()
        stop.wait(0.05)
    store.close()



@pytest.mark.parametrize("which", MESSAGES)
def test_kill_9_mid_post_then_a_restarted_worker_sends_nothing_twice(database_url, slack, which):
    store, checkin = _prepared(database_url, which)
    slack.delay("chat.postMessage", 120)  # Slack takes the post; the worker is killed waiting for the answer
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    doomed = context.Process(target=_worker_process, args=(database_url, slack.url, stop, 10.0, 600.0))
    doomed.start()
    try:
        wait_until(lambda: slack.messages_in("DUADA"), what="Slack has the post")
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.join(10)
        assert doomed.exitcode == -signal.SIGKILL
        assert store.outbox.message(checkin.id).status == "sending"

        # The restarted worker (claim timeout 1.5 s here, 600 s by default) takes the claim over.
        restarted = context.Process(target=_worker_process, args=(database_url, slack.url, stop, 0.5, 1.5))
        restarted.start()
        wait_until(lambda: store.outbox.message(checkin.id).status == "sent", what="the check-in recorded as sent")
        stop.set()
        restarted.join(30)
        assert restarted.exitcode == 0
        the_one_message(slack, store, checkin.id)
        assert len(slack.of("chat.postMessage")) == 1 and len(slack.of("conversations.history")) == 1
    finally:
        stop.set()
        store.close()


@pytest.mark.parametrize("which", MESSAGES)
@pytest.mark.parametrize("slow", ["conversations.open", "chat.postMessage"])
def test_a_slow_send_past_the_claim_timeout_with_two_processes_posts_once(database_url, slack, slow, which):
    """Claim timeout 1.5 s, post timeout 0.5 s: the first worker's send outlives its claim (a slow
    conversations.open; or a post answered after the timeout), the second worker takes over."""
    store, checkin = _prepared(database_url, which)
    slack.delay(slow, 3.0)
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    first = context.Process(target=_worker_process, args=(database_url, slack.url, stop, 0.5, 1.5))
    first.start()
    second = context.Process(target=_worker_process, args=(database_url, slack.url, stop, 0.5, 1.5))
    try:
        wait_until(lambda: slack.of(slow), what=f"the first worker's {slow}")
        second.start()
        wait_until(lambda: store.outbox.message(checkin.id).status == "sent", what="the check-in recorded as sent")
    finally:
        # Each process finishes the pass it is in: the first worker's slow attempt ends before join returns.
        stop.set()
        first.join(30)
        second.join(30)
    assert (first.exitcode, second.exitcode) == (0, 0)
    try:
        the_one_message(slack, store, checkin.id)
    finally:
        store.close()


# -- rate limits: nothing sleeps ---------------------------------------------------------------------
def test_one_reviewers_429_delays_only_that_reviewer(store, slack, delivery_clients, fake_label_studio, no_sleeping_in_slack_sdk):
    slack.users.update({"ada@example.com": "UADA", "bo@example.com": "UBO"})
    slack.fail("chat.postMessage", 429, retry_after=20, channel="DUADA")
    reach(store, 10, reviewer=7)
    reach(store, 10, reviewer=8)
    sender = sender_for(store, delivery_clients, fake_label_studio, retry_base_seconds=0.2)
    before = time.time()
    assert sender.send_all_due() == 2
    ada, bo = store.checkins.all()
    assert (bo.status, slack.checkin_messages().get("DUBO")) == ("sent", [bo.id])
    assert (ada.status, ada.last_error) == ("pending", "chat.postMessage: rate limited (HTTP 429)")
    assert ada.next_attempt_at >= before + 20  # Slack's Retry-After is Ada's not-before time
    assert [c.params["channel"] for c in slack.of("chat.postMessage")] == ["DUADA", "DUBO"]  # no retry
    assert no_sleeping_in_slack_sdk == []
    assert sender.send_all_due() == 0  # Ada is not due before then


@pytest.mark.parametrize("method", ["users.lookupByEmail", "conversations.open", "conversations.history"])
def test_a_429_on_a_lookup_is_the_checkins_not_before_time(
    store, slack, delivery_clients, fake_label_studio, ada, method, no_sleeping_in_slack_sdk
):
    sender = sender_for(store, delivery_clients, fake_label_studio, retry_base_seconds=0.2)
    if method == "conversations.history":  # only asked after an unclear post
        slack.drop("chat.postMessage", record=True)
        sender.send_next()
        due = store.outbox.message(ada.id).next_attempt_at
        wait_until(lambda: time.time() > due, what="the retry time")
    slack.fail(method, 429, retry_after=30)
    before = time.time()
    sender.send_all_due()
    checkin = store.outbox.message(ada.id)
    assert (checkin.status, checkin.last_error) == ("pending", f"{method}: rate limited (HTTP 429)")
    assert checkin.next_attempt_at >= before + 30
    assert len(slack.of(method)) == 1 and no_sleeping_in_slack_sdk == []


def test_delivery_clients_never_retry_a_post_and_never_wait(delivery_clients):
    from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler

    assert delivery_clients.post.retry_handlers == []
    [handler] = delivery_clients.lookup.retry_handlers
    assert isinstance(handler, ConnectionErrorRetryHandler)
    assert handler.interval_calculator.calculate_sleep_duration(0) == 0


def test_label_studio_users_get_is_not_retried_in_the_delivery_thread():
    """The SDK would retry a 503 after sleeping; the reader asks once and reports it."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from workers.label_studio_api import LabelStudioReader, LabelStudioUnavailable

    requests = []

    class Unavailable(BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Unavailable)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        reader = LabelStudioReader(f"http://127.0.0.1:{server.server_address[1]}", "ls-key", timeout=5)
        with pytest.raises(LabelStudioUnavailable, match="Label Studio user 7: 503"):
            reader.reviewer(7)
        assert requests == ["/api/users/7/"]
    finally:
        server.shutdown()
        server.server_close()
