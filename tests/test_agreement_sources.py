"""Where the agreement report reads from (open_source), and agreement_report without click."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from review_project.agreement import ReviewSource, SourceError, agreement_report, open_source, write_reports
from review_project.agreement.sources import transcript_texts
from review_project.cli import cli
from review_project.export import annotation_table, audit_copy_path, join_manifest, write_table
from review_project.shared import ExportError
from tests.test_agreement_summary import random_project


@pytest.fixture
def export_file(tmp_path):
    tasks, manifest = random_project(12, seed=4)
    for t in tasks:
        t["data"]["dialogue"] = [{"role": "Human", "content": f"placeholder {t['id']}"}]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks))
    return path, tasks, manifest


def test_open_source_wants_a_path_or_a_project_not_both(export_file):
    path, _, _ = export_file
    with pytest.raises(ValueError, match="a path or a project$"):
        open_source()
    with pytest.raises(ValueError, match="a path or a project, not both"):
        open_source(path, project="3")


def test_a_file_source_keeps_its_name_as_given_and_4_reviewers_per_task_unless_told(export_file, tmp_path, monkeypatch):
    path, tasks, _ = export_file
    monkeypatch.chdir(tmp_path)
    source = open_source("./export.json")
    assert source.label == "./export.json"
    assert source.reviewers_per_task == 4
    assert len(source.table) == 48 and len(source.tasks) == 12
    assert open_source(path, reviewers_per_task=3).reviewers_per_task == 3
    assert source.transcripts()[tasks[0]["data"]["attack_id"]] == f"Human: placeholder {tasks[0]['id']}"


def test_a_table_reads_tasks_and_transcripts_from_its_audit_copy_only_when_there(export_file, tmp_path):
    path, tasks, manifest = export_file
    table_path = tmp_path / "annotations.csv"
    write_table(join_manifest(annotation_table(tasks), manifest), table_path)
    alone = open_source(table_path)
    assert alone.tasks is None and alone.transcripts() == {}
    audit_copy_path(table_path).write_text(path.read_text())
    beside = open_source(table_path)
    assert len(beside.tasks) == 12 and len(beside.transcripts()) == 12


def test_unknown_files_are_one_error_line(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ExportError, match="notes.txt: not an agreement source"):
        open_source(tmp_path / "notes.txt")


def test_transcripts_come_from_the_source_before_the_manifest():
    source = ReviewSource("s", annotation_table([]), transcripts=lambda: {1: "from the export"})
    manifest = [{"attack_id": 1, "transcript": "from the manifest"}, {"attack_id": 2, "transcript": "only here"}]
    assert transcript_texts(source, manifest) == {1: "from the export", 2: "only here"}


def test_any_source_with_a_table_serves_without_touching_the_summary(export_file):
    # A source is data, not a file: the next kinds (a ledger, a database, a stream) need only build one.
    _, tasks, manifest = export_file
    built = ReviewSource("a ledger", annotation_table(tasks), pd.DataFrame({"task_id": [999], "attack_id": [9990]}), 4)
    summary = agreement_report(built, manifest, n_resamples=100)
    assert summary.settings.source == "a ledger"
    assert summary.items.total == 13 and summary.items.complete == 12
    assert summary.manifest.tasks_not_in_manifest == 1


def test_agreement_report_and_write_reports_without_click(export_file, tmp_path):
    path, tasks, manifest = export_file
    summary = agreement_report(open_source(path), manifest, n_resamples=100, seed=2, include_text=True)
    assert summary.settings.seed == 2 and summary.settings.include_text
    assert all(d.text and d.text.startswith("Human: placeholder") for d in summary.disagreement)
    # Without a manifest, the fields `export --manifest` joined into a table serve.
    table_path = tmp_path / "annotations.parquet"
    write_table(join_manifest(annotation_table(tasks), manifest), table_path)
    from_table = agreement_report(open_source(table_path), n_resamples=100, seed=2)
    assert from_table.settings.manifest and from_table.success.with_author == summary.success.with_author
    out = {name: tmp_path / f"report.{name}" for name in ("json", "html", "md")}
    write_reports(summary, json_path=out["json"], html_path=out["html"], md_path=out["md"])
    assert json.loads(out["json"].read_text()) == json.loads(json.dumps(summary.as_json()))
    assert f"{path} - percentile bootstrap" in out["html"].read_text()
    assert out["md"].read_text().startswith("# Can I trust these ratings?")
    write_reports(from_table, md_path=tmp_path / "only.md")
    assert (tmp_path / "only.md").is_file() and not (tmp_path / "only.json").exists()


@pytest.mark.label_studio
def test_a_live_project_is_read_with_its_own_reviewers_per_task(label_studio, reviewed_project):
    live = open_source(project=reviewed_project.project_id, url=label_studio.url, api_key=label_studio.api_key)
    assert live.label.startswith(f"project {reviewed_project.project_id} 'Red-team review (reviewed fixture)' at http://")
    assert live.reviewers_per_task == 4  # the project's maximum_annotations, as setup made it
    saved = agreement_report(open_source(reviewed_project.export_path), n_resamples=100)
    assert agreement_report(live, n_resamples=100).items == saved.items


@pytest.mark.label_studio
def test_a_project_asking_for_one_reviewer_per_task_is_refused(label_studio, project_title):
    project = label_studio.client().projects.create(title=project_title, maximum_annotations=1)
    with pytest.raises(SourceError, match=f"^project {project.id} asks for 1 reviewer per task: agreement needs 2 or more"):
        open_source(project=project.id, url=label_studio.url, api_key=label_studio.api_key)
    assert open_source(project=project.id, url=label_studio.url, api_key=label_studio.api_key, reviewers_per_task=2).reviewers_per_task == 2
    result = CliRunner().invoke(cli, ["agreement", "--project", str(project.id)], env=label_studio.env())
    assert result.exit_code == 2
    assert result.stderr.startswith("Usage: ")  # an option to fix, as before
    assert result.stderr.endswith(
        f"Error: project {project.id} asks for 1 reviewer per task: agreement needs 2 or more (--reviewers-per-task)\n"
    )


def test_every_source_says_whether_tasks_nobody_annotated_are_counted(export_file, tmp_path):
    """A table lists only annotated tasks, so it once reported "0 tasks with fewer than 4 ratings"
    where --project counted the untouched ones: each source now says what it read."""
    from review_project.lead_report import summary_text

    path, tasks, _ = export_file
    untouched = {"id": 999, "data": {"attack_id": 9990, "dialogue": []}, "annotations": []}
    with_untouched = tmp_path / "all_tasks.json"
    with_untouched.write_text(json.dumps([*tasks, untouched]))
    table_path = tmp_path / "annotations.jsonl"
    write_table(annotation_table(tasks), table_path)

    from_table = agreement_report(open_source(table_path), n_resamples=100)
    assert from_table.items.source_lists_unannotated_tasks is False
    assert "a table lists only tasks with an annotation, so tasks nobody has annotated yet are not counted here" in summary_text(from_table)
    assert from_table.as_json()["items"]["source_lists_unannotated_tasks"] is False

    only_annotated = agreement_report(open_source(path), n_resamples=100)
    assert only_annotated.items.source_lists_unannotated_tasks is None
    assert "an export of annotated tasks only leaves out the tasks nobody has annotated yet" in summary_text(only_annotated)

    everything = agreement_report(open_source(with_untouched), n_resamples=100)
    assert everything.items.source_lists_unannotated_tasks is True
    assert (everything.items.total, everything.items.without_rating) == (13, 1)
    assert everything.items.excluded_incomplete == only_annotated.items.excluded_incomplete + 1
    assert "13 tasks read, tasks nobody has annotated included (1 without a valid rating yet)" in summary_text(everything)

    live = ReviewSource("project 1", annotation_table(tasks), pd.DataFrame({"task_id": [t["id"] for t in tasks], "attack_id": [t["data"]["attack_id"] for t in tasks]}), lists_every_task=True)
    assert agreement_report(live, n_resamples=100).items.source_lists_unannotated_tasks is True
