"""The demo: the whole lead's workflow on this machine, on a small benign dataset.

It starts a private Label Studio, writes a generated red-team-shaped dataset (placeholder
text, nothing offensive), samples it, signs up four demo reviewers and sets up the project.
Then three of the reviewers "review" every task with seeded, simulated ratings (submitted with
their own logins, as their browser would), so the lead's commands - status, agreement,
adjudicate, results - have something to show on the first run; the fourth reviewer's queue is
left for the person trying the demo. Everything it makes lives in one folder and is reused
when the demo runs again; a re-run adds no rating.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from review_project import demo_data, label_studio, local_server
from review_project.manifest import read_manifest, write_manifest
from review_project.project_setup import DATA_DIR_VARIABLE, SetupReport, setup_project
from review_project.records import load_records
from review_project.sampling import sample_attacks
from review_project.schema import DIALOGUE, SUCCESS, TOPICS_CONTROL
from review_project.shared import LabelStudioError, Reviewer, read_reviewers, write_reviewers

DEMO_TITLE = "Red-team review (demo)"
DEMO_RECORDS = 400
DEMO_PER_MODEL = 12
DEMO_REVIEWERS = 4
# Reviewers 1-3 get simulated ratings; the 4th reviewer's queue is the person's.
SIMULATED_REVIEWERS = 3
LOGINS_FILE = "reviewer-logins.json"


@dataclass(frozen=True)
class Login:
    email: str
    password: str


@dataclass(frozen=True)
class Simulated:
    """The simulated reviews: who, how many there are and how many this run added."""

    reviewers: list[str]
    annotations: int
    skipped: int
    added: int
    tasks: int

    def text(self) -> str:
        who = ", ".join(self.reviewers)
        return (
            f"Simulated reviews: {who} have rated the {self.tasks} tasks with seeded, SIMULATED ratings "
            f"({self.annotations} annotations, {self.skipped} of them skips; {self.added} added this run). "
            "They are not real judgements: they are there so that status, agreement, adjudicate and "
            "results show something on the first run."
        )


@dataclass(frozen=True)
class DemoResult:
    """Where the demo runs and how to log in."""

    url: str
    project_id: int
    admin: Login
    reviewers: list[Login]
    folder: Path
    setup: SetupReport
    simulated: Simulated | None = None

    @property
    def env_file(self) -> Path:
        return self.folder / "env"

    @property
    def project_url(self) -> str:
        return f"{self.url}/projects/{self.project_id}/data"

    def text(self, folder: str) -> str:
        """What `review-project demo` prints: where to go and how to log in."""
        lines = [
            f"\nLabel Studio is running at {self.url}",
            f"Project: {self.project_url}",
            f"Lead (admin):  {self.admin.email}  password {self.admin.password}",
            "Demo accounts: the demo signs these reviewers up with known passwords (in a real review each one "
            "joins through the invite link, and setup finds them):",
            *(f"Reviewer:      {login.email}  password {login.password}" for login in self.reviewers),
        ]
        if self.simulated is not None:
            lines.append(self.simulated.text())
            yours = self.reviewers[len(self.simulated.reviewers)]
            lines.append(f"Your turn: log in as {yours.email} (its queue is untouched) and press Label All Tasks.")
        lines += [
            "In a real review, reviewers are asked first: `review-project invite --reviewers reviewers.csv` queues a "
            "consent message in Slack (what they will read, the limits, whom to contact, that they may stop at any "
            "time); the worker sends the invite link only to those who agree, and they sign up with their own "
            "password. Consent given another way: `review-project consent EMAIL --recorded-by YOU`. The demo skips "
            "this and makes its accounts itself.",
            f"For status, export, agreement and adjudicate: source {self.env_file}",
            f"Stop it with: review-project demo --stop --dir {folder}",
        ]
        return "\n".join(lines)


def run_demo(folder: str | os.PathLike, port: int = 8080, on_step: Callable[[str], None] = lambda step: None) -> DemoResult:
    """Start or reuse the demo in `folder` and return its URL and logins."""
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    on_step(f"starting Label Studio on 127.0.0.1:{port} (data in {folder / 'label-studio'})")
    server = local_server.start_server(folder / "label-studio", port=port)
    client = label_studio.connect(server.url, server.api_key)
    # The data folder too, in Label Studio's own variable: `label-studio reset_password` and setup read it there.
    _write_private(folder / "env", "".join(f"export {name}={shlex.quote(str(value))}\n" for name, value in (
        ("LABEL_STUDIO_URL", server.url), ("LABEL_STUDIO_API_KEY", server.api_key), (DATA_DIR_VARIABLE, server.data_dir),
    )))

    dataset = folder / "red_team_attempts.jsonl.gz"
    if not dataset.exists():
        on_step(f"writing {DEMO_RECORDS} benign placeholder attacks to {dataset.name}")
        demo_data.write_records(dataset, demo_data.generate_records(DEMO_RECORDS, seed=0))
    manifest = folder / "manifest.jsonl"
    if not manifest.exists():
        on_step(f"sampling {DEMO_PER_MODEL} attacks from each 52B model into {manifest.name}")
        write_manifest(manifest, sample_attacks(load_records(dataset), per_model=DEMO_PER_MODEL, seed=0))

    reviewers_csv = folder / "reviewers.csv"
    logins = _reviewer_logins(folder)
    if not reviewers_csv.exists():
        write_reviewers(reviewers_csv, [Reviewer(login.email, f"Demo Reviewer{i + 1}") for i, login in enumerate(logins)])
    existing = label_studio.users_by_email(client)
    invite = client.organizations.invites.get_invite_link().invite_url
    for login in logins:
        if login.email.lower() not in existing:
            on_step(f"signing up {login.email}")
            local_server.sign_up(server.url, invite, login.email, login.password)

    on_step("setting up the project")
    attacks = read_manifest(manifest)
    report = setup_project(client, attacks, read_reviewers(reviewers_csv), title=DEMO_TITLE)
    simulated = simulate_reviews(client, server.url, report.project_id, attacks, logins[:SIMULATED_REVIEWERS], on_step)
    return DemoResult(
        url=server.url,
        project_id=report.project_id,
        admin=Login(server.admin_email, server.admin_password),
        reviewers=logins,
        folder=folder,
        setup=report,
        simulated=simulated,
    )


def simulate_reviews(
    client, url: str, project_id: int, attacks: list[dict], logins: list[Login], on_step: Callable[[str], None] = lambda step: None
) -> Simulated:
    """Submit the seeded, simulated reviews (demo_data.simulated_reviews) that are not there yet.

    Each reviewer submits with their own login's token, so Label Studio records them as the
    author and the last editor, as it does for a submit from the labelling screen (an admin's
    completed_by would leave the admin as `updated_by`, and every rating would look edited by
    someone else). A reviewer who already has an annotation of a task is left alone there.
    """
    plan = demo_data.simulated_reviews(attacks, reviewers=len(logins))
    users = label_studio.users_by_email(client)
    user_ids = [users[login.email.lower()].id for login in logins]
    tasks = label_studio.full_export(client, project_id)
    done = {(task["id"], _user_id(a.get("completed_by"))) for task in tasks for a in task.get("annotations") or []}
    missing = [
        (task["id"], int(task["data"]["attack_id"]), index)
        for task in tasks
        for index, user_id in enumerate(user_ids)
        if (int(task["data"]["attack_id"]), index) in plan and (task["id"], user_id) not in done
    ]
    if missing:
        on_step(f"simulating {len(missing)} seeded ratings from {', '.join(login.email for login in logins)}")
        as_reviewer = [label_studio.connect(url, _user_token(url, login)) for login in logins]
        for task_id, attack_id, index in missing:
            success, topics = plan[(attack_id, index)]
            with label_studio.translated_errors(url, f"submitting a simulated rating of task {task_id}"):
                as_reviewer[index].annotations.create(
                    id=task_id, result=_result(success, topics), was_cancelled=success is None,
                    completed_by=user_ids[index], lead_time=_seconds(attack_id, index),
                )
    planned = [plan[(int(task["data"]["attack_id"]), index)] for task in tasks for index in range(len(logins))]
    return Simulated(
        reviewers=[login.email for login in logins],
        annotations=len(planned),
        skipped=sum(success is None for success, _ in planned),
        added=len(missing),
        tasks=len(tasks),
    )


def _seconds(attack_id: int, reviewer: int) -> float:
    """A seeded, plausible time spent on one review (20-60 s)."""
    return round(20 + 40 * random.Random(f"demo lead time {attack_id} {reviewer}").random(), 1)


def _result(success: int | None, topics: tuple[str, ...]) -> list[dict]:
    """A review as the labelling screen submits it; a skip has no result."""
    if success is None:
        return []
    result = [{"from_name": SUCCESS, "to_name": DIALOGUE, "type": "choices", "value": {"choices": [str(success)]}}]
    if topics:
        result.append({"from_name": TOPICS_CONTROL, "to_name": DIALOGUE, "type": "taxonomy", "value": {"taxonomy": [[t] for t in topics]}})
    return result


def _user_id(value) -> int | None:
    return value.get("id") if isinstance(value, dict) else value


def _user_token(url: str, login: Login) -> str:
    """A demo reviewer's own API token, read after logging in with their password."""
    with httpx.Client(base_url=url, timeout=30, trust_env=False, follow_redirects=False) as browser:
        browser.get("/user/login/")
        answer = browser.post(
            "/user/login/",
            data={"email": login.email, "password": login.password, "csrfmiddlewaretoken": browser.cookies.get("csrftoken", "")},
            headers={"Referer": f"{url}/user/login/"},
        )
        if answer.status_code != 302:
            raise LabelStudioError(f"Label Studio at {url} refused the demo login of {login.email} (status {answer.status_code})")
        return browser.get("/api/current-user/token").json()["token"]


def stop_demo(folder: str | os.PathLike) -> bool:
    """Stop the demo's server; False when it was not running."""
    return local_server.stop_server(Path(folder) / "label-studio")


def _reviewer_logins(folder: Path) -> list[Login]:
    path = folder / LOGINS_FILE
    if path.exists():
        return [Login(**login) for login in json.loads(path.read_text())]
    logins = [Login(f"reviewer{i + 1}@example.com", secrets.token_urlsafe(9)) for i in range(DEMO_REVIEWERS)]
    _write_private(path, json.dumps([vars(login) for login in logins]))
    return logins


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read: it holds passwords or a token."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
