"""`OFFBOARD=true` against the real Label Studio 1.23: a reviewer who presses "Stop reviewing" is
removed from the organisation (they lose access), and their annotation is still in the export.
Also the welcome message's invite link, read from the real server's GET /api/invite."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from tests.conftest import success_result, user_token, wait_until
from tests.workers.conftest import SIGNING_SECRET, WEBHOOK_SECRET, button_payload, worker_settings
from tests.workers.test_consent_slack import interact, press, text_for
from tests.workers.test_slack_delivery import reach
from workers import consent, messages
from workers.label_studio_api import LabelStudioReader

pytestmark = pytest.mark.label_studio

CONFIG = """<View><Text name="dialogue" value="$dialogue"/>
<Choices name="success" toName="dialogue"><Choice value="0"/><Choice value="1"/><Choice value="2"/></Choices></View>"""


@pytest.fixture
def offboarding_worker(label_studio, store, slack, slack_client, delivery_clients):
    """The worker with OFFBOARD=true and the real Label Studio, its app served by a TestClient."""
    from starlette.testclient import TestClient

    from workers.app import build_app
    from workers.service import build_worker

    settings = worker_settings("sqlite:///unused", slack.url, LABEL_STUDIO_URL=label_studio.url,
                               LABEL_STUDIO_API_KEY=label_studio.api_key, OFFBOARD="true",
                               CONSENT_CONTACT="Dr Lee")
    assert settings.offboard
    reader = LabelStudioReader(label_studio.url, label_studio.api_key)
    _, parts = build_worker(settings, store=store, slack_client=slack_client, label_studio=reader,
                            delivery_clients=delivery_clients, retry_base_seconds=0.2, poll_seconds=0.1)
    app = build_app(store, webhook_secret=WEBHOOK_SECRET, slack_app=parts["slack_app"],
                    slack_signing_secret=SIGNING_SECRET, service=None)
    with TestClient(app) as client:
        parts["client"] = client
        yield parts


def test_stop_reviewing_with_offboard_removes_the_member_and_keeps_the_annotation(
    label_studio, offboarding_worker, store, slack
):
    email = f"leaver-{uuid.uuid4().hex[:8]}@example.com"
    reviewer = label_studio.make_reviewer(email)
    admin = label_studio.client()
    project = admin.projects.create(title=f"Offboarding {email}", label_config=CONFIG)
    admin.projects.import_tasks(id=project.id, request=[{"dialogue": "a transcript"}])
    [task] = list(admin.tasks.list(project=project.id))
    label_studio.reviewer_client(email).annotations.create(id=task.id, result=[success_result("1")],
                                                           completed_by=reviewer)
    token = user_token(label_studio.url, email, label_studio.password(email))

    # The lead's invite, the reviewer's consent, and the welcome with the real server's invite link.
    slack.users[email] = "ULEAVER"
    version = store.consents.keep_text(text_for())
    consent.ask(store, email, "ULEAVER", version)
    sender = offboarding_worker["sender"]
    sender.send_all_due()
    [dm] = slack.dms()
    interact(offboarding_worker["client"], press(messages.CONSENT_YES, dm, user="ULEAVER", channel="DULEAVER"))
    wait_until(lambda: store.outbox.find("welcome", subject=f"{email}|{version}") is not None)
    sender.send_all_due()
    [welcome] = [c for c in slack.dms() if "Sign up with this link" in c.params["text"]]
    invite = admin.organizations.invites.get_invite_link().invite_url
    assert f"{label_studio.url}{invite}" in welcome.params["text"] and "/user/signup/?token=" in invite

    # A check-in, then "Stop reviewing" on it.
    reach(store, 10, reviewer=reviewer, project=project.id)
    sender.send_all_due()
    [checkin] = store.checkins.all()
    assert checkin.status == "sent"

    def can_read_the_project() -> int:
        return httpx.get(f"{label_studio.url}/api/projects/{project.id}/",
                         headers={"Authorization": f"Token {token}"}).status_code

    assert can_read_the_project() == 200
    interact(offboarding_worker["client"],
             button_payload(messages.STOP_REVIEWING, checkin.id, user="ULEAVER", channel="DULEAVER"))
    wait_until(lambda: can_read_the_project() != 200, what="the member loses access", timeout=15)
    assert can_read_the_project() in (401, 403, 404)
    assert store.consents.standing(email).state == "withdrawn"

    export = admin.projects.exports.download_sync(id=project.id, export_type="JSON", download_all_tasks=True)
    tasks = json.loads(b"".join(export))
    [annotation] = tasks[0]["annotations"]
    assert annotation["completed_by"] == reviewer and annotation["result"][0]["value"] == {"choices": ["1"]}
    # A soft delete: the user is still known to Label Studio, as the author of that annotation.
    assert reviewer in {user.id for user in admin.users.list()}
