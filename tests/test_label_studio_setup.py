"""setup, status and export against the real Label Studio server of conftest.py."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from click.testing import CliRunner

from review_project import label_studio as ls_api
from review_project.cli import cli
from review_project.export import read_table
from review_project.manifest import write_manifest
from review_project.reviewer_interface import label_config
from review_project.schema import TOPICS
from review_project.shared import Reviewer, write_reviewers
from tests.conftest import free_port, logged_in, read_json

pytestmark = pytest.mark.label_studio


def run(args, env=None, **kwargs):
    result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False, **kwargs)
    return result


@pytest.fixture
def lead_files(tmp_path, manifest_attacks):
    manifest = tmp_path / "manifest.jsonl"
    write_manifest(manifest, manifest_attacks)
    reviewers = tmp_path / "reviewers.csv"
    write_reviewers(reviewers, [Reviewer(f"setup{i}@example.com", f"Setup Reviewer{i}", f"U0{i}") for i in range(1, 5)])
    return manifest, reviewers


def test_server_accepts_the_label_config(label_studio):
    client = label_studio.client()
    project = client.projects.create(title="Config check", label_config=label_config())
    stored = client.projects.get(id=project.id)
    # The server parsed our controls: it lists each one with its choices.
    assert set(stored.parsed_label_config) == {"success", "topics"}
    assert stored.parsed_label_config["success"]["labels"] == ["0", "1", "2", "3", "4"]
    assert stored.parsed_label_config["topics"]["type"] == "Taxonomy"


def test_setup_creates_project_reviewers_tasks_and_webhook(label_studio, lead_files, project_title, manifest_attacks):
    manifest, reviewers = lead_files
    env = label_studio.env() | {"WEBHOOK_SECRET": "hook-secret"}
    result = run(
        ["setup", "--manifest", str(manifest), "--reviewers", str(reviewers), "--title", project_title,
         "--webhook-url", "http://127.0.0.1:9/label-studio/webhook", "--silent"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert f"Tasks: {len(manifest_attacks)} imported, 0 already present" in result.output
    assert "Webhook: created" in result.output
    # No account is made: reviewers join through the invite link, and setup says who has not yet.
    assert (
        "4 of 4 reviewers have not joined Label Studio yet: setup1@example.com, setup2@example.com, setup3@example.com, "
        "setup4@example.com; send them the invite (review-project invite) and re-run setup once they have"
    ) in result.stdout.splitlines()
    assert "reset_password" not in result.output

    client = label_studio.client()
    project = ls_api.find_project(client, project_title)
    assert project.maximum_annotations == 4
    assert project.overlap_cohort_percentage == 100
    assert project.show_skip_button and project.show_instruction
    assert "Look after yourself" in project.expert_instruction
    # Read with named fields, the project has only those, and Label Studio counted nothing.
    for named in (ls_api.find_project(client, project.id, fields="id,title"), ls_api.find_project(client, project_title, fields="id")):
        assert (named.id, named.title, named.task_number, named.label_config) == (project.id, project_title, None, None)
    assert ls_api.find_project(client, project.id).task_number == len(manifest_attacks)
    tasks = list(client.tasks.list(project=project.id, page_size=100))
    assert len(tasks) == len(manifest_attacks)
    assert {t.overlap for t in tasks} == {4}
    by_attack = {a["attack_id"]: a for a in manifest_attacks}
    for task in tasks:
        # Only what a reviewer should see: no self-rating, model or harmlessness score.
        assert set(task.data) == {"attack_id", "dialogue", "task_description"}
        attack = by_attack[task.data["attack_id"]]
        assert task.data["task_description"] == attack["task_description"]
        assert "".join(f"\n\n{t['role']}: {t['content']}" for t in task.data["dialogue"]) == attack["transcript"]
    users = ls_api.users_by_email(client)
    assert not {f"setup{i}@example.com" for i in range(1, 5)} & set(users)
    hooks = client.webhooks.list(project=str(project.id))
    assert len(hooks) == 1
    assert hooks[0].headers == {"X-Webhook-Secret": "hook-secret"}
    assert sorted(hooks[0].actions) == ["ANNOTATIONS_DELETED", "ANNOTATION_CREATED", "ANNOTATION_UPDATED"]

    again = run(
        ["setup", "--manifest", str(manifest), "--reviewers", str(reviewers), "--title", project_title,
         "--webhook-url", "http://127.0.0.1:9/label-studio/webhook", "--silent"],
        env=env,
    )
    assert again.exit_code == 0, again.output
    assert "Nothing to change." in again.output
    assert "4 of 4 reviewers have not joined Label Studio yet: setup1@example.com," in again.output

    # Two reviewers sign up through the invite link: the next run finds them, the project as it was.
    for email in ("setup1@example.com", "Setup3@Example.com"):
        label_studio.make_reviewer(email)
    joined = run(["setup", "--manifest", str(manifest), "--reviewers", str(reviewers), "--title", project_title, "--silent"], env=label_studio.env())
    assert joined.exit_code == 0, joined.output
    assert (
        "2 of 4 reviewers have not joined Label Studio yet: setup2@example.com, setup4@example.com; "
        "send them the invite (review-project invite) and re-run setup once they have"
    ) in joined.stdout.splitlines()
    assert "Nothing to change." in joined.output
    for email in ("setup2@example.com", "setup4@example.com"):
        label_studio.make_reviewer(email)
    everyone = run(["setup", "--manifest", str(manifest), "--reviewers", str(reviewers), "--title", project_title, "--silent"], env=label_studio.env())
    assert "Reviewers: all 4 have joined Label Studio" in everyone.stdout.splitlines()
    assert f"Tasks: 0 imported, {len(manifest_attacks)} already present" in again.output
    assert len(list(client.tasks.list(project=project.id, page_size=100))) == len(manifest_attacks)
    assert len(client.webhooks.list(project=str(project.id))) == 1
    assert len([p for p in client.projects.list(page_size=100) if p.title == project_title]) == 1


def test_setup_with_a_larger_manifest_imports_only_new_attacks(label_studio, tmp_path, demo_records, lead_files, project_title):
    from review_project.sampling import sample_attacks

    manifest, reviewers = lead_files
    assert run(["setup", "--manifest", str(manifest), "--reviewers", str(reviewers), "--title", project_title, "--silent"], env=label_studio.env()).exit_code == 0
    first = {json.loads(line)["attack_id"] for line in manifest.read_text().splitlines()}
    extra = sample_attacks(demo_records, per_model=4, seed=99, exclude_ids=first)
    larger = tmp_path / "larger.jsonl"
    write_manifest(larger, [json.loads(line) for line in manifest.read_text().splitlines()] + extra)
    result = run(["setup", "--manifest", str(larger), "--reviewers", str(reviewers), "--title", project_title, "--silent"], env=label_studio.env())
    assert result.exit_code == 0, result.output
    assert f"Tasks: {len(extra)} imported, {len(first)} already present" in result.output
    client = label_studio.client()
    project = ls_api.find_project(client, project_title)
    attack_ids = [t.data["attack_id"] for t in client.tasks.list(project=project.id, page_size=100)]
    assert sorted(attack_ids) == sorted(first | {a["attack_id"] for a in extra})


def test_setup_with_a_wrong_key_or_url_says_so_in_one_line(label_studio, lead_files):
    manifest, reviewers = lead_files
    wrong_key = run(["setup", "--manifest", str(manifest), "--reviewers", str(reviewers), "--url", label_studio.url, "--api-key", "not-a-key"])
    assert wrong_key.exit_code == 1
    assert wrong_key.output == f"Error: Label Studio at {label_studio.url} refused the API key (401) while checking the API key: check --api-key / LABEL_STUDIO_API_KEY\n"
    nowhere = f"http://127.0.0.1:{free_port()}"
    wrong_url = run(["setup", "--manifest", str(manifest), "--reviewers", str(reviewers), "--url", nowhere, "--api-key", label_studio.api_key])
    assert wrong_url.exit_code == 1
    assert wrong_url.output == f"Error: cannot reach Label Studio at {nowhere} while checking the API key (ConnectError): is the server running and the URL right?\n"
    assert label_studio.api_key not in wrong_url.output


@pytest.mark.parametrize("email", ["zoë@example.com", "two words@example.com"])
def test_setup_with_a_reviewer_label_studio_would_refuse_changes_nothing(label_studio, lead_files, project_title, email):
    manifest, reviewers = lead_files
    reviewers.write_text(reviewers.read_text(encoding="utf-8") + f"{email},Bad Address,\n", encoding="utf-8")
    result = run(["setup", "--manifest", str(manifest), "--reviewers", str(reviewers), "--title", project_title], env=label_studio.env())
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: {reviewers}: line 6: {email!r} ") and result.output.count("\n") == 1
    assert ls_api.project_by_title(label_studio.client(), project_title) is None


def test_setup_needs_the_webhook_secret_for_a_webhook(label_studio, lead_files, project_title):
    manifest, reviewers = lead_files
    result = run(
        ["setup", "--manifest", str(manifest), "--reviewers", str(reviewers), "--title", project_title, "--webhook-url", "http://127.0.0.1:9/x"],
        env=label_studio.env() | {"WEBHOOK_SECRET": ""},
    )
    assert result.exit_code == 2
    assert result.output == "Error: --webhook-url needs WEBHOOK_SECRET set: the worker rejects webhooks without it\n"


def test_status_shows_what_four_reviewers_did(label_studio, reviewed_project):
    result = run(["status", "--project", reviewed_project.title, "--json"], env=label_studio.env())
    assert result.exit_code == 0, result.output
    status = json.loads(result.stdout)
    assert result.stderr.startswith(f"Read Label Studio's full export of project {reviewed_project.project_id}: 0.")
    assert status["tasks"] == 12
    # Tasks 0-7 were annotated by all four, but on task 5 one reviewer skipped.
    assert status["fully_reviewed"] == 7
    assert status["in_progress"] == 1
    assert status["untouched"] == 4
    by_email = {r["email"]: r for r in status["reviewers"]}
    # Every member of the organisation but the lead is listed (issue 18); those with no work here with 0.
    assert set(by_email) >= set(reviewed_project.reviewer_emails) and "lead@example.com" not in by_email
    assert by_email["panel4@example.com"]["submitted"] == 7
    assert by_email["panel4@example.com"]["skipped"] == 1
    assert by_email["panel1@example.com"]["submitted"] == 8
    assert all(r["last_activity"] for r in status["reviewers"] if r["email"] in reviewed_project.reviewer_emails)
    assert all(r["submitted"] + r["skipped"] == 0 for r in status["reviewers"] if r["email"] not in reviewed_project.reviewer_emails)

    text = run(["status", "--project", str(reviewed_project.project_id)], env=label_studio.env())
    assert "fully reviewed       7" in text.output
    assert re.search(r"panel4@example\.com +7 +1 ", text.output)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_export_writes_the_table_and_the_audit_copy(label_studio, reviewed_project, tmp_path, suffix):
    out = tmp_path / f"annotations{suffix}"
    result = run(["export", "--project", reviewed_project.title, "-o", str(out), "--manifest", str(reviewed_project.manifest_path), "--audit-copy"], env=label_studio.env())
    assert result.exit_code == 0, result.output
    assert "Wrote 32 annotations (1 skipped, 2 invalid)" in result.output
    audit = json.loads((tmp_path / "annotations.labelstudio.json").read_text())
    assert len(audit) == 12 and sum(len(t["annotations"]) for t in audit) == 32

    table = read_table(out)
    assert len(table) == 32
    planned = {(a["task_id"], a["reviewer_id"]): a for a in reviewed_project.annotations}
    for row in table.itertuples():
        plan = planned[(row.task_id, row.reviewer_id)]
        assert row.skipped == plan["was_cancelled"]
        assert row.reviewer_email == reviewed_project.reviewer_emails[reviewed_project.reviewer_ids.index(row.reviewer_id)]
        if plan["was_cancelled"]:
            assert pd.isna(row.success) and row.valid
            continue
        choice = plan["result"][0]["value"]["choices"][0]
        assert list(row.topics) == [p[0] for p in plan["result"][1]["value"]["taxonomy"]]
        if choice == "9":
            assert not row.valid and row.invalid_reason == "success '9' outside 0-4" and pd.isna(row.success)
        elif len(row.topics) == 3:
            assert not row.valid and row.invalid_reason == "3 topics (at most 2)"
        else:
            assert row.valid and row.success == int(choice) and row.invalid_reason is None
        assert row.lead_time == 12.5 and not row.edited_by_other
        assert row.created_at and row.updated_at
    joined = pd.read_parquet(out) if suffix == ".parquet" else None
    if joined is not None:
        assert {"rating", "model_type", "num_params", "min_harmlessness_score_transcript"} <= set(joined.columns)
        assert "transcript" not in joined.columns


def test_export_marks_an_annotation_edited_by_another_user(label_studio, reviewed_project, tmp_path):
    client = label_studio.client()
    task_id = reviewed_project.task_ids[-1]
    reviewer = label_studio.reviewer_client(reviewed_project.reviewer_emails[0])
    annotation = reviewer.annotations.create(id=task_id, result=[], completed_by=reviewed_project.reviewer_ids[0], lead_time=1.0)
    # The admin (the API key's user) edits a reviewer's annotation: Community allows it.
    client.annotations.update(id=annotation.id, result=[{"from_name": "success", "to_name": "dialogue", "type": "choices", "value": {"choices": ["1"]}}])
    try:
        out = tmp_path / "edited.jsonl"
        assert run(["export", "--project", reviewed_project.title, "-o", str(out)], env=label_studio.env()).exit_code == 0
        table = read_table(out)
        row = table[table["annotation_id"] == annotation.id].iloc[0]
        assert bool(row["edited_by_other"])
    finally:
        # The fixture's project is shared: leave it as the other tests expect it.
        client.annotations.delete(id=annotation.id)


def test_export_refuses_an_unknown_table_format(label_studio, tmp_path):
    result = CliRunner().invoke(cli, ["export", "-o", str(tmp_path / "x.xlsx")], env=label_studio.env())
    assert result.exit_code == 2
    assert "use a .jsonl, .csv or .parquet file name" in result.output


def test_the_topics_in_the_label_config_are_the_twenty_tags(label_studio, reviewed_project):
    client = label_studio.client()
    project = client.projects.get(id=reviewed_project.project_id)
    assert project.parsed_label_config["topics"]["labels"] == list(TOPICS)


def personal_access_token(url: str, email: str, password: str) -> str:
    """Log in as a person would and ask for a personal access token (Label Studio 1.23's default kind)."""
    with logged_in(url, email, password) as browser:
        answer = browser.post("/api/token/", headers={"X-CSRFToken": browser.cookies["csrftoken"], "Referer": url})
        if answer.status_code == 409:  # one token per user: the session's earlier test made it
            pytest.fail("a personal access token exists already for this user")
        answer.raise_for_status()
        return answer.json()["token"]


def test_status_works_with_a_personal_access_token(label_studio, reviewed_project):
    token = personal_access_token(label_studio.url, label_studio.admin_email, label_studio.admin_password)
    assert token != label_studio.api_key and token.count(".") == 2  # a JWT refresh token, not the legacy one
    result = run(["status", "--project", reviewed_project.title, "--json"], env={"LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": token})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["tasks"] == 12


def test_project_status_and_export_project_without_click(label_studio, reviewed_project, tmp_path):
    from review_project.live_project import export_project, project_status

    client = label_studio.client()
    status = project_status(client, reviewed_project.title)
    assert (status.project_id, status.title) == (reviewed_project.project_id, reviewed_project.title)
    progress = status.progress
    assert (progress.tasks, progress.fully_reviewed, progress.in_progress, progress.untouched) == (12, 7, 1, 4)
    assert status.text().splitlines()[0] == f"Project {status.project_id} {status.title!r}: 12 tasks, 4 reviewers per task"

    written = export_project(client, reviewed_project.project_id, tmp_path / "a.jsonl")
    assert (written.annotations, written.skipped, written.invalid) == (32, 1, 2)
    assert written.audit_path is None and not (tmp_path / "a.labelstudio.json").exists()
    audited = export_project(client, reviewed_project.project_id, tmp_path / "b.jsonl", audit_copy=True)
    assert audited.audit_path == tmp_path / "b.labelstudio.json" and len(read_json(audited.audit_path)) == 12
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no download left behind
    table = read_table(written.table_path)
    # Every reviewer annotated each task once, so every row is its reviewer's latest.
    assert "latest" in table.columns and table["latest"].all()
