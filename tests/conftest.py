"""Shared fixtures: one real Label Studio 1.23 server for the whole run, and a reviewed project.

The server is started once per test session (about 30 s) from review_project.local_server,
the same code the demo uses, in a temporary folder on a free port. Tests that need it fail,
never skip, when it cannot start.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from review_project import label_studio as ls_api
from review_project import local_server
from review_project.demo_data import generate_records
from review_project.sampling import sample_attacks
from review_project.shared import Reviewer

_titles = itertools.count(1)
T = TypeVar("T")

# `scripts/test --fast` sets this: its property tests try fewer examples (examples below), so the
# lane a developer runs on every change stays under a minute; the whole suite tries them all.
FAST_LANE = os.environ.get("REVIEW_FAST_LANE") == "1"


def examples(full: int) -> int:
    """How many examples a property test tries: `full` in the whole suite, half in the fast lane."""
    return max(full // 2, 1) if FAST_LANE else full

# The fixtures that start or reach a service, and the marker every test using one must carry: the
# fast lane (`scripts/test --fast`) deselects those markers, so an unmarked test would start the
# service there. postgres_schema also checks at set-up, for tests that reach it by getfixturevalue.
SERVICE_MARKERS = {
    "label_studio_server": "label_studio",
    "demo_run": "label_studio",
    "browser": "browser",
    "postgres_schema": "postgres",
}


def pytest_collection_modifyitems(config, items):
    unmarked = [
        f"{item.nodeid} uses {fixture} but has no @pytest.mark.{marker}"
        for item in items
        for fixture, marker in SERVICE_MARKERS.items()
        if fixture in item.fixturenames and item.get_closest_marker(marker) is None
    ]
    if unmarked:
        raise pytest.UsageError("tests without their service's marker:\n  " + "\n  ".join(unmarked))


@contextlib.contextmanager
def logged_in(url: str, email: str, password: str) -> Iterator[httpx.Client]:
    """An HTTP session logged in through the login form, as the user's browser would be."""
    with httpx.Client(base_url=url, timeout=30, trust_env=False, follow_redirects=False) as browser:
        browser.get("/user/login/")
        login = browser.post(
            "/user/login/",
            data={"email": email, "password": password, "csrfmiddlewaretoken": browser.cookies.get("csrftoken", "")},
            headers={"Referer": f"{url}/user/login/"},
        )
        assert login.status_code == 302, f"Label Studio at {url} refused the login of {email}"
        yield browser


def user_token(url: str, email: str, password: str) -> str:
    """A user's own legacy API token, read after logging in as them."""
    with logged_in(url, email, password) as browser:
        return browser.get("/api/current-user/token").json()["token"]


def wait_until(condition, timeout: float = 30.0, what: str = "the condition", every: float = 0.05) -> None:
    """Poll `condition()` until it is true; fail the test after `timeout` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def free_port() -> int:
    """A TCP port nobody listens on right now (someone may take it before we bind: on_a_free_port)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def on_a_free_port(start: Callable[[int], T]) -> T:
    """start(port) on a free port, and once more on another if it fails: between free_port()
    and the server's bind, another process can take the port."""
    try:
        return start(free_port())
    except Exception:
        return start(free_port())


@dataclass
class LabelStudioServer:
    """The session's server, with shortcuts the integration tests share."""

    url: str
    api_key: str
    admin_email: str
    admin_password: str
    data_dir: Path
    _passwords: dict = field(default_factory=dict)

    def client(self):
        return ls_api.connect(self.url, self.api_key)

    def env(self) -> dict[str, str]:
        """Environment for CliRunner: this server and its admin key."""
        return {"LABEL_STUDIO_URL": self.url, "LABEL_STUDIO_API_KEY": self.api_key}

    def make_reviewer(self, email: str, password: str = "reviewer-pass-1") -> int:
        """Sign up a reviewer with a password (once) and return their user id."""
        client = self.client()
        users = ls_api.users_by_email(client)
        if email.lower() not in users:
            invite = client.organizations.invites.get_invite_link().invite_url
            local_server.sign_up(self.url, invite, email, password)
            users = ls_api.users_by_email(client)
        self._passwords.setdefault(email, password)
        return users[email.lower()].id

    def password(self, email: str) -> str:
        return self._passwords[email]

    def reviewer_client(self, email: str):
        """A client acting as the reviewer, with their own token, as their browser would."""
        return ls_api.connect(self.url, user_token(self.url, email, self.password(email)))


@pytest.fixture(scope="session")
def label_studio_server(tmp_path_factory) -> LabelStudioServer:
    data_dir = tmp_path_factory.mktemp("label-studio")
    server = on_a_free_port(lambda port: local_server.start_server(data_dir, port=port))
    yield LabelStudioServer(server.url, server.api_key, server.admin_email, server.admin_password, data_dir)
    local_server.stop_server(data_dir)


@pytest.fixture(scope="session")
def label_studio(label_studio_server) -> LabelStudioServer:
    """The session's real Label Studio server (SSRF protection off, legacy tokens on)."""
    return label_studio_server


@pytest.fixture
def project_title() -> str:
    """A title no other test uses, so tests share the server without sharing projects."""
    return f"Red-team review test {next(_titles)}"


@pytest.fixture(scope="session")
def demo_records() -> list[dict]:
    return generate_records(300, seed=7)


@pytest.fixture
def manifest_attacks(demo_records) -> list[dict]:
    """A small sample: 6 attacks from each 52B model."""
    return sample_attacks(demo_records, per_model=6, seed=3)


def success_result(value: str) -> dict:
    return {"from_name": "success", "to_name": "dialogue", "type": "choices", "value": {"choices": [value]}}


def topics_result(*topics: str) -> dict:
    return {"from_name": "topics", "to_name": "dialogue", "type": "taxonomy", "value": {"taxonomy": [[t] for t in topics]}}


@dataclass
class ReviewedProject:
    """A project where four reviewers annotated through the API, with what each one did."""

    project_id: int
    title: str
    reviewer_ids: list[int]
    reviewer_emails: list[str]
    task_ids: list[int]
    attacks: list[dict]
    annotations: list[dict]
    export_path: Path
    manifest_path: Path


@pytest.fixture(scope="session")
def reviewed_project(label_studio, tmp_path_factory, demo_records) -> ReviewedProject:
    """Four reviewers annotate 8 of 12 tasks: ratings, one skip, one 3-topic and one success "9" annotation."""
    from review_project.manifest import write_manifest
    from review_project.project_setup import setup_project

    folder = tmp_path_factory.mktemp("reviewed")
    attacks = sample_attacks(demo_records, per_model=6, seed=11)
    manifest_path = folder / "manifest.jsonl"
    write_manifest(manifest_path, attacks)
    emails = [f"panel{i}@example.com" for i in range(1, 5)]
    reviewer_ids = [label_studio.make_reviewer(email) for email in emails]
    client = label_studio.client()
    title = "Red-team review (reviewed fixture)"
    report = setup_project(client, attacks, [Reviewer(e, f"Panel {i}") for i, e in enumerate(emails, 1)], title=title)
    tasks = sorted(client.tasks.list(project=report.project_id, page_size=100), key=lambda t: t.data["attack_id"])
    plan = []
    for n, task in enumerate(tasks[:8]):
        for r, reviewer_id in enumerate(reviewer_ids):
            result = [success_result(str((n + r) % 5 if n % 2 else min(4, n // 2 + (r > 2)))), topics_result("Theft")]
            cancelled = False
            if n == 5 and r == 3:
                result, cancelled = [], True
            if n == 6 and r == 0:
                result = [success_result("2"), topics_result("Theft", "Weapons", "Other")]
            if n == 7 and r == 1:
                result = [success_result("9"), topics_result("Other")]
            plan.append({"task_id": task.id, "reviewer_id": reviewer_id, "result": result, "was_cancelled": cancelled})
    # Each reviewer submits with their own token, so the server records them as the author
    # and the last editor, as it does for a submit from the labelling screen.
    as_reviewer = {rid: label_studio.reviewer_client(email) for rid, email in zip(reviewer_ids, emails)}
    for item in plan:
        as_reviewer[item["reviewer_id"]].annotations.create(
            id=item["task_id"], result=item["result"], completed_by=item["reviewer_id"],
            was_cancelled=item["was_cancelled"], lead_time=12.5,
        )
    export_path = folder / "export.json"
    ls_api.download_export(client, report.project_id, export_path)
    return ReviewedProject(
        project_id=report.project_id, title=title, reviewer_ids=reviewer_ids, reviewer_emails=emails,
        task_ids=[t.id for t in tasks], attacks=attacks, annotations=plan, export_path=export_path,
        manifest_path=manifest_path,
    )


def read_json(path: Path):
    return json.loads(Path(path).read_text())


@dataclass
class DemoRun:
    """`review-project demo` as a new user runs it: its folder, port and printed output."""

    folder: Path
    port: int
    output: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logins(self) -> dict[str, str]:
        """email -> password, read from the printed output as a person would."""
        found = {}
        for line in self.output.splitlines():
            if line.startswith(("Reviewer:", "Lead (admin):")):
                parts = line.split()
                found[parts[-3]] = parts[-1]
        return found


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> DemoRun:
    """The demo started once for the session through the CLI, stopped at the end."""
    from click.testing import CliRunner

    from review_project.cli import cli

    folder = tmp_path_factory.mktemp("demo") / "review-demo"

    def start(port: int) -> DemoRun:
        result = CliRunner().invoke(cli, ["demo", "--dir", str(folder), "--port", str(port)])
        assert result.exit_code == 0, result.output
        return DemoRun(folder, port, result.stdout)

    run = on_a_free_port(start)
    yield run
    stopped = CliRunner().invoke(cli, ["demo", "--stop", "--dir", str(folder)])
    # Checked here because only the last user of the demo may stop it.
    assert stopped.output == "Stopped the demo's Label Studio.\n"
    assert not local_server.is_up(run.url)
