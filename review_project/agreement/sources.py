"""Where the agreement report's annotations come from: every read the report makes.

A ReviewSource is the same whatever it was read from, so the summary never knows: a Label
Studio full JSON export, a table written by `export` (with the audit copy `export` keeps beside
it), or a live project. Another kind of source is one more function that returns a
ReviewSource; `open_source` picks one from what the user gave.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from review_project import export, label_studio
from review_project.records import format_transcript
from review_project.shared import ExportError, ReviewError

DEFAULT_REVIEWERS_PER_TASK = 4
MANIFEST_FIELDS = ("rating", "model_type", "num_params", "min_harmlessness_score_transcript")


class SourceError(ReviewError):
    """A source the agreement report cannot measure as asked (names the option to fix)."""

    exit_code = 2


def _no_transcripts() -> dict[int, str]:
    return {}


@dataclass(frozen=True, eq=False)  # tables do not compare as one value
class ReviewSource:
    """The annotations to measure, whatever they were read from.

    label : what reports call the source; table : one row per annotation (export.COLUMNS, and
    the manifest's fields when `export --manifest` joined them); tasks : task_id and attack_id
    of every task in the project, so tasks nobody annotated count, or None when the source does
    not know them; reviewers_per_task : valid ratings a complete task has (the project's
    setting, or what the caller asked for); transcripts : attack_id -> transcript text, called
    only when the lead asks for text (--include-text).
    """

    label: str
    table: pd.DataFrame
    tasks: pd.DataFrame | None = None
    reviewers_per_task: int = DEFAULT_REVIEWERS_PER_TASK
    transcripts: Callable[[], dict[int, str]] = _no_transcripts


def open_source(
    path: str | os.PathLike | None = None,
    project: str | int | None = None,
    url: str | None = None,
    api_key: str | None = None,
    reviewers_per_task: int | None = None,
) -> ReviewSource:
    """Read an export file or table (path) or a live project (project, on url with api_key).

    reviewers_per_task : None for the project's setting with a live project, else 4. Giving
    both a path and a project, or neither, is a ValueError (the CLI says it in its own words).
    """
    if (path is None) == (project is None):
        raise ValueError("open_source needs a path or a project" + (", not both" if path is not None else ""))
    if path is not None:
        return read_source(path, reviewers_per_task)
    return project_source(project, url, api_key, reviewers_per_task)


def read_source(path: str | os.PathLike, reviewers_per_task: int | None = None) -> ReviewSource:
    """Read a Label Studio full JSON export (.json) or a table written by `export`.

    For a table, the full export `export` keeps beside it (NAME.labelstudio.json), when
    present, supplies the tasks nobody annotated yet and the transcripts.
    """
    label = os.fspath(path)  # as the user wrote it
    path = Path(path)
    per_task = reviewers_per_task or DEFAULT_REVIEWERS_PER_TASK
    suffix = path.suffix.lower()
    if suffix == ".json":
        return source_from_export(export.read_export(path), source=str(path), label=label, reviewers_per_task=per_task)
    if suffix in export.TABLE_SUFFIXES:
        table = export.read_table(path)
        audit = export.audit_copy_path(path)
        if audit.is_file():
            full = source_from_export(export.read_export(audit), source=str(audit))
            return ReviewSource(label, table, full.tasks, per_task, full.transcripts)
        return ReviewSource(label, table, None, per_task)
    raise ExportError(
        f"{path}: not an agreement source: give a Label Studio full JSON export (.json) "
        "or a table written by `export` (.jsonl, .csv, .parquet)"
    )


def project_source(
    project: str | int, url: str | None, api_key: str | None, reviewers_per_task: int | None = None
) -> ReviewSource:
    """Read a live project (its id or exact title) through the Label Studio API."""
    client = label_studio.connect(url, api_key)
    found = label_studio.find_project(client, project)
    tasks = label_studio.full_export(client, found.id)
    per_task = reviewers_per_task or found.maximum_annotations or DEFAULT_REVIEWERS_PER_TASK
    if per_task < 2:
        raise SourceError(
            f"project {found.id} asks for {per_task} reviewer per task: agreement needs 2 or more (--reviewers-per-task)"
        )
    label = f"project {found.id} {found.title!r} at {label_studio.server_url(client)}"
    return source_from_export(tasks, label_studio.reviewer_emails(client), label=label, reviewers_per_task=per_task)


def source_from_export(
    tasks: list[dict],
    reviewer_emails: dict[int, str] | None = None,
    source: str = "the export",
    label: str | None = None,
    reviewers_per_task: int = DEFAULT_REVIEWERS_PER_TASK,
) -> ReviewSource:
    """A full JSON export (a list of tasks) as a ReviewSource; unannotated tasks still count.

    source : how error messages name the export; label : how reports name it (default: source).
    """
    tables = export.read_export_tasks(tasks, reviewer_emails, source)
    missing = tables.tasks[tables.tasks["attack_id"].isna()]
    if len(missing):
        raise ExportError(f"{source}: task {missing['task_id'].iloc[0]}: its data has no attack_id (see design.md)")
    return ReviewSource(label or source, tables.annotations, tables.tasks, reviewers_per_task, lambda: export_transcripts(tasks))


def export_transcripts(tasks: list[dict]) -> dict[int, str]:
    """attack_id -> transcript text, from a full export's task data (the dialogue turns)."""
    texts = {}
    for task in tasks:
        data = task.get("data") or {}
        turns = data.get("dialogue")
        if isinstance(turns, list) and data.get("attack_id") is not None:
            turns = [{"role": t.get("role", "?"), "content": t.get("content", "")} for t in turns if isinstance(t, dict)]
            texts[int(data["attack_id"])] = format_transcript(turns).strip()
    return texts


def manifest_in_table(table: pd.DataFrame) -> list[dict] | None:
    """The manifest fields `export --manifest` joined into the table, as manifest records; None if absent."""
    if not all(field in table.columns for field in MANIFEST_FIELDS):
        return None
    fields = table[["attack_id", *MANIFEST_FIELDS]].dropna(subset=["attack_id"]).drop_duplicates("attack_id")
    records = []
    for row in fields.itertuples(index=False):
        record = {"attack_id": int(row.attack_id)}
        for field in MANIFEST_FIELDS:
            value = getattr(row, field)
            record[field] = None if pd.isna(value) else (value.item() if hasattr(value, "item") else value)
        records.append(record)
    return records


def transcript_texts(source: ReviewSource, manifest: list[dict] | None) -> dict[int, str]:
    """attack_id -> transcript text, from the source (the export's task data), else the manifest."""
    texts = {r["attack_id"]: r["transcript"] for r in manifest or [] if isinstance(r.get("transcript"), str)}
    texts.update(source.transcripts())
    return texts
