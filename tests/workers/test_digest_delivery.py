"""The lead's digest posted once a day, through the real slack-sdk and the Slack stand-in over real
HTTP, on SQLite and the real PostgreSQL: two services racing on one store, a post Slack took without
a clear answer, a worker that died mid-post, 429s, bad credentials, a channel that is not there."""

from __future__ import annotations

import logging
import threading
import time
from datetime import date, datetime
from datetime import time as time_of_day

import pytest

from review_project.shared import ANNOTATION_CREATED
from tests.conftest import wait_until
from tests.workers.conftest import BOT_TOKEN, POST_TIMEOUT, FakeLabelStudio, retry_now, worker_settings
from tests.workers.test_ledger import rated, webhook
from tests.workers.test_slack_delivery import sender_for
from workers.digest import digest_text, read_digest
from workers.messages import slack_text
from workers.digest_delivery import DigestPoster
from workers.outbox import DIGEST_EVENT
from workers.service import build_worker
from workers.slack_delivery import make_delivery_clients
from workers.store import Reviewer, open_store

MIDNIGHT = time_of_day(0, 0)  # always due: the tests run on one local day


def today() -> str:
    return date.today().isoformat()


def reviewed(store):
    """Two tasks rated by two reviewers, one of them named with the characters Slack escapes."""
    store.events.record_events([webhook(ANNOTATION_CREATED, rated(1, task, reviewer, str(task + reviewer % 2)))
                         for task in (1, 2) for reviewer in (7, 8)], 10)
    store.directory.cache_reviewer(Reviewer(7, "ada@example.com", "Ada <Reviewer> & co"))
    store.directory.cache_reviewer(Reviewer(8, "bo@example.com", "Bo Reviewer"))
    return store


def poster_for(store, clients, worker="worker-1", at=MIDNIGHT, channel="CLEAD", **timings):
    sender = sender_for(store, clients, FakeLabelStudio(), retry_base_seconds=0.2, worker=worker, **timings)
    return DigestPoster(sender, channel, at, reviewers_per_task=2)


def digests_in(slack, channel="CLEAD") -> list[dict]:
    """The digest messages Slack holds in the channel, oldest first."""
    return [m for m in slack.messages_in(channel) if (m.get("metadata") or {}).get("event_type") == DIGEST_EVENT]


def digest_row(store, day):
    """The day's digest in the outbox, or None before any process made it due."""
    return store.outbox.find("digest", subject=day)


def claim_day(store, day, worker, now):
    """Make the day's digest due and claim it for `worker`, as a worker's digest thread does."""
    store.outbox.enqueue("digest", subject=day, recipient="CLEAD", now=now)
    return store.outbox.claim(worker, ("digest",), now, subject=day)


def the_one_digest(slack, store, day=None):
    """The channel holds exactly one digest, of the day, and the store recorded it as posted."""
    day = day or today()
    [message] = digests_in(slack)
    assert message["metadata"]["event_payload"] == {"day": day}
    row = digest_row(store, day)
    assert (row.status, row.channel, row.message_ts) == ("sent", "CLEAD", message["ts"])
    return message


def post_until_posted(poster, store, timeout=20.0):
    """Run the digest thread's passes until the day's digest is recorded as posted; the wait before
    each retry is skipped (retry_now), not slept."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if (row := digest_row(store, today())) is not None:
            retry_now(store, row.id)
        poster.post_if_due()
        if (row := digest_row(store, today())) is not None and row.status == "sent":
            return row
        time.sleep(0.05)
    raise AssertionError(f"the digest was not posted within {timeout} s: {digest_row(store, today())}")


def test_the_days_digest_is_posted_once_with_its_day_in_the_metadata(store, slack, delivery_clients):
    reviewed(store)
    poster = poster_for(store, delivery_clients)
    assert poster.post_if_due() == "posted to CLEAD"
    [call] = slack.of("chat.postMessage")
    assert (call.params["channel"], call.params["mrkdwn"]) == ("CLEAD", False)
    assert call.params["metadata"] == {"event_type": "lead_digest", "event_payload": {"day": today()}}
    now = time.time()
    expected = digest_text(read_digest(store, today(), now, 2, before_day=today()))
    assert call.params["text"] == slack_text(expected)
    assert "Ada &lt;Reviewer&gt; &amp; co: 2" in call.params["text"]
    assert call.params["text"].splitlines()[3] == "- Progress: 2 of 2 tasks fully reviewed (2 reviewers each); 0 in progress, 0 untouched"
    the_one_digest(slack, store)

    # Later passes, of this worker or another, post nothing more that day.
    assert poster.post_if_due() is None
    assert poster_for(store, delivery_clients, worker="worker-2").post_if_due() is None
    assert len(slack.of("chat.postMessage")) == 1


def test_nothing_before_digest_at_and_no_digest_without_a_lead_channel_or_with_digest_at_off(store, slack, delivery_clients):
    noon = datetime.combine(date.today(), time_of_day(12, 0)).timestamp()
    assert poster_for(store, delivery_clients, at=time_of_day(12, 1)).post_if_due(now=noon) is None
    assert digest_row(store, today()) is None and slack.calls == []

    for settings in ({"DIGEST_AT": "off"}, {"LEAD_SLACK_CHANNEL": "", "DIGEST_AT": "09:00"}):
        _, parts = build_worker(worker_settings("sqlite:///unused", slack.url, **settings), store=store,
                                label_studio=FakeLabelStudio(), delivery_clients=delivery_clients)
        assert parts["digest"] is None and parts["service"].digest is None
    _, parts = build_worker(worker_settings("sqlite:///unused", slack.url, DIGEST_AT="7:30", REVIEWERS_PER_TASK="3"),
                            store=store, label_studio=FakeLabelStudio(), delivery_clients=delivery_clients)
    assert (parts["digest"].at, parts["digest"].channel, parts["digest"].reviewers_per_task) == (time_of_day(7, 30), "CLEAD", 3)


def test_two_services_racing_on_one_store_post_one_digest(database_url, slack):
    """Two worker services, each with its own store object on one SQLite file or PostgreSQL schema,
    their digest threads polling every 20 ms while Slack takes half a second to answer the post."""
    stores = [reviewed(open_store(database_url)), open_store(database_url)]
    slack.delay("chat.postMessage", 0.5)
    services = []
    try:
        for store in stores:
            _, parts = build_worker(
                worker_settings("sqlite:///unused", slack.url, DIGEST_AT="00:00", REVIEWERS_PER_TASK="2"), store=store,
                label_studio=FakeLabelStudio(), retry_base_seconds=0.2, poll_seconds=0.05, digest_poll_seconds=0.02,
                delivery_clients=make_delivery_clients(BOT_TOKEN, slack.url, post_timeout=POST_TIMEOUT),
            )
            services.append(parts["service"])
        for service in services:
            service.start()
        wait_until(lambda: (row := digest_row(stores[1], today())) is not None and row.status == "sent",
                   what="the digest recorded as posted")
        passes = [service.digest_passes for service in services]
        wait_until(lambda: all(s.digest_passes >= p + 10 for s, p in zip(services, passes)),
                   what="ten more passes of both digest threads")
    finally:
        for service in services:
            service.stop()
    try:
        the_one_digest(slack, stores[0])
        assert len(slack.of("chat.postMessage")) == 1
    finally:
        for store in stores:
            store.close()


def test_two_posters_released_together_post_one_digest_a_day(database_url, slack):
    """Day after day, two workers on one store start their pass at the same instant."""
    stores = [reviewed(open_store(database_url)), open_store(database_url)]
    clients = make_delivery_clients(BOT_TOKEN, slack.url, post_timeout=POST_TIMEOUT)
    posters = [poster_for(store, clients, worker=f"worker-{n}") for n, store in enumerate(stores)]
    noon = datetime.combine(date.today(), time_of_day(12, 0)).timestamp()
    days = [noon + n * 24 * 3600 for n in range(8)]
    barrier = threading.Barrier(2)
    outcomes = []

    def race(poster):
        for now in days:
            barrier.wait()
            outcomes.append(poster.post_if_due(now=now))

    threads = [threading.Thread(target=race, args=(poster,)) for poster in posters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert sorted(o for o in outcomes if o) == ["posted to CLEAD"] * len(days)
        posted = [m["metadata"]["event_payload"]["day"] for m in digests_in(slack)]
        assert sorted(posted) == [datetime.fromtimestamp(now).date().isoformat() for now in days]
        assert len(slack.of("chat.postMessage")) == len(days)
    finally:
        for store in stores:
            store.close()


def test_the_first_claim_of_a_day_wins_and_a_held_day_is_left_alone(store):
    now = time.time()
    first = claim_day(store, "2026-11-28", "w1", now)
    assert (first.status, first.claimed_by, first.attempts, first.post_started_at) == ("sending", "w1", 1, None)
    assert claim_day(store, "2026-11-28", "w2", now + 1) is None
    # The holder that lost nothing renews and posts; anyone else is refused.
    assert not store.outbox.begin_post(first.id, "w2", "CLEAD")
    assert store.outbox.begin_post(first.id, "w1", "CLEAD")
    assert not store.outbox.mark_sent(first.id, "w2", None, "CLEAD", "1.0")
    assert store.outbox.mark_sent(first.id, "w1", None, "CLEAD", "1.0", now=now)
    assert claim_day(store, "2026-11-28", "w2", now + 2000) is None
    assert store.outbox.last_sent_at("digest") == now and store.outbox.last_sent_at("digest", "2026-11-28") is None


@pytest.mark.parametrize(
    "misbehave, why",
    [
        (lambda slack: slack.drop("chat.postMessage", record=True), "RemoteDisconnected"),
        (lambda slack: slack.delay("chat.postMessage", POST_TIMEOUT + 1.5), "TimeoutError"),
        (lambda slack: slack.fail("chat.postMessage", 500, record=True), "HTTP 500"),
    ],
    ids=["taken-then-dropped", "answered-after-the-timeout", "taken-then-500"],
)
def test_a_post_slack_took_without_a_clear_answer_is_found_in_the_channel_not_posted_again(
    store, slack, delivery_clients, misbehave, why
):
    reviewed(store)
    misbehave(slack)
    poster = poster_for(store, delivery_clients)
    assert poster.post_if_due().startswith(f"stays pending (chat.postMessage: no clear answer ({why})")
    first = digest_row(store, today())
    assert first.status == "pending" and first.post_started_at is not None
    assert first.last_error.endswith("the channel is checked before posting again")
    # Not sooner than the post's own timeout: Slack may still be storing it.
    assert first.next_attempt_at >= first.post_started_at + POST_TIMEOUT
    assert len(digests_in(slack)) == 1  # Slack has it already

    post_until_posted(poster, store)
    the_one_digest(slack, store)
    assert len(slack.of("chat.postMessage")) == 1  # never posted again
    [history] = slack.of("conversations.history")
    assert history.params["channel"] == "CLEAD" and history.params["include_all_metadata"] == "1"
    assert float(history.params["oldest"]) <= first.post_started_at


def test_a_post_slack_did_not_take_is_posted_once_after_the_history_check(store, slack, delivery_clients):
    slack.drop("chat.postMessage", record=False)
    poster = poster_for(store, delivery_clients)
    poster.post_if_due()
    assert digest_row(store, today()).status == "pending" and digests_in(slack) == []
    post_until_posted(poster, store)
    the_one_digest(slack, store)
    assert len(slack.of("chat.postMessage")) == 2 and len(slack.of("conversations.history")) == 1


@pytest.mark.parametrize("slack_took_it", [True, False], ids=["slack-took-it", "slack-never-got-it"])
def test_a_worker_that_died_mid_post_is_taken_over_after_the_claim_timeout(store, slack, delivery_clients, slack_took_it):
    """The claim timeout is 6 s here (3x the 2 s post timeout; 600 s by default)."""
    died_at = time.time()
    dead = claim_day(store, today(), "dead-worker", died_at)
    assert store.outbox.begin_post(dead.id, "dead-worker", "CLEAD", died_at)
    if slack_took_it:
        delivery_clients.post.chat_postMessage(channel="CLEAD", text="digest",
                                               metadata={"event_type": DIGEST_EVENT, "event_payload": {"day": today()}})
    poster = poster_for(store, delivery_clients, claim_timeout_seconds=6)
    assert poster.post_if_due(now=died_at + 3) is None  # the claim is still live: left alone
    outcome = poster.post_if_due(now=died_at + 7)
    assert outcome == ("found in CLEAD, recorded as sent (not posted again)" if slack_took_it else "posted to CLEAD")
    the_one_digest(slack, store)
    assert len(slack.of("conversations.history")) == 1
    assert len(slack.of("chat.postMessage")) == 1  # ours, or the dead worker's
    # The dead worker, were it to wake up, could neither post nor record anything.
    assert not store.outbox.begin_post(dead.id, "dead-worker", "CLEAD")
    assert not store.outbox.mark_sent(dead.id, "dead-worker", None, "CLEAD", "1.0")


def test_a_429_is_the_days_not_before_time_and_nothing_sleeps(store, slack, delivery_clients, no_sleeping_in_slack_sdk):
    slack.fail("chat.postMessage", 429, retry_after=20)
    poster = poster_for(store, delivery_clients)
    before = time.time()
    assert poster.post_if_due().startswith("stays pending (chat.postMessage: rate limited (HTTP 429))")
    row = digest_row(store, today())
    assert row.status == "pending" and before + 20 <= row.next_attempt_at <= time.time() + 20
    assert row.post_started_at is not None  # committed before the post, which Slack refused clearly
    assert poster.post_if_due() is None and poster_for(store, delivery_clients, worker="w2").post_if_due() is None
    assert poster.post_if_due(now=row.next_attempt_at + 0.1) == "posted to CLEAD"
    assert no_sleeping_in_slack_sdk == []
    the_one_digest(slack, store)


def test_bad_credentials_stop_delivery_for_everyone_and_the_digest_waits(store, slack, delivery_clients):
    slack.fail("chat.postMessage", error="invalid_auth")
    poster = poster_for(store, delivery_clients)
    assert poster.post_if_due() == "waits for Slack delivery to resume (chat.postMessage: invalid_auth)"
    assert store.outbox.delivery_stopped() == "invalid_auth" and digest_row(store, today()).status == "pending"
    assert poster.post_if_due() is None and len(slack.of("chat.postMessage")) == 1
    store.outbox.resume_delivery()  # what the credentials probe does once auth.test passes
    post_until_posted(poster, store)
    the_one_digest(slack, store)


def test_without_the_channels_history_scope_the_day_fails_and_checkins_go_on(store, slack, delivery_clients, caplog):
    slack.drop("chat.postMessage", record=True)
    slack.scopes.discard("channels:history")
    poster = poster_for(store, delivery_clients)
    poster.post_if_due()
    with caplog.at_level(logging.ERROR, logger="workers.digest_delivery"):
        wait_until(lambda: poster.post_if_due() is not None, what="the history check", timeout=10)
    row = digest_row(store, today())
    assert (row.status, row.last_error) == ("failed", "conversations.history: missing_scope")
    assert store.outbox.delivery_stopped() is None
    assert "add channels:history and groups:history to the Slack app and reinstall it" in caplog.text
    assert len(digests_in(slack)) == 1 and len(slack.of("chat.postMessage")) == 1
    assert poster.post_if_due() is None


def test_a_channel_that_is_not_there_fails_the_day_and_the_next_day_is_posted(store, slack, delivery_clients):
    slack.fail("chat.postMessage", error="channel_not_found")
    poster = poster_for(store, delivery_clients)
    assert poster.post_if_due() == "failed: chat.postMessage: channel_not_found"
    assert digest_row(store, today()).status == "failed"
    assert poster.post_if_due() is None and poster_for(store, delivery_clients, worker="w2").post_if_due() is None
    tomorrow = datetime.combine(date.today(), time_of_day(12, 0)).timestamp() + 24 * 3600
    assert poster.post_if_due(now=tomorrow) == "posted to CLEAD"
    day = datetime.fromtimestamp(tomorrow).date().isoformat()
    assert digest_row(store, day).status == "sent" and len(slack.of("chat.postMessage")) == 2


def test_since_is_when_the_previous_digest_was_posted(store, slack, delivery_clients):
    yesterday = datetime.fromtimestamp(time.time() - 24 * 3600).date().isoformat()
    posted_at = datetime.combine(date.today(), time_of_day(0, 0)).timestamp() - 15 * 3600  # yesterday 09:00
    held = claim_day(store, yesterday, "w0", posted_at)
    store.outbox.mark_sent(held.id, "w0", None, "CLEAD", "1.0", now=posted_at)
    poster_for(store, delivery_clients).post_if_due()
    [call] = slack.of("chat.postMessage")
    since = datetime.fromtimestamp(posted_at).strftime("%Y-%m-%d %H:%M")
    assert call.params["text"].splitlines()[0] == f"Daily digest of the review, {today()} (since {since})"


def test_the_log_names_the_day_and_the_outcome_never_a_reviewer(store, slack, delivery_clients, caplog):
    reviewed(store)
    with caplog.at_level(logging.INFO):  # the worker's level (slack-sdk's DEBUG lines carry every body)
        poster_for(store, delivery_clients).post_if_due()
    assert f"lead digest for {today()}: posted to CLEAD" in caplog.text
    assert "Reviewer" not in caplog.text and "Ada" not in caplog.text
