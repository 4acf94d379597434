"""PostgreSQL goes away under a stream of webhooks (a proxy in front of the real server is cut):
the worker answers every webhook within a second, 503 while the store is down, /healthz says
so within a second, and once the store is back every event answered 200 is applied, once."""

from __future__ import annotations

import os
import threading
import time

import httpx
import pytest

from tests.conftest import on_a_free_port
from tests.workers.conftest import BOT_TOKEN, SIGNING_SECRET, WEBHOOK_SECRET, WorkerProcess, annotation, webhook_body, local_http
from tests.workers.outage import CuttableProxy
from workers.store import open_store

pytestmark = pytest.mark.postgres

OUTAGE_SECONDS = float(os.environ.get("OUTAGE_SECONDS", "6"))  # the operator's trial was 60 s
RATE = 20  # webhooks a second, as in the operator's trial


@pytest.fixture
def proxy():
    cuttable = CuttableProxy(("127.0.0.1", 5432))
    yield cuttable
    cuttable.close()


@pytest.fixture
def worker_behind_proxy(tmp_path, slack, postgres_schema, proxy):
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(
        LABEL_STUDIO_URL="http://127.0.0.1:9", LABEL_STUDIO_API_KEY="ls-key", SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=slack.url, WEBHOOK_SECRET=WEBHOOK_SECRET,
        DATABASE_URL=proxy.url(postgres_schema), CHECKIN_EVERY="10", RECONCILE_SECONDS="3600",
    )
    worker = on_a_free_port(lambda port: _started(WorkerProcess(env, port, tmp_path / "worker.log")))
    yield worker
    worker.stop()


def _started(worker: WorkerProcess) -> WorkerProcess:
    worker.start()
    deadline = time.monotonic() + 60
    while "background process" not in worker.log_path.read_text() or " running: " not in worker.log_path.read_text():
        assert time.monotonic() < deadline, "the background process did not start"
        time.sleep(0.1)
    return worker


def test_a_store_outage_answers_503_within_a_second_and_loses_nothing_answered(worker_behind_proxy, proxy, postgres_schema):
    worker = worker_behind_proxy
    answers: list[tuple[int, int, float, float]] = []  # (annotation id, status, sent at, seconds)
    stop = threading.Event()

    def send() -> None:
        with httpx.Client(timeout=30) as client:
            n = 0
            while not stop.is_set():
                n += 1
                submitted = annotation(1, n, 7)
                body = webhook_body("ANNOTATION_CREATED", submitted, 1)
                started = time.monotonic()
                try:
                    status = client.post(f"{worker.url}/label-studio/webhook", content=body,
                                         headers={"X-Webhook-Secret": WEBHOOK_SECRET}).status_code
                except httpx.HTTPError:
                    status = 0
                answers.append((submitted["id"], status, started, time.monotonic() - started))
                time.sleep(max(0.0, 1 / RATE - (time.monotonic() - started)))

    sender = threading.Thread(target=send)
    sender.start()
    time.sleep(2)
    cut_at = time.monotonic()
    proxy.cut()
    time.sleep(1)
    health_started = time.monotonic()
    health = local_http.get(f"{worker.url}/healthz", timeout=30)
    health_seconds = time.monotonic() - health_started
    time.sleep(OUTAGE_SECONDS - 1)
    back_at = time.monotonic()
    proxy.restore()
    time.sleep(2)
    stop.set()
    sender.join(60)

    slowest = max(seconds for _, _, _, seconds in answers)
    assert slowest < 1.0, f"a webhook waited {slowest:.1f} s for its answer"
    assert health.status_code == 503 and "store" in health.json() and health_seconds < 1.0
    # Sent while the store was down and answered before it came back (a batch waits 0.3 s at most).
    during = [(status, round(sent - cut_at, 2)) for _, status, sent, _ in answers if cut_at + 1 < sent < back_at - 1]
    assert during and {status for status, _ in during} == {503}, during
    assert {status for _, status, _, _ in answers} <= {200, 503}

    stored = {annotation_id for annotation_id, status, _, _ in answers if status == 200}
    store = open_store(postgres_schema, create=False)
    try:
        while time.monotonic() < back_at + 10:  # within 10 s of the store coming back
            with store.backend.transaction(write=False) as cur:
                applied = [row[0] for row in store.backend.run(cur, "SELECT annotation_id FROM ledger WHERE project = 1")]
            if set(applied) >= stored and not store.inbox.waiting().waiting:
                break
            time.sleep(0.2)
        assert sorted(applied) == sorted(set(applied)), "an event was applied twice"
        assert set(applied) == stored, "an event answered 200 was not applied, or one answered 503 was"
    finally:
        store.close()
