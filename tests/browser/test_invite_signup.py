"""A new reviewer joins as the issue describes it, every part real: the lead's `setup` and `invite`,
`review-project worker` as a process with the Slack stand-in, the real Label Studio, and Chromium.
The worker sends the consent message; after "I understand and want to take part" it sends the
invite link; the reviewer signs up with a password in the browser, lands in the project, labels one
task, and the worker receives the webhook and counts it."""

from __future__ import annotations

import json
import os
import re
import uuid

import httpx
import pytest
from click.testing import CliRunner

from review_project import label_studio as ls
from review_project.cli import cli
from review_project.manifest import write_manifest
from review_project.sampling import sample_attacks
from tests.browser.conftest import LabellingScreen
from tests.conftest import on_a_free_port, user_token, wait_until
from tests.workers.conftest import BOT_TOKEN, SIGNING_SECRET, WEBHOOK_SECRET, WorkerProcess, signed_interaction
from tests.workers import conftest as worker_fixtures
from workers.store import open_store

slack = worker_fixtures.slack  # the Slack stand-in, a fixture of tests/workers/conftest.py

pytestmark = [pytest.mark.browser, pytest.mark.label_studio]


def posted(slack, kind: str) -> list[dict]:
    """The DMs posted so far whose metadata says they are `kind` ('review_consent' event: consent or welcome)."""
    found = []
    for call in slack.dms():
        blocks = call.params.get("blocks")
        found.append({"text": call.params.get("text") or "", "channel": call.params["channel"],
                      "blocks": json.loads(blocks) if isinstance(blocks, str) else blocks or []})
    return [m for m in found if kind in json.dumps(m)]


def button_value(message: dict, action_id: str) -> str:
    return next(element["value"] for block in message["blocks"] if block.get("type") == "actions"
                for element in block["elements"] if element["action_id"] == action_id)


def press(worker_url: str, action_id: str, value: str, user: str, channel: str) -> None:
    """The reviewer presses a button: Slack's signed interaction to the worker."""
    payload = {
        "type": "block_actions", "user": {"id": user}, "team": {"id": "T1"}, "api_app_id": "A1", "token": "legacy",
        "trigger_id": "1.2.3", "channel": {"id": channel}, "container": {"type": "message", "channel_id": channel},
        "actions": [{"type": "button", "action_id": action_id, "block_id": "consent_actions", "value": value}],
        "response_url": "http://127.0.0.1:9/unused",
    }
    body, headers = signed_interaction(payload)
    assert httpx.post(f"{worker_url}/slack/events", content=body, headers=headers, timeout=10).status_code == 200


def test_a_new_reviewer_consents_signs_up_through_the_link_the_worker_sent_and_labels_a_task(
        label_studio, slack, page, tmp_path, demo_records, project_title, screenshots):
    email, password = f"newcomer-{uuid.uuid4().hex[:6]}@example.com", "a-Password-of-her-own-7"
    slack.users[email] = "UNEW"
    secret = f"{WEBHOOK_SECRET}-{uuid.uuid4().hex[:8]}"
    database_url = f"sqlite:///{tmp_path / 'worker.sqlite3'}"
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(LABEL_STUDIO_URL=label_studio.url, LABEL_STUDIO_API_KEY=label_studio.api_key, SLACK_BOT_TOKEN=BOT_TOKEN,
               SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=slack.url, WEBHOOK_SECRET=secret,
               DATABASE_URL=database_url, CHECKIN_EVERY="10", RECONCILE_SECONDS="3600")

    def started(port: int) -> WorkerProcess:
        process = WorkerProcess(env, port, tmp_path / "worker.log")
        process.start()
        return process

    worker = on_a_free_port(started)
    try:
        manifest, reviewers = tmp_path / "manifest.jsonl", tmp_path / "reviewers.csv"
        write_manifest(manifest, sample_attacks(demo_records, per_model=2, seed=5))
        reviewers.write_text(f"email,name\n{email},New Comer\n")
        lead_env = {"LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.api_key,
                    "WEBHOOK_SECRET": secret, "DATABASE_URL": database_url, "SLACK_BOT_TOKEN": BOT_TOKEN,
                    "SLACK_API_URL": slack.url}
        setup = CliRunner().invoke(cli, [
            "setup", "--manifest", str(manifest), "--reviewers", str(reviewers), "--title", project_title,
            "--reviewers-per-task", "1", "--webhook-url", f"{worker.url}/label-studio/webhook", "--silent",
        ], env=lead_env)
        assert setup.exit_code == 0, setup.output
        assert "1 of 1 reviewers have not joined Label Studio yet" in setup.output
        invite = CliRunner().invoke(cli, ["invite", "--reviewers", str(reviewers), "--project", project_title,
                                          "--contact", "Dana, dana@example.com"], env=lead_env)
        assert invite.exit_code == 0, invite.output
        assert "1 consent DM(s) queued now" in invite.output

        # The worker sends the consent message; nothing in it is a way into Label Studio yet.
        wait_until(lambda: posted(slack, "consent_yes"), timeout=30, what="the consent DM")
        [consent] = posted(slack, "consent_yes")
        assert consent["channel"] == "DUNEW" and "/user/signup/" not in json.dumps(consent)
        # The project exists (setup ran first), so the text says how much work: 4 tasks, 1 reviewer each.
        assert "How much work: about 4 transcripts for each reviewer (4 in the review" in json.dumps(consent)
        press(worker.url, "consent_yes", button_value(consent, "consent_yes"), "UNEW", "DUNEW")
        wait_until(lambda: any("/user/signup/" in m["text"] or "/user/signup/" in json.dumps(m["blocks"])
                               for m in posted(slack, "DUNEW")), timeout=30, what="the welcome DM with the invite link")
        welcome = next(m for m in posted(slack, "DUNEW") if "/user/signup/" in json.dumps(m))
        link = re.search(r"https?://[^\s<>|\"]+/user/signup/\?token=[\w-]+", json.dumps(welcome)).group(0)
        project = ls.project_by_title(label_studio.client(), project_title)
        assert link == ls.invite_link(label_studio.client())

        # In Chromium: the link, the sign-up form with her own password, then the project.
        page.goto(link)
        page.locator("input[name=email]").fill(email)
        page.locator("input[name=password]").fill(password)
        page.get_by_role("button", name="Create Account").click()
        page.wait_for_url(lambda address: "/user/signup" not in address)
        # The welcome's project link: the project list while the worker knows no project yet (no annotation
        # so far), where she opens the review by its title.
        projects = re.search(rf"{re.escape(label_studio.url)}/projects/(\d+/)?", welcome["text"]).group(0)
        page.goto(projects)
        page.get_by_text(project_title, exact=True).first.click()
        page.wait_for_url(re.compile(rf"/projects/{project.id}(/|\?|$)"))
        screen = LabellingScreen(page, label_studio.url, project.id).open()
        task = screen.task_id
        screen.rating("2").check()
        screen.open_topics()
        screen.topic_option("Theft").click()
        screen.close_topics()
        page.screenshot(path=str(screenshots / "invite-signup-labelling.png"))  # her first task, rated, as she saw it
        with screen.saving() as saved:
            screen.submit_button().click()
        assert saved.value.status == 201

        user = ls.users_by_email(label_studio.client())[email]
        store = open_store(database_url, create=False)
        try:
            def counted() -> bool:
                return any(row[3] == user.id and row[1] == task for row in store.ledger.read(project.id).annotations)

            # The project was made after the worker started and catch-up waits an hour: only the webhook tells it.
            wait_until(counted, timeout=30, what="the worker to count the annotation from its webhook")
            with store.backend.transaction(write=False) as cur:
                seen = store.backend.run(cur, "SELECT count(*) FROM exposures WHERE project = $1 AND reviewer = $2",
                                         (project.id, user.id)).fetchone()[0]
            assert seen == 1  # one task towards her first check-in
            standing = store.consents.standing(email)
            assert (standing.state, standing.recorded_by) == ("consented", "slack")
        finally:
            store.close()
        assert user_token(label_studio.url, email, password)  # her own password: nobody ran reset_password
    finally:
        worker.stop()
