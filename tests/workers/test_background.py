"""`review-project worker` as a service manager runs it: a web process that answers webhooks once
they are in the inbox, and a background process of its own that applies them. Killed with
SIGKILL, the background is started again and applies every event answered meanwhile, once; the
web process says so in /healthz; a killed web process leaves no background behind; SIGTERM
applies what waits before the worker exits."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time

import pytest

from tests.conftest import on_a_free_port
from tests.workers.conftest import BOT_TOKEN, SIGNING_SECRET, WEBHOOK_SECRET, WorkerProcess, annotation, webhook_body, local_http
from workers.store import open_store


@pytest.fixture
def worker_process(tmp_path, slack):
    """The real command on a free port, with a SQLite store; Label Studio unreachable (nothing here needs it)."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(
        LABEL_STUDIO_URL="http://127.0.0.1:9", LABEL_STUDIO_API_KEY="ls-key", SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=slack.url, WEBHOOK_SECRET=WEBHOOK_SECRET,
        DATABASE_URL=f"sqlite:///{tmp_path / 'worker.sqlite3'}", CHECKIN_EVERY="10", RECONCILE_SECONDS="3600",
    )

    def started(port: int) -> WorkerProcess:
        worker = WorkerProcess(env, port, tmp_path / "worker.log")
        worker.start()
        return worker

    worker = on_a_free_port(started)
    yield worker
    worker.stop()


def post(worker: WorkerProcess, task: int) -> dict:
    response = local_http.post(
        f"{worker.url}/label-studio/webhook", content=webhook_body("ANNOTATION_CREATED", annotation(1, task, 7), 1),
        headers={"X-Webhook-Secret": WEBHOOK_SECRET}, timeout=5,
    )
    assert response.status_code == 200, response.text
    return response.json()


def background_pids(worker: WorkerProcess) -> list[int]:
    """The background processes of the worker that have started their work, in order, as its log names them."""
    return [int(pid) for pid in re.findall(r"background process (\d+) running", worker.log_path.read_text())]


def wait_for(condition, timeout: float = 30.0, what: str = "the condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {timeout} s")


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a process that exited but was not reaped yet is a zombie, not running
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def signal_pending(pid: int, signum: int) -> bool:
    """Whether a signal sent to the process waits to be delivered (it is stopped, say)."""
    status = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status").read().splitlines() if ":" in line)
    return any(int(status[field], 16) >> (signum - 1) & 1 for field in ("ShdPnd", "SigPnd"))


def milestones(worker: WorkerProcess) -> list[int]:
    store = open_store(worker.env["DATABASE_URL"], create=False)
    try:
        return [c.milestone for c in store.checkins.all()] if not store.inbox.waiting().waiting else []
    finally:
        store.close()


def test_a_killed_background_is_restarted_and_applies_what_was_answered_meanwhile(worker_process):
    worker = worker_process
    [first] = wait_for(lambda: background_pids(worker), what="the background's start")
    assert all(post(worker, task) == {"stored": True} for task in range(1, 11))
    assert wait_for(lambda: milestones(worker) == [10], what="the first 10 applied")

    os.kill(first, signal.SIGKILL)
    health = wait_for(lambda: local_http.get(f"{worker.url}/healthz").status_code == 503 and local_http.get(f"{worker.url}/healthz"),
                      timeout=5, what="/healthz noticing")
    assert health.json() == {"ok": False, "background": "not running"}
    for task in range(11, 21):  # answered while nothing applies: they wait in the inbox
        assert post(worker, task) == {"stored": True}
    pids = wait_for(lambda: len(background_pids(worker)) == 2 and background_pids(worker), what="a restart")
    assert pids[0] == first and not running(first)
    assert wait_for(lambda: milestones(worker) == [10, 20], what="the next 10 applied")
    assert local_http.get(f"{worker.url}/healthz").json() == {"ok": True, "inbox": 0}
    assert "the background process exited (code -9); starting another in 1 s" in worker.log_path.read_text()


def test_a_killed_web_process_leaves_no_background_behind(worker_process):
    worker = worker_process
    [background] = wait_for(lambda: background_pids(worker), what="the background's start")
    worker.process.kill()
    worker.process.wait(10)
    wait_for(lambda: not running(background), timeout=10, what="the background's exit")
    assert "the worker's web process is gone; the background process stops too" in worker.log_path.read_text()


def test_sigterm_applies_what_waits_before_the_worker_exits(worker_process):
    worker = worker_process
    [background] = wait_for(lambda: background_pids(worker), what="the background's start")
    # Opened before the freeze: opening checks the schema in a write transaction, which a background
    # frozen in the middle of one of its own (a delivery pass as it starts) would hold up for good.
    store = open_store(worker.env["DATABASE_URL"], create=False)
    os.kill(background, signal.SIGSTOP)  # frozen: nothing is applied while the webhooks come
    try:
        for task in range(1, 11):
            post(worker, task)
        assert store.inbox.waiting().waiting == 10
        worker.process.send_signal(signal.SIGTERM)  # as a service manager stops it
        # The web process passes the stop on: the frozen background holds it until it thaws.
        wait_for(lambda: signal_pending(background, signal.SIGTERM), timeout=10, what="SIGTERM reaching the background")
        os.kill(background, signal.SIGCONT)
        worker.process.wait(30)
        # uvicorn stops gracefully, then ends by the signal it was sent (its exit status says so).
        assert worker.process.returncode == -signal.SIGTERM and not running(background)
        assert "Application shutdown complete" in worker.log_path.read_text()
        assert store.inbox.waiting().waiting == 0 and [c.milestone for c in store.checkins.all()] == [10]
    finally:
        with contextlib.suppress(ProcessLookupError):  # a failure above must not leave it frozen
            os.kill(background, signal.SIGCONT)
        store.close()


def _exits_at_once(settings):
    """A background that cannot start (the spawned process exits with status 2)."""
    from review_project.shared import WorkerError

    raise WorkerError("this background exits at once")


@pytest.mark.parametrize(("healthy_after", "expected_wait"), [(0.0, 1), (3600.0, 60)])
def test_the_restart_wait_starts_over_after_a_healthy_run(monkeypatch, caplog, healthy_after, expected_wait):
    """Six crashes in a row wait a minute; a crash after a healthy run waits the first step again."""
    from workers import background

    monkeypatch.setattr(background, "HEALTHY_RUN_SECONDS", healthy_after, raising=False)
    process = background.BackgroundProcess(settings=None, build=_exits_at_once)
    process.restarts = 5  # as after five crashes in a row
    with caplog.at_level("ERROR", logger="workers.background"):
        process.start()
        try:
            wait_for(lambda: "starting another in" in caplog.text, what="the restart line")
        finally:
            process.stop(timeout=10)
    assert f"starting another in {expected_wait} s" in caplog.text


def test_restart_waits_back_off_and_reset():
    from workers.background import HEALTHY_RUN_SECONDS, RESTART_SECONDS, restart_wait, restarts_so_far

    assert [restart_wait(n) for n in range(8)] == [1, 2, 5, 10, 30, 60, 60, 60]
    assert restarts_so_far(6, HEALTHY_RUN_SECONDS - 1) == 6
    assert restarts_so_far(6, HEALTHY_RUN_SECONDS) == 0
    assert RESTART_SECONDS[0] == 1
