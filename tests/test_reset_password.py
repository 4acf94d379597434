"""Giving an account a password on the server, as the README and `setup --create-accounts` say.

Label Studio has no API that sets a password; `label-studio reset_password` does, on the server's
own data folder. Run on another folder it prints "not found", exits 0 and leaves a new, empty
database there. So the test runs the very command the README documents (and setup prints) on the
data folder of the session's real server, then logs in through the login form with the password.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from review_project import label_studio as ls_api
from review_project import local_server
from review_project.cli import cli
from review_project.manifest import write_manifest
from review_project.project_setup import reset_password_command
from review_project.shared import Reviewer, write_reviewers

pytestmark = pytest.mark.label_studio

ROOT = Path(__file__).resolve().parent.parent
NEW_PASSWORD = "set-on-the-server-1"


def documented_command() -> str:
    """The README's reset_password command with placeholders (DATA_DIR, EMAIL), as a lead copies it."""
    found = re.findall(r"((?:\w+=\S+ )?label-studio reset_password [^`\n]*--username EMAIL[^`\n#]*)", (ROOT / "README.md").read_text())
    assert found, "README.md documents no `label-studio reset_password ... --username EMAIL` command"
    return found[0].strip()


def filled(template: str, **values: str) -> str:
    """The template with each placeholder (a whole word: not the DATA_DIR of LABEL_STUDIO_BASE_DATA_DIR) replaced."""
    return re.sub(r"\b(" + "|".join(values) + r")\b", lambda found: values[found.group(1)], template)


def can_log_in(url: str, email: str, password: str) -> bool:
    """Log in through /user/login/ as a browser does (CSRF cookie and token): True when it lets them in."""
    with httpx.Client(base_url=url, timeout=30, trust_env=False, follow_redirects=False) as browser:
        browser.get("/user/login/")
        answer = browser.post(
            "/user/login/",
            data={"email": email, "password": password, "csrfmiddlewaretoken": browser.cookies.get("csrftoken", "")},
            headers={"Referer": f"{url}/user/login/"},
        )
        return answer.status_code == 302 and browser.get("/api/current-user/whoami").json().get("email") == email


def run_on_the_server(command: str, home: Path) -> subprocess.CompletedProcess:
    """Run a shell line as the lead would on the server: `label-studio` on PATH, a HOME of its own
    (so a wrong folder cannot touch a real ~/.local/share/label-studio), no data folder set."""
    env = {
        "PATH": f"{Path(local_server.label_studio_executable()).parent}:/usr/bin:/bin",
        "HOME": str(home),
        "SENTRY_DSN": "",
        "COLLECT_ANALYTICS": "false",
    }
    return subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=300)


def set_password(command: str, home: Path) -> None:
    """Run a reset_password line with the password given (the test has no terminal to type it in)."""
    without = re.sub(r" --password \S+", "", command)  # an old line's "--password ..." placeholder
    done = run_on_the_server(f"{without} --password {NEW_PASSWORD}", home)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "Password successfully changed", done.stdout[-500:]
    assert not (home / ".local" / "share" / "label-studio").exists()  # no database made elsewhere


def test_the_readme_s_command_gives_an_account_made_through_the_api_its_password(label_studio, project_title, tmp_path):
    email = f"api-made-{project_title.split()[-1]}@example.com"
    label_studio.client().users.create(username=email, email=email, first_name="Api", last_name="Made")
    assert not can_log_in(label_studio.url, email, NEW_PASSWORD)
    set_password(filled(documented_command(), DATA_DIR=shlex.quote(str(label_studio.data_dir)), EMAIL=email), tmp_path / "home")
    assert can_log_in(label_studio.url, email, NEW_PASSWORD)


@pytest.fixture
def new_reviewers(tmp_path, manifest_attacks, project_title):
    emails = [f"{project_title.split()[-1]}-no-password{i}@example.com" for i in (1, 2)]
    manifest, reviewers = tmp_path / "manifest.jsonl", tmp_path / "reviewers.csv"
    write_manifest(manifest, manifest_attacks[:2])
    write_reviewers(reviewers, [Reviewer(email, "New Reviewer") for email in emails])
    return emails, ["setup", "--manifest", str(manifest), "--reviewers", str(reviewers), "--title", project_title, "--silent"]


def test_setup_prints_the_readme_s_command_for_each_account_it_made(label_studio, new_reviewers, tmp_path):
    emails, setup = new_reviewers
    data_dir = str(label_studio.data_dir.resolve())
    # The demo's env file names the data folder of its server, as here.
    result = CliRunner().invoke(cli, [*setup, "--create-accounts"], env=label_studio.env() | {"LABEL_STUDIO_BASE_DATA_DIR": data_dir})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "Reviewers: 2 accounts created, 0 of 2 had joined already" in lines
    # The exact commands, the data folder filled in: the README's command with its placeholders replaced.
    printed = [filled(documented_command(), DATA_DIR=shlex.quote(data_dir), EMAIL=email) for email in emails]
    assert [line.strip() for line in lines if "reset_password" in line] == printed
    assert printed == [reset_password_command(email, data_dir) for email in emails]
    assert not any(re.search(r"\bDATA_DIR\b", line) for line in lines)
    assert not can_log_in(label_studio.url, emails[0], NEW_PASSWORD)
    # Run as printed (it asks for the password; the lead may give --password instead).
    set_password(printed[0], tmp_path / "home")
    assert can_log_in(label_studio.url, emails[0], NEW_PASSWORD)


def test_without_the_server_s_data_folder_setup_prints_the_template_and_where_to_look(label_studio, new_reviewers):
    emails, setup = new_reviewers
    result = CliRunner().invoke(cli, [*setup, "--create-accounts"], env=label_studio.env() | {"LABEL_STUDIO_BASE_DATA_DIR": ""})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.strip() for line in lines if line.startswith("  ")] == [
        f"LABEL_STUDIO_BASE_DATA_DIR=DATA_DIR label-studio reset_password --username {email}" for email in emails
    ]
    where = next(line for line in lines if line.startswith("DATA_DIR is"))
    assert "LABEL_STUDIO_BASE_DATA_DIR, else ~/.local/share/label-studio" in where
    assert where.endswith("In Docker: docker exec -it CONTAINER label-studio reset_password --username EMAIL")
    users = ls_api.users_by_email(label_studio.client())
    assert all(email in users for email in emails)
