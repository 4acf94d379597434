"""The lead's reads of a live project: how far the review is, and every annotation as a table.

Both read Label Studio's full JSON export (every task with its annotations, skips included);
the pure work on it is in progress.py and export.py.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from label_studio_sdk import LabelStudio

from review_project import label_studio
from review_project.export import audit_copy_path, join_manifest, mark_latest, read_export_tasks, write_table
from review_project.manifest import write_atomically
from review_project.progress import Progress, progress_text, review_progress


@dataclass(frozen=True)
class ProjectStatus:
    """A project and how far its review is."""

    project_id: int
    title: str
    progress: Progress

    def text(self) -> str:
        return progress_text(self.progress, self.project_id, self.title)


def project_status(client: LabelStudio, project: str | int) -> ProjectStatus:
    """Tasks fully reviewed, in progress and untouched, and each reviewer's counts, of a live project."""
    found = label_studio.find_project(client, project)
    tables = read_export_tasks(
        label_studio.full_export(client, found.id), label_studio.reviewer_emails(client), f"project {found.id}'s export"
    )
    progress = review_progress(tables.tasks["task_id"].tolist(), tables.annotations, found.maximum_annotations or 1)
    return ProjectStatus(found.id, found.title, progress)


@dataclass(frozen=True)
class ExportWritten:
    """What `export_project` wrote."""

    table_path: Path
    audit_path: Path
    annotations: int
    skipped: int
    invalid: int

    def summary(self) -> str:
        return (
            f"Wrote {self.annotations} annotations ({self.skipped} skipped, {self.invalid} invalid) to {self.table_path};"
            f" full export in {self.audit_path}"
        )


def export_project(
    client: LabelStudio, project: str | int, output: str | os.PathLike, manifest: list[dict] | None = None
) -> ExportWritten:
    """Write every annotation of a live project as a table (export.COLUMNS plus `latest`), and
    the server's full JSON export beside it as an audit copy (export.audit_copy_path).

    With `manifest`, each row carries its attack's manifest fields (the transcript left out).
    """
    found = label_studio.find_project(client, project)
    raw = label_studio.full_export_bytes(client, found.id)
    tables = read_export_tasks(json.loads(raw), label_studio.reviewer_emails(client), f"project {found.id}'s export")
    table = mark_latest(tables.annotations)
    if manifest is not None:
        table = join_manifest(table, manifest)
    audit = audit_copy_path(output)
    write_atomically(audit, raw.decode("utf-8"))
    write_table(table, output)
    return ExportWritten(
        table_path=Path(output),
        audit_path=audit,
        annotations=len(table),
        skipped=int(table["skipped"].sum()),
        invalid=int((~table["valid"]).sum()),
    )
