"""The lead's reads of a live project: how far the review is, and every annotation as a table.

Two paths, one result (export.ProjectTables, the same tables either way):
- the worker's ledger, when the lead has one (DATABASE_URL): seconds at the whole dataset's size
  (`status` 4.2 s), no transcript read;
- Label Studio's full JSON export, streamed to a file with no fixed timeout and parsed as it is
  read. At the whole dataset's size the export is 214 MB and takes Label Studio 77-106 s on 2 cores (benchmarks/bench_scale.py)
  to build, so this path is for a project without a worker, or to check the ledger.
The pure work on the tables is in progress.py and export.py.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pandas as pd

from review_project import label_studio
from review_project.export import (
    ProjectTables,
    audit_copy_path,
    export_tasks,
    join_manifest,
    mark_latest,
    read_export_tasks,
    write_table,
)
from review_project.progress import Progress, progress_text, review_progress

if TYPE_CHECKING:  # the SDK loads in half a second: only when a command talks to a server
    from label_studio_sdk import LabelStudio

Progressed = Callable[[int], None]


@dataclass(frozen=True, eq=False)  # tables do not compare as one value
class LedgerRead:
    """A project as the worker's ledger holds it (workers/ledger.py writes it).

    tables : the same tables as the export path gives (reviewer_email left empty; read_project
    fills it); complete : the ledger's first full sync of the project has finished, so it holds
    every annotation; last_webhook_at, last_catch_up_at : when the worker last heard of a change
    from each (Unix times, None when never); waiting : webhooks the worker has answered but not
    applied to the ledger yet (in any project; normally 0 within a second).
    """

    tables: ProjectTables
    complete: bool
    last_webhook_at: float | None
    last_catch_up_at: float | None
    waiting: int = 0


class Ledger(Protocol):
    """What the lead's commands need of a ledger; `workers.open_ledger` gives one."""

    where: str

    def read(self, project_id: int) -> LedgerRead: ...

    def task_attack_ids(self, project_id: int) -> dict[int, int | None] | None:
        """Task id -> attack_id of every task, or None before the first sync finished."""

    def close(self) -> None: ...


@dataclass(frozen=True, eq=False)
class ProjectRead:
    """One read of a live project: the project, its tables and where they came from.

    note : one line for the lead, how current the data is (printed on stderr);
    export_file : the downloaded full export, while the read lasts (None from the ledger).
    """

    project: object
    tables: ProjectTables
    note: str
    export_file: Path | None = None


@contextlib.contextmanager
def read_project(
    client: LabelStudio,
    project: str | int,
    *,
    ledger: Ledger | None = None,
    export_to: str | os.PathLike | None = None,
    on_bytes: Progressed | None = None,
    now: float | None = None,
) -> Iterator[ProjectRead]:
    """Read a live project from the ledger when it is complete, else from the streamed export.

    export_to : keep the downloaded export there (the audit copy; written whole or not at all),
    which also forces the export path. The export file lasts as long as the `with` block.
    """
    found = label_studio.find_project(client, project)
    emails = label_studio.reviewer_emails(client)
    reason = None
    if ledger is not None and export_to is None:
        read = ledger.read(found.id)
        if read.complete:
            annotations = read.tables.annotations.copy()
            annotations["reviewer_email"] = annotations["reviewer_id"].map(
                lambda reviewer: None if pd.isna(reviewer) else emails.get(int(reviewer))
            ).astype(object)
            yield ProjectRead(found, ProjectTables(read.tables.tasks, annotations), currency(read, ledger.where, now))
            return
        reason = f"the ledger at {ledger.where} has not finished its first sync of project {found.id}"
    with _export_file(export_to) as path:
        started = time.monotonic()
        size = label_studio.download_export(client, found.id, path, on_bytes)
        tables = read_export_tasks(export_tasks(path), emails, f"project {found.id}'s export")
        note = f"Read Label Studio's full export of project {found.id}: {size / 1e6:.1f} MB in {time.monotonic() - started:.0f} s"
        yield ProjectRead(found, tables, f"{note} ({reason})" if reason else note, path)


def currency(read: LedgerRead, where: str, now: float | None = None) -> str:
    """How current a ledger read is, in one line: its last webhook and its last catch-up."""
    now = time.time() if now is None else now

    def ago(moment: float | None) -> str:
        if moment is None:
            return "never"
        seconds = max(0.0, now - moment)
        if seconds < 120:
            return f"{seconds:.0f} s ago"
        if seconds < 7200:
            return f"{seconds / 60:.0f} min ago"
        return f"{seconds / 3600:.1f} h ago"

    line = f"Read the ledger at {where}: last webhook {ago(read.last_webhook_at)}, last catch-up {ago(read.last_catch_up_at)}"
    if read.waiting:
        line += f"; {read.waiting} webhook event(s) received and not applied yet (is the worker's background running?)"
    return line


@contextlib.contextmanager
def _export_file(keep: str | os.PathLike | None) -> Iterator[Path]:
    """A file to download the export into: a temporary one, or `keep` (renamed into place only
    when the read succeeds, so a failed download never leaves half an audit copy)."""
    folder = Path(keep).resolve().parent if keep is not None else None
    descriptor, name = tempfile.mkstemp(prefix=".labelstudio-export-", suffix=".json", dir=folder)
    os.close(descriptor)
    try:
        yield Path(name)
        if keep is not None:
            os.replace(name, keep)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)


@dataclass(frozen=True)
class ProjectStatus:
    """A project, how far its review is, and where the numbers came from."""

    project_id: int
    title: str
    progress: Progress
    note: str

    def text(self) -> str:
        return progress_text(self.progress, self.project_id, self.title)


def project_status(
    client: LabelStudio, project: str | int, *, ledger: Ledger | None = None, on_bytes: Progressed | None = None
) -> ProjectStatus:
    """Tasks fully reviewed, in progress and untouched, and each reviewer's counts, of a live project.

    From the ledger the task count is the project's own (Label Studio counts its tasks for
    free), so no task list is read.
    """
    with read_project(client, project, ledger=ledger, on_bytes=on_bytes) as read:
        found, tables = read.project, read.tables
        # The export lists every task; for the ledger, Label Studio's own count is the one to trust.
        tasks = len(tables.tasks) if read.export_file is not None else found.task_number or 0
        progress = review_progress(tasks, tables.annotations, found.maximum_annotations or 1)
        return ProjectStatus(found.id, found.title, progress, read.note)


@dataclass(frozen=True)
class ExportWritten:
    """What `export_project` wrote."""

    table_path: Path
    audit_path: Path | None
    annotations: int
    skipped: int
    invalid: int
    note: str

    def summary(self) -> str:
        audit = f"; full export in {self.audit_path}" if self.audit_path else ""
        return (
            f"Wrote {self.annotations} annotations ({self.skipped} skipped, {self.invalid} invalid) to"
            f" {self.table_path}{audit}"
        )


def export_project(
    client: LabelStudio,
    project: str | int,
    output: str | os.PathLike,
    manifest: list[dict] | None = None,
    *,
    ledger: Ledger | None = None,
    audit_copy: bool = False,
    on_bytes: Progressed | None = None,
) -> ExportWritten:
    """Write every annotation of a live project as a table (export.COLUMNS plus `latest`).

    With `manifest`, each row carries its attack's manifest fields (the transcript left out).
    audit_copy : also keep Label Studio's full JSON export beside the table
    (export.audit_copy_path); it reads the export even when there is a ledger.
    """
    audit = audit_copy_path(output) if audit_copy else None
    with read_project(client, project, ledger=ledger, export_to=audit, on_bytes=on_bytes) as read:
        table = mark_latest(read.tables.annotations)
        note = read.note
    if manifest is not None:
        table = join_manifest(table, manifest)
    write_table(table, output)
    return ExportWritten(
        table_path=Path(output),
        audit_path=audit,
        annotations=len(table),
        skipped=int(table["skipped"].sum()),
        invalid=int((~table["valid"]).sum()),
        note=note,
    )
