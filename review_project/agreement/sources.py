"""Where the agreement report's annotations come from: every read the report makes.

A ReviewSource is the same whatever it was read from, so the summary never knows: a Label
Studio full JSON export, a table written by `export` (with the audit copy `export` keeps beside
it), or a live project. Another kind of source is one more function that returns a
ReviewSource; `open_source` picks one from what the user gave.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from review_project import export
from review_project.live_project import LazyClient, Ledger, read_project
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
    only when the lead asks for text (--include-text); lists_every_task : the source is a live
    project, so `tasks` holds every task, annotated or not (an export file may leave out the
    tasks nobody annotated, and a table lists annotated tasks only).
    """

    label: str
    table: pd.DataFrame
    tasks: pd.DataFrame | None = None
    reviewers_per_task: int = DEFAULT_REVIEWERS_PER_TASK
    transcripts: Callable[[], dict[int, str]] = _no_transcripts
    # One line on how current the data is, when it came from a live project (printed on stderr).
    note: str | None = None
    lists_every_task: bool = False


def open_source(
    path: str | os.PathLike | None = None,
    project: str | int | None = None,
    url: str | None = None,
    api_key: str | None = None,
    reviewers_per_task: int | None = None,
    *,
    ledger: Ledger | None = None,
    with_transcripts: bool = False,
    on_bytes: Callable[[int], None] | None = None,
) -> ReviewSource:
    """Read an export file or table (path) or a live project (project, on url with api_key).

    reviewers_per_task : None for the project's setting with a live project, else 4. Giving
    both a path and a project, or neither, is a ValueError (the CLI says it in its own words).
    A live project is read from `ledger` when it has the whole project, else from Label
    Studio's streamed export (live_project.read_project); with_transcripts keeps the export's
    transcripts for --include-text.
    """
    if (path is None) == (project is None):
        raise ValueError("open_source needs a path or a project" + (", not both" if path is not None else ""))
    if path is not None:
        return read_source(path, reviewers_per_task)
    return project_source(
        project, url, api_key, reviewers_per_task, ledger=ledger, with_transcripts=with_transcripts, on_bytes=on_bytes
    )


def read_source(path: str | os.PathLike, reviewers_per_task: int | None = None) -> ReviewSource:
    """Read a Label Studio full JSON export (.json) or a table written by `export`.

    For a table, the full export `export --audit-copy` keeps beside it (NAME.labelstudio.json),
    when present, supplies the tasks nobody annotated yet and the transcripts.
    """
    label = os.fspath(path)  # as the user wrote it
    path = Path(path)
    per_task = reviewers_per_task or DEFAULT_REVIEWERS_PER_TASK
    suffix = path.suffix.lower()
    if suffix == ".json":
        return source_from_export_file(path, label=label, reviewers_per_task=per_task)
    if suffix in export.TABLE_SUFFIXES:
        table = export.read_table(path)
        audit = export.audit_copy_path(path)
        if audit.is_file():
            full = source_from_export_file(audit)
            return ReviewSource(label, table, full.tasks, per_task, full.transcripts)
        return ReviewSource(label, table, None, per_task)
    raise ExportError(
        f"{path}: not an agreement source: give a Label Studio full JSON export (.json) "
        "or a table written by `export` (.jsonl, .csv, .parquet)"
    )


def project_source(
    project: str | int,
    url: str | None,
    api_key: str | None,
    reviewers_per_task: int | None = None,
    *,
    ledger: Ledger | None = None,
    with_transcripts: bool = False,
    on_bytes: Callable[[int], None] | None = None,
) -> ReviewSource:
    """Read a live project (its id or exact title): from the ledger when it is complete, else
    through Label Studio's streamed export."""
    # Connected only if Label Studio must be asked: a complete ledger that knows the project answers alone.
    with read_project(LazyClient(url, api_key), project, ledger=ledger, on_bytes=on_bytes) as read:
        found = read.project
        per_task = reviewers_per_task or found.maximum_annotations or DEFAULT_REVIEWERS_PER_TASK
        if per_task < 2:
            raise SourceError(
                f"project {found.id} asks for {per_task} reviewer per task: agreement needs 2 or more (--reviewers-per-task)"
            )
        _check_attack_ids(read.tables.tasks, f"project {found.id}")
        texts = export_transcripts(export.export_tasks(read.export_file)) if with_transcripts and read.export_file else {}
    label = f"project {found.id} {found.title!r} at {url.rstrip('/') if url else 'Label Studio'}"
    return ReviewSource(
        label, read.tables.annotations, read.tables.tasks, per_task, lambda: texts, note=read.note, lists_every_task=True
    )


def source_from_export(
    tasks: Iterable[dict],
    reviewer_emails: dict[int, str] | None = None,
    source: str = "the export",
    label: str | None = None,
    reviewers_per_task: int = DEFAULT_REVIEWERS_PER_TASK,
) -> ReviewSource:
    """A full JSON export (a list of tasks) as a ReviewSource; unannotated tasks still count.

    source : how error messages name the export; label : how reports name it (default: source).
    """
    tasks = list(tasks)
    tables = export.read_export_tasks(tasks, reviewer_emails, source)
    _check_attack_ids(tables.tasks, source)
    return ReviewSource(label or source, tables.annotations, tables.tasks, reviewers_per_task, lambda: export_transcripts(tasks))


def source_from_export_file(
    path: Path, label: str | None = None, reviewers_per_task: int = DEFAULT_REVIEWERS_PER_TASK
) -> ReviewSource:
    """A full JSON export file, streamed (it may be the whole dataset's 214 MB); its transcripts
    are read again from the file only when asked for."""
    tables = export.read_export_tasks(export.export_tasks(path), source=str(path))
    _check_attack_ids(tables.tasks, str(path))
    return ReviewSource(
        label or str(path), tables.annotations, tables.tasks, reviewers_per_task,
        lambda: export_transcripts(export.export_tasks(path)),
    )


def _check_attack_ids(tasks: pd.DataFrame, source: str) -> None:
    missing = tasks[tasks["attack_id"].isna()]
    if len(missing):
        raise ExportError(f"{source}: task {missing['task_id'].iloc[0]}: its data has no attack_id (see design.md)")


def export_transcripts(tasks: Iterable[dict]) -> dict[int, str]:
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
