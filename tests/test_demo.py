"""`review-project demo`: a real local Label Studio with the demo project, reused on re-run."""

import json

import pytest
from click.testing import CliRunner

from review_project import label_studio as ls_api
from review_project.cli import cli
from review_project.demo import DEMO_TITLE
from review_project.records import load_records
from tests.conftest import user_token

pytestmark = pytest.mark.label_studio


def test_demo_prints_the_url_and_every_login(demo_run):
    logins = demo_run.logins()
    assert f"Label Studio is running at {demo_run.url}" in demo_run.output
    assert sorted(logins) == ["lead@example.com"] + [f"reviewer{i}@example.com" for i in range(1, 5)]
    for email, password in logins.items():
        # Every printed login works: the server hands that user their own API token.
        assert user_token(demo_run.url, email, password)


def test_demo_sets_up_the_project_on_a_private_server(demo_run):
    env = dict(line.removeprefix("export ").split("=", 1) for line in (demo_run.folder / "env").read_text().splitlines())
    client = ls_api.connect(env["LABEL_STUDIO_URL"], env["LABEL_STUDIO_API_KEY"])
    project = ls_api.find_project(client, DEMO_TITLE)
    assert project.task_number == 24 and project.maximum_annotations == 4
    assert env["LABEL_STUDIO_URL"].startswith("http://127.0.0.1:")
    assert oct((demo_run.folder / "env").stat().st_mode & 0o777) == "0o600"
    records = load_records(demo_run.folder / "red_team_attempts.jsonl.gz")
    assert len(records) == 400
    manifest = [json.loads(line) for line in (demo_run.folder / "manifest.jsonl").read_text().splitlines()]
    assert {(m["model_type"], m["num_params"]) for m in manifest} == {("context distillation", "52B"), ("rlhf", "52B")}


def test_demo_runs_again_reusing_everything(demo_run):
    again = CliRunner().invoke(cli, ["demo", "--dir", str(demo_run.folder), "--port", str(demo_run.port)])
    assert again.exit_code == 0, again.output
    assert "signing up" not in again.output and "writing" not in again.output
    assert demo_run.logins() == {k: v for k, v in (
        (line.split()[-3], line.split()[-1]) for line in again.stdout.splitlines()
        if line.startswith(("Reviewer:", "Lead (admin):")))}
    env = dict(line.removeprefix("export ").split("=", 1) for line in (demo_run.folder / "env").read_text().splitlines())
    client = ls_api.connect(env["LABEL_STUDIO_URL"], env["LABEL_STUDIO_API_KEY"])
    assert ls_api.find_project(client, DEMO_TITLE).task_number == 24


def test_demo_stop_when_nothing_runs(tmp_path):
    result = CliRunner().invoke(cli, ["demo", "--stop", "--dir", str(tmp_path)])
    assert result.exit_code == 0
    assert result.output == "The demo's Label Studio was not running.\n"
