"""The lead's reads of a live project: how far the review is, and every annotation as a table.

Two paths, one result (export.ProjectTables, the same tables either way):
- the worker's ledger, when the lead has one (DATABASE_URL): no transcript read, and no Label
  Studio call either once the ledger remembers the project's facts (ProjectFacts: its title,
  reviewers per task, the organisation's members); `status` counts in SQL (ledger.review_counts);
- Label Studio's full JSON export, streamed to a file with no fixed timeout and parsed as it is
  read. At the whole dataset's size the export is 214 MB and takes Label Studio 77-106 s on 2 cores (benchmarks/bench_scale.py)
  to build, so this path is for a project without a worker, or to check the ledger.
The pure work on the tables is in progress.py and export.py. pandas, the export's parser and the
Label Studio SDK are imported only by the paths that need them: `status` from the ledger needs none.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from review_project import label_studio
from review_project.progress import Progress, progress_from_counts, progress_text

if TYPE_CHECKING:  # the SDK loads in half a second: only when a command talks to a server
    from label_studio_sdk import LabelStudio

    from review_project.export import ProjectTables

Progressed = Callable[[int], None]
# How long the lead's commands trust the project facts a ledger remembers before asking Label
# Studio again (a renamed project, a changed overlap, a new member show within the hour).
FACTS_MAX_AGE = 3600.0


class LazyClient:
    """A Label Studio client connected on first use: a read the ledger answers needs none (and
    so does not import the SDK)."""

    def __init__(self, url: str | None, api_key: str | None):
        self.url, self.api_key = url, api_key
        self._client = None

    def get(self) -> LabelStudio:
        if self._client is None:
            self._client = label_studio.connect(self.url, self.api_key)
        return self._client


def _client(client) -> LabelStudio:
    return client.get() if isinstance(client, LazyClient) else client


@dataclass(frozen=True)
class ProjectFacts:
    """What the lead's commands need of a project besides its annotations, as Label Studio last said.

    users : every member of the organisation, id -> email; lead : the member whose API key asked
    (not listed as a reviewer); learned_at : when (Unix time).
    """

    id: int
    title: str
    reviewers_per_task: int
    users: dict[int, str] = field(default_factory=dict)
    lead: int | None = None
    learned_at: float = 0.0

    @property
    def maximum_annotations(self) -> int:
        """Label Studio's name for reviewers per task (what the export path's project object has)."""
        return self.reviewers_per_task

    def members(self) -> dict[int, str]:
        """The organisation's members who may review: everyone but the lead who asked."""
        return {user: email for user, email in self.users.items() if user != self.lead}


def learn_facts(client: LabelStudio, project: str | int) -> tuple[object, ProjectFacts]:
    """Ask Label Studio for a project (its id or exact title) and the organisation's members."""
    found = label_studio.find_project(client, project, fields="id,title,maximum_annotations")
    users = label_studio.reviewer_emails(client)
    with label_studio.translated_errors(label_studio.server_url(client), "asking who the API key belongs to"):
        lead = client.users.whoami().id
    return found, ProjectFacts(found.id, found.title, found.maximum_annotations or 1, users, lead, time.time())


def known_facts(client, project: str | int, ledger: Ledger, now: float | None = None) -> ProjectFacts:
    """The project's facts from the ledger when it remembers them from the last hour, else from
    Label Studio (then remembered for the next command)."""
    now = time.time() if now is None else now
    facts = ledger.known_project(project)
    if facts is not None and now - facts.learned_at <= FACTS_MAX_AGE:
        return facts
    facts = learn_facts(_client(client), project)[1]
    ledger.remember(facts)
    return facts


@dataclass(frozen=True, eq=False)  # tables do not compare as one value
class LedgerRead:
    """A project as the worker's ledger holds it (workers/store/ledger.py writes it).

    tables : the same tables as the export path gives (reviewer_email left empty; read_project
    fills it), or None for a read of counts only; counts : what `status` counts, aggregated in
    SQL (ledger.ReviewCounts), for such a read; complete : the ledger's first full sync of the
    project has finished, so it holds every annotation; last_webhook_at, last_catch_up_at : when
    the worker last heard of a change from each (Unix times, None when never); waiting : webhooks
    the worker has answered but not applied to the ledger yet (in any project; normally 0 within a second).
    """

    tables: ProjectTables | None
    complete: bool
    last_webhook_at: float | None
    last_catch_up_at: float | None
    waiting: int = 0
    counts: object | None = None


class Ledger(Protocol):
    """What the lead's commands need of a ledger; `workers.open_ledger` gives one."""

    where: str

    def read(self, project_id: int) -> LedgerRead: ...

    def status(self, project_id: int, reviewers_per_task: int) -> LedgerRead:
        """`status`'s counts of the project, no table."""

    def known_project(self, project: str | int) -> ProjectFacts | None:
        """The facts remembered of a project (its id or remembered title), or None."""

    def remember(self, facts: ProjectFacts) -> None: ...

    def task_attack_ids(self, project_id: int) -> dict[int, int | None] | None:
        """Task id -> attack_id of every task, or None before the first sync finished."""

    def close(self) -> None: ...


@dataclass(frozen=True, eq=False)
class ProjectRead:
    """One read of a live project: the project, its tables and where they came from.

    project : Label Studio's project, or its ProjectFacts from the ledger (both have id, title,
    maximum_annotations); note : one line for the lead, how current the data is (printed on
    stderr); export_file : the downloaded full export, while the read lasts (None from the ledger).
    """

    project: object
    tables: ProjectTables
    note: str
    export_file: Path | None = None


def with_emails(annotations, emails: dict[int, str]):
    """The annotation table with reviewer_email filled from `emails` (None for an unknown reviewer)."""
    import numpy as np
    import pandas as pd

    reviewers = annotations["reviewer_id"]
    found = np.full(len(annotations), None, dtype=object)
    known = reviewers.notna().to_numpy()
    ids = reviewers.to_numpy(dtype="int64", na_value=-1)
    for reviewer in np.unique(ids[known]):
        found[ids == reviewer] = emails.get(int(reviewer))
    return annotations.assign(reviewer_email=pd.Series(found, index=annotations.index, dtype=object))


@contextlib.contextmanager
def read_project(
    client: LabelStudio | LazyClient,
    project: str | int,
    *,
    ledger: Ledger | None = None,
    export_to: str | os.PathLike | None = None,
    on_bytes: Progressed | None = None,
    now: float | None = None,
) -> Iterator[ProjectRead]:
    """Read a live project from the ledger when it is complete, else from the streamed export.

    client : a client, or a LazyClient (connected only if Label Studio must be asked).
    export_to : keep the downloaded export there (the audit copy; written whole or not at all),
    which also forces the export path. The export file lasts as long as the `with` block.
    """
    reason = None
    if ledger is not None and export_to is None:
        facts = known_facts(client, project, ledger)
        read = ledger.read(facts.id)
        if read.complete:
            from review_project.export import ProjectTables

            tables = ProjectTables(read.tables.tasks, with_emails(read.tables.annotations, facts.users))
            yield ProjectRead(facts, tables, currency(read, ledger.where, now))
            return
        reason = f"the ledger at {ledger.where} has not finished its first sync of project {facts.id}"
    from review_project.export import export_tasks, read_export_tasks

    client = _client(client)
    found = label_studio.find_project(client, project)
    emails = label_studio.reviewer_emails(client)
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
    client: LabelStudio | LazyClient, project: str | int, *, ledger: Ledger | None = None, on_bytes: Progressed | None = None,
    now: float | None = None,
) -> ProjectStatus:
    """Tasks fully reviewed, in progress and untouched, and each reviewer's counts (every member
    of the organisation but the lead, 0 for those with no work yet), of a live project.

    From a complete ledger it is counted in SQL and asks Label Studio nothing while the ledger
    remembers the project's facts; otherwise it reads Label Studio's full export.
    """
    reason = None
    if ledger is not None:
        facts = known_facts(client, project, ledger)
        read = ledger.status(facts.id, facts.reviewers_per_task)
        if read.complete:
            progress = progress_from_counts(read.counts, facts.reviewers_per_task, facts.users, facts.members())
            return ProjectStatus(facts.id, facts.title, progress, currency(read, ledger.where, now))
        reason = f"the ledger at {ledger.where} has not finished its first sync of project {facts.id}"
    from review_project.progress import review_progress

    client = _client(client)
    found, facts = learn_facts(client, project)
    with read_project(client, found.id, on_bytes=on_bytes) as read:
        tables = read.tables
        progress = review_progress(len(tables.tasks), tables.annotations, facts.reviewers_per_task, facts.members())
        note = f"{read.note} ({reason})" if reason else read.note
    return ProjectStatus(found.id, found.title, progress, note)


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
    client: LabelStudio | LazyClient,
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
    from review_project.export import audit_copy_path, join_manifest, mark_latest, write_table

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
