"""End to end with the real Label Studio 1.23 (tests/conftest.py) and `review-project worker` as a
subprocess: the webhook registered by `setup --webhook-url`, 25 submits give exactly 2 DMs, a
stopped worker catches up on 10 more at restart (the third DM), replayed webhooks add nothing."""

from __future__ import annotations

import json
import os
import uuid

import pytest
from click.testing import CliRunner

from review_project import label_studio as ls
from review_project.cli import cli
from review_project.manifest import write_manifest
from review_project.sampling import sample_attacks
from tests.conftest import on_a_free_port, success_result, topics_result, wait_until
from tests.workers import clock_shifted_worker
from tests.workers.conftest import BOT_TOKEN, SIGNING_SECRET, WEBHOOK_SECRET, WorkerProcess, local_http
from workers.label_studio_api import LabelStudioReader
from workers.store import open_store

pytestmark = pytest.mark.label_studio

REVIEWER = "e2e.reviewer@example.com"


@pytest.fixture
def worker_env() -> dict:
    """Settings added to the worker's environment; a test overrides this with parametrize."""
    return {}


@pytest.fixture
def worker_module() -> str:
    """What runs the worker: the real command, or (parametrized) clock_shifted_worker's wrapper of it."""
    return "review_project.cli"


@pytest.fixture
def e2e(label_studio, slack, tmp_path, demo_records, project_title, worker_env, worker_module):
    """A project set up with the worker's webhook, one reviewer known to Slack, the worker running."""
    # A secret of its own: the other tests' projects on this server are not this worker's.
    secret = f"{WEBHOOK_SECRET}-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(
        LABEL_STUDIO_URL=label_studio.url, LABEL_STUDIO_API_KEY=label_studio.api_key, SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=slack.url, WEBHOOK_SECRET=secret,
        DATABASE_URL=f"sqlite:///{tmp_path / 'worker.sqlite3'}", CHECKIN_EVERY="10", RECONCILE_SECONDS="3600",
    )
    env[clock_shifted_worker.CLOCK_SHIFT_FILE] = str(tmp_path / "clock-shift")  # read by that wrapper only
    env.update(worker_env)

    manifest = tmp_path / "manifest.jsonl"
    write_manifest(manifest, sample_attacks(demo_records, per_model=20, seed=21))
    reviewers = tmp_path / "reviewers.csv"
    reviewers.write_text(f"email,name\n{REVIEWER},E2E Reviewer\n")
    webhooks = []

    def set_up_then_started(port: int) -> WorkerProcess:
        # Setup first, so the worker's first catch-up (as it starts) finds the project by its webhook
        # and syncs it; a worker that started before setup had finished would meet the project only
        # through webhooks and sync it at its next pass, RECONCILE_SECONDS later.
        result = CliRunner().invoke(
            cli,
            ["setup", "--manifest", str(manifest), "--reviewers", str(reviewers), "--title", project_title,
             "--reviewers-per-task", "1", "--webhook-url", f"http://127.0.0.1:{port}/label-studio/webhook",
             "--create-accounts", "--silent"],
            env={"LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.api_key,
                 "WEBHOOK_SECRET": secret},
        )
        assert result.exit_code == 0, result.output
        webhooks.append(next(line for line in result.output.splitlines() if line.startswith("Webhook: ")))
        worker = WorkerProcess(env, port, tmp_path / "worker.log", module=worker_module)
        worker.start()
        return worker

    worker = on_a_free_port(set_up_then_started)
    try:  # stopped whatever fails from here: a worker left running outlives the test session
        # Created; and updated to another port only if the first was taken before the worker bound it.
        assert webhooks in (["Webhook: created"], ["Webhook: created", "Webhook: updated"])
        client = label_studio.client()
        project = ls.project_by_title(client, project_title)
        reviewer_id = ls.users_by_email(client)[REVIEWER].id
        tasks = [t.id for t in client.tasks.list(project=project.id, page_size=100)]
        slack.users[REVIEWER] = "UE2E"
        first_sync_done(worker, project.id)
        yield worker, client, project.id, reviewer_id, tasks
    finally:
        worker.stop()


def submit(client, task_id: int, reviewer_id: int, skipped: bool = False, success: str = "2",
           topic: str = "Theft", lead_time: float = 9.0) -> None:
    client.annotations.create(
        id=task_id, result=[] if skipped else [success_result(success), topics_result(topic)],
        completed_by=reviewer_id, was_cancelled=skipped, lead_time=lead_time,
    )


def first_sync_done(worker: WorkerProcess, project: int, timeout: float = 60.0) -> None:
    """Wait until the worker's first sync of `project` has ended. A webhook applied while it runs
    counts, but makes no nudge and no check-in of its own (store/counting.py): a test of live
    webhooks that submitted at once would race the sync, which a loaded CI machine can lose."""
    store = open_store(worker.env["DATABASE_URL"], create=False)
    try:
        wait_until(lambda: store.ledger.state(project).sync_done_at is not None, timeout,
                   f"the end of the worker's first sync of project {project}")
    finally:
        store.close()


def settle(slack, worker: WorkerProcess, count: int) -> None:
    """Wait for `count` DMs, then for the worker to be quiet: every webhook received applied, every
    project's first sync done (a milestone met during it is recorded as missed) and no check-in
    waiting to go out or being sent, so no other DM can follow from what it received."""
    slack.wait_for("chat.postMessage", count, timeout=30, where=lambda c: c.params["channel"].startswith("D"))
    store = open_store(worker.env["DATABASE_URL"], create=False)

    def busy() -> bool:
        syncing = any(store.ledger.state(project).sync_done_at is None for project in store.events.known_projects())
        return syncing or store.inbox.waiting().waiting > 0 or bool(store.checkins.all(("pending", "sending")))

    try:
        wait_until(lambda: not busy(), 30, "the worker to settle")
    finally:
        store.close()


def test_25_submits_2_dms_then_catch_up_after_downtime_and_replays_add_nothing(e2e, slack, tmp_path):
    worker, client, project_id, reviewer_id, tasks = e2e
    assert len(tasks) >= 35
    # Catch-up would find this project even with an empty store: its webhook carries our secret.
    reader = LabelStudioReader(worker.env["LABEL_STUDIO_URL"], worker.env["LABEL_STUDIO_API_KEY"])
    assert project_id in reader.watched_projects(worker.env["WEBHOOK_SECRET"])
    assert project_id not in reader.watched_projects("some other worker's secret")
    assert reader.reviewer(reviewer_id).email == REVIEWER
    for n, task_id in enumerate(tasks[:25]):
        submit(client, task_id, reviewer_id, skipped=(n == 4))  # a skip counts as a task seen
    settle(slack, worker, 2)
    assert [c.params["channel"] for c in slack.dms()] == ["DUE2E", "DUE2E"]
    assert "reviewed 10 transcripts" in slack.dms()[0].params["text"]
    assert "reviewed 20 transcripts" in slack.dms()[1].params["text"]

    worker.stop()
    for task_id in tasks[25:35]:
        submit(client, task_id, reviewer_id)  # the webhooks go nowhere: the worker is down
    assert len(slack.dms()) == 2
    worker.start()
    settle(slack, worker, 3)
    assert len(slack.dms()) == 3 and "reviewed 30 transcripts" in slack.dms()[2].params["text"]
    log = worker.log_path.read_text()
    # Its first sync, as it first started, found the project by its webhook; at the restart a pass
    # over what changed since reads the 10 it missed.
    assert "first sync of project" in log
    assert "catch-up: 10 task(s) newly seen by their reviewer, 0 annotation(s) gone from Label Studio, 1 check-in(s) due" in log

    # Replay every submission as a webhook, in Label Studio's own body shape: nothing changes.
    replies = []
    for task in client.tasks.list(project=project_id, page_size=100, fields="all"):
        for annotation in task.annotations or []:
            body = {"action": "ANNOTATION_CREATED", "annotation": dict(annotation), "project": {"id": project_id}}
            response = local_http.post(f"{worker.url}/label-studio/webhook", content=json.dumps(body),
                                  headers={"X-Webhook-Secret": worker.env["WEBHOOK_SECRET"]}, timeout=5)
            replies.append(response.json())
    assert replies == [{"stored": True}] * 35
    settle(slack, worker, 3)
    assert len(slack.dms()) == 3

    worker.stop()
    log = worker.log_path.read_text()
    assert "check-in 3: sent" in log
    for private in (worker.env["WEBHOOK_SECRET"], SIGNING_SECRET, BOT_TOKEN, worker.env["LABEL_STUDIO_API_KEY"], REVIEWER):
        assert private not in log
    result = CliRunner().invoke(cli, ["wellbeing", "--json"], env={"DATABASE_URL": worker.env["DATABASE_URL"]})
    summary = json.loads(result.output)
    assert (summary["checkins"], summary["delivered"], summary["by_status"]) == (3, 3, {"sent": 3})
    assert [row["milestone"] for row in summary["trend"]] == [10, 20, 30]
    assert summary["not_answered"] == [{"reviewer": "E2E Reviewer", "sent": 3, "answered": 0}]


@pytest.mark.parametrize(
    "worker_env, worker_module",
    [({"CHECKIN_EVERY": "100", "SEVERE_STREAK": "3", "DAILY_TASK_CAP": "5", "BREAK_AFTER_MINUTES": "10"},
      clock_shifted_worker.__name__)],
)
def test_each_pacing_trigger_through_real_webhooks_gives_one_dm_and_pause_stops_nudges(e2e, slack, label_studio):
    """Severe streak (3 tasks rated 3+ or tagged Self-harm), the daily cap (5) and a break after 10
    minutes of continuous reviewing, each from Label Studio's own webhooks; then Pause silences the
    next one. The 10 minutes pass on the worker's clock, not the test's (clock_shifted_worker)."""
    from tests.workers.conftest import button_payload, signed_interaction
    from workers import messages

    worker, client, project_id, reviewer_id, tasks = e2e
    submit(client, tasks[0], reviewer_id, success="3", lead_time=1.0)
    submit(client, tasks[1], reviewer_id, success="1", topic="Self-harm", lead_time=1.0)
    submit(client, tasks[2], reviewer_id, success="4", lead_time=1.0)  # the third severe in a row
    settle(slack, worker, 1)
    assert "last 3 transcripts" in slack.dms()[0].params["text"]
    submit(client, tasks[3], reviewer_id, lead_time=1.0)
    submit(client, tasks[4], reviewer_id, lead_time=1.0)  # the fifth today
    settle(slack, worker, 2)
    assert "reviewed 5 transcripts today" in slack.dms()[1].params["text"]
    # From here the worker reads each created_at 10 minutes on: the next task comes 10 minutes into
    # the session (still one session: a gap of more than 15 ends one).
    clock_shifted_worker.run_ahead(worker.env, 10 * 60)
    submit(client, tasks[5], reviewer_id, lead_time=1.0)  # 10 minutes after the first task was opened
    settle(slack, worker, 3)
    assert "reviewing for about 10 minutes" in slack.dms()[2].params["text"]

    # Pause from the last nudge's button: three more severe tasks make a nudge that is not sent.
    checkin_id = slack.checkin_messages()["DUE2E"][-1]
    body, headers = signed_interaction(button_payload(messages.PAUSE, checkin_id, user="UE2E", channel="DUE2E"))
    assert local_http.post(f"{worker.url}/slack/events", content=body, headers=headers, timeout=10).status_code == 200
    for task_id in tasks[6:9]:
        submit(client, task_id, reviewer_id, success="4", lead_time=1.0)
    settle(slack, worker, 3)
    assert len(slack.checkin_messages()["DUE2E"]) == 3  # the nudges; the reply to Pause is not one
    worker.stop()
    result = CliRunner().invoke(cli, ["wellbeing", "--json"], env={"DATABASE_URL": worker.env["DATABASE_URL"]})
    summary = json.loads(result.output)
    [row] = summary["exposure"]
    assert row["tasks"] == 9 and row["severe_seen"] == 6
    assert row["nudges_sent"] == {"break": 1, "severe": 1, "daily_cap": 1}
    assert len(row["daily_cap_reached_on"]) == 1
    assert summary["by_status"] == {"paused": 1, "sent": 1}  # the survey-bearing ones: two severe nudges


@pytest.mark.label_studio
def test_a_project_label_studio_no_longer_has_is_an_unknown_project(label_studio):
    from workers.label_studio_api import LabelStudioReader, UnknownProject

    reader = LabelStudioReader(label_studio.url, label_studio.api_key)
    with pytest.raises(UnknownProject, match=r"^project 987654: not found$"):
        reader.task_count(987654)
    with pytest.raises(UnknownProject, match=r"^tasks of project 987654: not found$"):
        next(reader.tasks(987654))
