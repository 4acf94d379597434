"""The whole worker on a real port with its background threads: webhooks in, DMs out, catch-up
after downtime, replays adding nothing, and nothing private in the logs."""

import logging


from tests.workers.conftest import (
    local_http,
    BOT_TOKEN,
    POST_TIMEOUT,
    SIGNING_SECRET,
    WEBHOOK_SECRET,
    RunningWorker,
    annotation,
    exposure_count,
    signed_interaction,
    survey_payload,
    wait_until_applied,
    webhook_body,
    worker_settings,
)
from workers.catch_up import catch_up
from workers.service import build_worker


def start_worker(store, slack_client, label_studio, slack_url, *, credentials_probe_seconds=None, **settings):
    """The worker with its threads on a real port, delivering through short-timeout clients."""
    from workers.slack_delivery import make_delivery_clients

    app, parts = build_worker(
        worker_settings("sqlite:///unused", slack_url, **settings), store=store, slack_client=slack_client,
        label_studio=label_studio, retry_base_seconds=0.2, poll_seconds=0.1,
        delivery_clients=make_delivery_clients(BOT_TOKEN, slack_url, post_timeout=POST_TIMEOUT),
        credentials_probe_seconds=credentials_probe_seconds,
    )
    return RunningWorker(app), parts


def submit(url, project, ann, action="ANNOTATION_CREATED"):
    response = local_http.post(
        f"{url}/label-studio/webhook", content=webhook_body(action, ann, project),
        headers={"X-Webhook-Secret": WEBHOOK_SECRET, "Content-Type": "application/json"}, timeout=5,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_25_submits_2_dms_then_downtime_is_caught_up_and_replays_add_nothing(store, slack, slack_client, fake_label_studio):
    slack.users["ada@example.com"] = "UADA"
    submitted = [annotation(1, task, 7) for task in range(1, 36)]
    # Label Studio knows the project has this worker's webhook (it would, after setup --webhook-url).
    fake_label_studio.watched = {1}
    running, parts = start_worker(store, slack_client, fake_label_studio, slack.url, RECONCILE_SECONDS=3600)
    with running:
        for ann in submitted[:25]:
            fake_label_studio.add(1, ann)
            submit(running.url, 1, ann)
        slack.wait_for("chat.postMessage", 2)
        # An update and a re-delivery of the first 25 add nothing.
        submit(running.url, 1, dict(submitted[3], updated_at="2026-11-28T04:00:00Z"), "ANNOTATION_UPDATED")
    assert len(slack.dms()) == 2

    # The worker is down while 10 more are submitted: their webhooks are lost for good.
    for ann in submitted[25:]:
        fake_label_studio.add(1, ann)
    running, parts = start_worker(store, slack_client, fake_label_studio, slack.url, RECONCILE_SECONDS=3600)
    with running:
        slack.wait_for("chat.postMessage", 3)
        assert parts["service"].catch_up_passes >= 1
        # Replays: the first 25 are known deliveries; the 10 caught up count nothing more either.
        replies = [submit(running.url, 1, ann) for ann in submitted]
        assert replies == [{"stored": True}] * 35
        wait_until_applied(store)
        assert exposure_count(store, 1, 7) == 35
    assert [c.milestone for c in store.checkins.all()] == [10, 20, 30]
    assert {c.status for c in store.checkins.all()} == {"sent"}
    assert len(slack.dms()) == 3
    assert "reviewed 30 transcripts" in slack.dms()[2].params["text"]


def test_catch_up_finds_projects_and_skips_what_it_has_seen(store, fake_label_studio):
    for task in range(1, 13):  # Label Studio's ids start at 1
        fake_label_studio.add(4, annotation(4, task, 8))
    fake_label_studio.watched = {4}
    from workers.catch_up import projects_to_watch

    assert projects_to_watch(store, fake_label_studio, WEBHOOK_SECRET) == [4]
    first = catch_up(store, fake_label_studio, [4], 10)
    assert (first.tasks_read, first.exposures_new, first.checkins_due) == (12, 12, 1)
    again = catch_up(store, fake_label_studio, [4], 10)
    # The second pass asks only for what changed since the first: the overlap re-reads them all
    # here (they changed moments ago), and they add nothing.
    assert (again.exposures_new, again.checkins_due) == (0, 0)


def test_a_worker_that_cannot_reach_label_studio_still_acknowledges_webhooks(store, slack, slack_client, fake_label_studio):
    fake_label_studio.down = True
    running, parts = start_worker(store, slack_client, fake_label_studio, slack.url)
    with running:
        for task in range(10):
            submit(running.url, 1, annotation(1, task, 7))
        assert local_http.get(f"{running.url}/healthz").status_code == 200
    [checkin] = store.checkins.all()
    assert checkin.status == "pending" and checkin.last_error == "Label Studio user: ConnectError"


def test_answers_and_secrets_never_reach_the_logs(store, slack, slack_client, fake_label_studio, caplog):
    caplog.set_level(logging.INFO)
    slack.users["ada@example.com"] = "UADA"
    running, parts = start_worker(store, slack_client, fake_label_studio, slack.url)
    with running:
        for task in range(10):
            submit(running.url, 1, annotation(1, task, 7))
        slack.wait_for("chat.postMessage", 1)
        [checkin] = store.checkins.all()
        body, headers = signed_interaction(survey_payload(checkin.id, {"Upset": 4, "Nervous": 3}, "SENSITIVE-COMMENT"))
        assert local_http.post(f"{running.url}/slack/events", content=body, headers=headers).status_code == 200
        slack.wait_for("chat.postMessage", 1, where=lambda c: c.params["channel"] == "CLEAD")
        local_http.post(f"{running.url}/label-studio/webhook", content=b"{", headers={"X-Webhook-Secret": "guess"})
    text = caplog.text
    assert "check-in 1 answered" in text  # the logs do say what happened
    for private in ("SENSITIVE-COMMENT", WEBHOOK_SECRET, SIGNING_SECRET, BOT_TOKEN, "ls-test-key", "ada@example.com", "guess"):
        assert private not in text, private
    assert "'Upset': 4" not in text and '"Upset"' not in text


def test_socket_mode_serves_only_the_webhook(store, slack, slack_client, fake_label_studio):
    from starlette.testclient import TestClient

    app, parts = build_worker(
        worker_settings("sqlite:///unused", slack.url, SLACK_APP_TOKEN="xapp-1"), socket_mode=True,
        store=store, slack_client=slack_client, label_studio=fake_label_studio,
    )
    parts["service"].start = lambda: None  # no background threads in this check
    with TestClient(app) as client:
        assert client.post("/slack/events", content=b"").status_code == 404
        response = client.post(
            "/label-studio/webhook", content=webhook_body("ANNOTATION_CREATED", annotation(1, 1, 7), 1),
            headers={"X-Webhook-Secret": WEBHOOK_SECRET},
        )
        assert response.status_code == 200
