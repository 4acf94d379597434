"""The HTTP endpoints: the Label Studio webhook (secret, real bodies, replays, bad input), /healthz."""

import json

import pytest
from starlette.testclient import TestClient

from tests.fixtures import real_webhook_bodies
from tests.workers.conftest import (
    WEBHOOK_SECRET,
    annotation,
    apply_received,
    every_row,
    exposure_count,
    seen_annotation_ids,
    webhook_body,
)
from workers.app import build_app, check_webhook
from workers.webhook import MAX_BODY_BYTES, RequestRefused

SECRET = {"X-Webhook-Secret": WEBHOOK_SECRET}


def post(client, body: bytes, headers=SECRET):
    return client.post("/label-studio/webhook", content=body, headers={"Content-Type": "application/json", **headers})


def test_the_real_bodies_are_stored_once(client, store):
    answers = [post(client, json.dumps(e["body"]).encode(), e["headers"] | SECRET) for e in real_webhook_bodies()]
    assert [(r.status_code, r.json()) for r in answers] == [(200, {"stored": True})] * 8
    assert store.inbox.waiting().waiting == 8 and store.events.known_projects() == []  # answered, not applied yet
    assert apply_received(store) == 8
    assert len(every_row(store)["events"]) == 4  # every delivery came twice: the second adds nothing
    assert seen_annotation_ids(store, 1) == {6, 7}
    assert exposure_count(store, 1, 1) == 1  # annotations 6 and 7 are the same reviewer on task 2


@pytest.mark.parametrize("headers", [{}, {"X-Webhook-Secret": "wrong"}, {"X-Webhook-Secret": ""}])
def test_a_missing_or_wrong_secret_is_401(client, store, headers):
    response = post(client, webhook_body("ANNOTATION_CREATED", annotation(1, 1, 7), 1), headers)
    assert (response.status_code, response.json()) == (401, {"error": "missing or wrong X-Webhook-Secret header"})
    assert store.inbox.waiting().waiting == 0


def test_the_secret_is_compared_in_constant_time(monkeypatch):
    import hmac

    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    with pytest.raises(RequestRefused):
        check_webhook(WEBHOOK_SECRET, {"x-webhook-secret": "nope"}, b"{}")
    assert calls == [1]


@pytest.mark.parametrize(
    "body, status, reason",
    [
        (b"{", 400, "body is not valid JSON"),
        (b'{"action": "TASKS_CREATED", "project": {"id": 1}}', 422, "unsupported action 'TASKS_CREATED'"),
        (b'{"action": "ANNOTATION_CREATED", "project": {"id": 1}, "annotation": {"id": 1}}', 422, "annotation.updated_at missing"),
    ],
)
def test_bad_bodies_get_a_reason_store_nothing_and_the_worker_keeps_serving(client, store, body, status, reason):
    response = post(client, body)
    assert response.status_code == status and reason in response.json()["error"]
    assert store.inbox.waiting().waiting == 0
    good = post(client, webhook_body("ANNOTATION_CREATED", annotation(1, 1, 7), 1))
    assert good.status_code == 200 and good.json() == {"stored": True}
    assert store.inbox.waiting().waiting == 1


def test_a_body_over_one_megabyte_is_413_even_without_content_length(client, store):
    big = b'{"pad": "' + b"x" * MAX_BODY_BYTES + b'"}'
    response = post(client, big)
    assert response.status_code == 413 and "over the 1048576 byte limit" in response.json()["error"]

    def chunks():
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b"x" * 65536

    streamed = client.post("/label-studio/webhook", content=chunks(), headers=SECRET)
    assert streamed.status_code == 413
    assert store.inbox.waiting().waiting == 0


def test_the_tenth_task_makes_a_checkin_and_replays_make_none(client, store):
    bodies = [webhook_body("ANNOTATION_CREATED", annotation(1, task, 7), 1) for task in range(10)]
    assert [post(client, b).json() for b in bodies] == [{"stored": True}] * 10
    apply_received(store)
    assert [c.milestone for c in store.checkins.all()] == [10]
    assert [post(client, b).status_code for b in bodies] == [200] * 10  # replayed
    assert apply_received(store) == 10
    assert [c.milestone for c in store.checkins.all()] == [10] and exposure_count(store, 1, 7) == 10


def test_healthz_answers_200_only_while_the_store_is_reachable(tmp_path):
    from workers.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'h.sqlite3'}")
    app = build_app(store, webhook_secret="s")
    with TestClient(app) as client:
        assert (client.get("/healthz").status_code, client.get("/healthz").json()) == (200, {"ok": True, "inbox": 0})
        store.close()
        (tmp_path / "h.sqlite3").unlink()
        (tmp_path / "h.sqlite3").mkdir()  # the file is gone and cannot be re-created
        response = client.get("/healthz")
        assert response.status_code == 503 and response.json()["ok"] is False


def test_a_broken_store_answers_503_and_says_catch_up_will_recover(tmp_path):
    from workers.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'b.sqlite3'}")
    app = build_app(store, webhook_secret="s")
    store.close()
    (tmp_path / "b.sqlite3").unlink()
    (tmp_path / "b.sqlite3").mkdir()
    with TestClient(app) as client:
        response = client.post(
            "/label-studio/webhook", content=webhook_body("ANNOTATION_CREATED", annotation(1, 1, 7), 1),
            headers={"X-Webhook-Secret": "s"},
        )
    assert response.status_code == 503 and "caught up later" in response.json()["error"]


def test_healthz_fails_once_a_received_event_has_waited_over_a_minute(tmp_path):
    # Nothing applies the inbox (here: no service at all; in production a stuck or dead background).
    import time

    from workers.store import open_store
    from workers.webhook import parse_webhook

    store = open_store(f"sqlite:///{tmp_path / 'h.sqlite3'}")
    event = parse_webhook(webhook_body("ANNOTATION_CREATED", annotation(1, 1, 7), 1))
    with TestClient(build_app(store, webhook_secret="s")) as client:
        store.inbox.receive([event], now=time.time() - 30)
        assert client.get("/healthz").json() == {"ok": True, "inbox": 1}
        store.inbox.receive([event], now=time.time() - 75)
        response = client.get("/healthz")
        assert (response.status_code, response.json()) == (503, {"ok": False, "inbox": "2 event(s) waiting, the oldest for 75 s"})
        apply_received(store)
        assert client.get("/healthz").json() == {"ok": True, "inbox": 0}
    store.close()
