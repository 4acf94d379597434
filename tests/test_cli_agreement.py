"""`review-project agreement` through click's CliRunner: sources, files, errors, and a real Label Studio export."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

from review_project.cli import cli
from review_project.export import annotation_table, audit_copy_path, join_manifest, write_table
from review_project.manifest import write_manifest
from tests.test_agreement_summary import random_project, reviewer_matrix

SENTINEL = "SENTINEL transcript words"


@pytest.fixture
def files(tmp_path):
    """A full export of 40 reviewed tasks (one unannotated) and its manifest, on disk."""
    tasks, manifest = random_project(40, seed=9)
    for t in tasks:
        t["data"]["dialogue"] = [{"role": "Human", "content": SENTINEL}, {"role": "Assistant", "content": "No."}]
    tasks.append({"id": 999, "data": {"attack_id": 9990, "dialogue": [], "task_description": ""}, "annotations": []})
    export_path = tmp_path / "export.json"
    export_path.write_text(json.dumps(tasks))
    for attack in manifest:
        attack["transcript"] = f"\n\nHuman: {SENTINEL}"
        attack.update(task_description="t", red_team_member_id=1, is_upworker=False, tags=None,
                      task_descripton_harmlessness_score=0.0)
    manifest_path = tmp_path / "manifest.jsonl"
    write_manifest(manifest_path, manifest)
    return tasks, manifest, export_path, manifest_path


def run(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


def expected_kappa(tasks):
    return fleiss_kappa(aggregate_raters(reviewer_matrix([t for t in tasks if t["annotations"]]), n_cat=5)[0])


def test_export_file_prints_the_summary_and_writes_json_html_and_markdown(files, tmp_path):
    tasks, _, export_path, manifest_path = files
    out = {name: tmp_path / f"agreement.{name}" for name in ("json", "html", "md")}
    result = run("agreement", export_path, "--manifest", manifest_path, "--resamples", 200,
                 "--json", out["json"], "--html", out["html"], "--md", out["md"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Can I trust these ratings?\nOrdinal agreement over the ")
    assert result.output.rstrip().endswith(f"Wrote {out['json']}, {out['html']}, {out['md']}")
    summary = json.loads(out["json"].read_text())
    assert summary["success"]["fleiss_kappa"] == pytest.approx(expected_kappa(tasks), abs=1e-12)
    assert summary["items"]["total"] == 41 and summary["items"]["complete"] == 40
    assert summary["items"]["excluded_incomplete"] == 1  # the task nobody annotated
    assert set(summary["per_model"]) == {"context distillation 52B", "rlhf 52B"}
    assert summary["success"]["with_author"]["fleiss_kappa"] is not None
    assert summary["settings"]["source"] == str(export_path)
    assert "NaN" not in out["json"].read_text()
    assert out["html"].read_text().startswith("<!DOCTYPE html>")
    assert out["md"].read_text().startswith("# Can I trust these ratings?")
    for text in [result.output] + [p.read_text() for p in out.values()]:
        assert SENTINEL not in text


def test_include_text_puts_disputed_transcripts_in_the_files_only(files, tmp_path):
    _, _, export_path, _ = files
    report = tmp_path / "report.html"
    result = run("agreement", export_path, "--include-text", "--html", report, "--resamples", 100)
    assert result.exit_code == 0, result.output
    assert SENTINEL in report.read_text()
    assert SENTINEL not in result.output


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_a_table_written_by_export_gives_the_same_numbers(files, tmp_path, suffix):
    tasks, manifest, export_path, manifest_path = files
    table_path = tmp_path / f"annotations{suffix}"
    write_table(join_manifest(annotation_table(tasks), manifest), table_path)
    from_table, from_export = tmp_path / "t.json", tmp_path / "e.json"
    assert run("agreement", table_path, "--json", from_table, "--resamples", 100).exit_code == 0
    assert run("agreement", export_path, "--manifest", manifest_path, "--json", from_export, "--resamples", 100).exit_code == 0
    table_summary, export_summary = json.loads(from_table.read_text()), json.loads(from_export.read_text())
    assert table_summary["success"]["fleiss_kappa"] == pytest.approx(export_summary["success"]["fleiss_kappa"], abs=1e-12)
    assert table_summary["success"]["ci95"] == pytest.approx(export_summary["success"]["ci95"], abs=1e-12)
    assert table_summary["success"]["with_author"] == export_summary["success"]["with_author"]
    # The manifest fields `export --manifest` joined into the table give the paper's view.
    assert set(table_summary["per_model"]) == {"context distillation 52B", "rlhf 52B"}
    # Without the audit copy beside it, the table cannot know the unannotated task...
    assert table_summary["items"]["total"] == 40
    # ...with it (as `export` writes it), it does.
    audit_copy_path(table_path).write_text(export_path.read_text())
    assert run("agreement", table_path, "--json", from_table, "--resamples", 100).exit_code == 0
    assert json.loads(from_table.read_text())["items"]["total"] == 41


def test_threshold_and_reviewers_per_task_reach_the_summary(files, tmp_path):
    _, _, export_path, _ = files
    out = tmp_path / "a.json"
    result = run("agreement", export_path, "--threshold", 2, "--reviewers-per-task", 3, "--json", out, "--resamples", 100)
    assert result.exit_code == 0, result.output
    summary = json.loads(out.read_text())
    assert summary["settings"]["threshold"] == 2 and summary["settings"]["reviewers_per_task"] == 3
    assert summary["items"]["complete"] == 0 and summary["items"]["excluded_extra_ratings"] == 40
    assert summary["success"]["fleiss_kappa"] is None
    assert "Fleiss' kappa is not available: fewer than 2 tasks with complete ratings (0)." in result.output


def test_an_empty_export_is_reported_not_a_crash(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    out = tmp_path / "a.json"
    result = run("agreement", empty, "--json", out, "--html", tmp_path / "a.html")
    assert result.exit_code == 0, result.output
    assert "Fleiss' kappa is not available" in result.output
    assert json.loads(out.read_text())["items"]["total"] == 0


@pytest.mark.parametrize(
    "args, code, message",
    [
        ([], 2, "Error: give SOURCE (an export file or table) or --project for a live project\n"),
        (["{export}", "--project", "3"], 2, "Error: give SOURCE (an export file or table) or --project for a live project, not both\n"),
        (["{export}", "--include-text"], 2, "Error: --include-text puts transcripts in the files: give --json, --html or --md\n"),
        (["{export}", "--json", "{export}"], 2, "Error: --json, --html and --md must name different new files, not SOURCE or --manifest\n"),
        (["{export}", "--html", "{tmp}/r", "--md", "{tmp}/r"], 2, "Error: --json, --html and --md must name different new files, not SOURCE or --manifest\n"),
        (["{tmp}/missing.json"], 2, "Error: {tmp}/missing.json: cannot read (No such file or directory)\n"),
        (["{tmp}/notes.txt"], 2, "Error: {tmp}/notes.txt: not an agreement source: give a Label Studio full JSON export (.json) or a table written by `export` (.jsonl, .csv, .parquet)\n"),
        (["{tmp}/list.json"], 2, "Error: {tmp}/list.json: not a Label Studio full JSON export (a list of tasks with annotations)\n"),
        (["{export}", "--manifest", "{tmp}/list.json"], 2, "Error: {tmp}/list.json: line 1: is not a JSON object\n"),
        (["{export}", "--threshold", "5"], 2, "Error: Invalid value for '--threshold': 5 is not in the range 1<=x<=4.\n"),
    ],
)
def test_usage_and_input_errors_are_one_line(files, tmp_path, args, code, message):
    _, _, export_path, _ = files
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "list.json").write_text('[{"id": 1}]')
    fill = {"export": export_path, "tmp": tmp_path}
    result = run("agreement", *[a.format(**fill) for a in args])
    assert result.exit_code == code
    assert result.stderr.endswith(message.format(**fill))
    assert result.stdout == ""
    assert "Traceback" not in result.output


def test_a_wrong_server_is_one_line(tmp_path):
    result = run("agreement", "--project", "3", "--url", "http://127.0.0.1:9", "--api-key", "k")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: cannot reach Label Studio at http://127.0.0.1:9 while checking the API key")
    assert "Traceback" not in result.output


def plan_ratings(reviewed_project):
    """task id -> {reviewer id: success} of the valid ratings in the fixture's plan."""
    ratings = {}
    for item in reviewed_project.annotations:
        result = {r["from_name"]: r["value"] for r in item["result"]}
        if item["was_cancelled"]:
            continue
        value = int(result["success"]["choices"][0])
        if value <= 4 and len(result["topics"]["taxonomy"]) <= 2:
            ratings.setdefault(item["task_id"], {})[item["reviewer_id"]] = value
    return ratings


@pytest.mark.label_studio
def test_agreement_on_real_label_studio_export(reviewed_project, tmp_path):
    out = tmp_path / "agreement.json"
    report = tmp_path / "report.html"
    result = run(
        "agreement", reviewed_project.export_path, "--manifest", reviewed_project.manifest_path,
        "--json", out, "--html", report, "--resamples", 200,
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(out.read_text())
    # 12 tasks: 5 rated by all 4, one with a skip, two with an invalid annotation, 4 untouched.
    assert summary["items"] == {
        "total": 12, "complete": 5, "excluded_incomplete": 5, "excluded_invalid": 2, "excluded_extra_ratings": 0,
        "with_two_or_more_ratings": 8, "reviewers_per_task": 4, "without_rating": 4, "source_lists_unannotated_tasks": True,
    }
    assert summary["annotations"]["skipped"] == 1 and summary["annotations"]["invalid"] == 2
    first, second = reviewed_project.reviewer_ids[:2]
    listed = [(i["task_id"], i["reviewer"], i["reason"]) for i in summary["invalid_annotations"]]
    assert listed == [
        (reviewed_project.task_ids[6], first, "3 topics (at most 2)"),
        (reviewed_project.task_ids[7], second, "success '9' outside 0-4"),
    ]
    attack_of = {t: a["attack_id"] for t, a in zip(reviewed_project.task_ids, sorted(reviewed_project.attacks, key=lambda a: a["attack_id"]))}
    assert [i["attack_id"] for i in summary["invalid_annotations"]] == [attack_of[t] for t, _, _ in listed]
    ratings = plan_ratings(reviewed_project)
    complete = [task_ratings for task_ratings in ratings.values() if len(task_ratings) == 4]
    matrix = np.array([[r[i] for i in reviewed_project.reviewer_ids] for r in complete])
    assert summary["success"]["fleiss_kappa"] == pytest.approx(fleiss_kappa(aggregate_raters(matrix, n_cat=5)[0]), abs=1e-12)
    assert set(summary["reviewers"]) == {str(i) for i in reviewed_project.reviewer_ids}
    assert summary["reviewers"][str(reviewed_project.reviewer_ids[3])]["skipped"] == 1
    assert set(summary["per_model"]) == {"context distillation 52B", "rlhf 52B"}
    assert report.read_text().startswith("<!DOCTYPE html>")


@pytest.mark.label_studio
def test_agreement_on_a_live_project_matches_its_export(label_studio, reviewed_project, tmp_path):
    live, saved = tmp_path / "live.json", tmp_path / "saved.json"
    result = run("agreement", "--project", reviewed_project.project_id, "--json", live, "--resamples", 100, env=label_studio.env())
    assert result.exit_code == 0, result.output
    assert run("agreement", reviewed_project.export_path, "--json", saved, "--resamples", 100).exit_code == 0
    live_summary, saved_summary = json.loads(live.read_text()), json.loads(saved.read_text())
    assert live_summary["items"] == saved_summary["items"]
    assert live_summary["success"]["fleiss_kappa"] == saved_summary["success"]["fleiss_kappa"]
    assert live_summary["settings"]["source"].startswith(f"project {reviewed_project.project_id} ")
    emails = {entry["email"] for entry in live_summary["reviewers"].values()}
    assert emails == set(reviewed_project.reviewer_emails)
