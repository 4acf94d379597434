"""The demo: the whole lead's workflow on this machine, on a small benign dataset.

It starts a private Label Studio, writes a generated red-team-shaped dataset (placeholder
text, nothing offensive), samples it, signs up four demo reviewers and sets up the project.
Everything it makes lives in one folder and is reused when the demo runs again.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from review_project import demo_data, label_studio, local_server
from review_project.manifest import read_manifest, write_manifest
from review_project.project_setup import SetupReport, setup_project
from review_project.records import load_records
from review_project.sampling import sample_attacks
from review_project.shared import Reviewer, read_reviewers, write_reviewers

DEMO_TITLE = "Red-team review (demo)"
DEMO_RECORDS = 400
DEMO_PER_MODEL = 12
DEMO_REVIEWERS = 4
LOGINS_FILE = "reviewer-logins.json"


@dataclass(frozen=True)
class Login:
    email: str
    password: str


@dataclass(frozen=True)
class DemoResult:
    """Where the demo runs and how to log in."""

    url: str
    project_id: int
    admin: Login
    reviewers: list[Login]
    folder: Path
    setup: SetupReport

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
            *(f"Reviewer:      {login.email}  password {login.password}" for login in self.reviewers),
            f"For status, export and agreement: source {self.env_file}",
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
    _write_private(folder / "env", f"export LABEL_STUDIO_URL={server.url}\nexport LABEL_STUDIO_API_KEY={server.api_key}\n")

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
    report = setup_project(client, read_manifest(manifest), read_reviewers(reviewers_csv), title=DEMO_TITLE)
    return DemoResult(
        url=server.url,
        project_id=report.project_id,
        admin=Login(server.admin_email, server.admin_password),
        reviewers=logins,
        folder=folder,
        setup=report,
    )


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
