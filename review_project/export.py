"""The tidy annotation table: one row per annotation, read from Label Studio's full JSON export.

Every row says whether the annotation is valid under the contract of design.md and, if not,
why, so nothing invalid is used silently downstream.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import ijson
import numpy as np
import pandas as pd

from review_project.manifest import write_atomically
from review_project.schema import read_annotation, whole_number
from review_project.shared import ExportError
from review_project.spreadsheet import neutralised, restored

COLUMNS = [
    "attack_id",
    "task_id",
    "annotation_id",
    "reviewer_id",
    "reviewer_email",
    "success",
    "topics",
    "skipped",
    "lead_time",
    "created_at",
    "updated_at",
    "updated_by",
    "edited_by_other",
    "valid",
    "invalid_reason",
]
TABLE_SUFFIXES = (".jsonl", ".csv", ".parquet")


def latest_annotations(table: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Each reviewer's latest annotation of each task, and how many earlier ones it replaced.

    The one rule that status, export and agreement share: of a reviewer's annotations of a task,
    the latest is the one changed last (greatest updated_at, or created_at where updated_at is
    missing), then the one with the greatest annotation id. Rows need a reviewer_id.
    """
    changed = table["updated_at"].where(table["updated_at"].notna(), table["created_at"])
    when = pd.to_datetime(changed, utc=True, errors="coerce", format="ISO8601")
    ordered = table.assign(_changed=when).sort_values(
        ["task_id", "reviewer_id", "_changed", "annotation_id"], na_position="first", kind="stable"
    )
    latest = ordered.drop_duplicates(["task_id", "reviewer_id"], keep="last").drop(columns="_changed")
    return latest.reset_index(drop=True), len(table) - len(latest)


def mark_latest(table: pd.DataFrame) -> pd.DataFrame:
    """The table with a `latest` column: True on each reviewer's latest annotation of a task."""
    marked = table.assign(latest=False)
    with_reviewer = table[table["reviewer_id"].notna()]
    chosen = latest_annotations(with_reviewer.assign(_row=with_reviewer.index))[0]["_row"]
    marked.loc[chosen.to_numpy(), "latest"] = True
    return marked


@dataclass(frozen=True)
class ProjectTables:
    """A full JSON export as two tables: every task (task_id, attack_id) and every annotation (COLUMNS)."""

    tasks: pd.DataFrame
    annotations: pd.DataFrame


def read_export_tasks(
    tasks: Iterable[dict], reviewer_emails: dict[int, str] | None = None, source: str = "the export"
) -> ProjectTables:
    """Read a full JSON export's tasks, one at a time, into a ProjectTables.

    `tasks` may be a list or a stream (one pass). An id that is not a whole number, or a
    reviewer that is not a user id, stops with one ExportError line naming `source`, the task
    and the annotation; a result of the wrong shape only makes its annotation invalid.
    """
    reviewer_emails = reviewer_emails or {}
    task_rows, rows = [], []
    for position, task in enumerate(tasks, start=1):
        if not isinstance(task, dict):
            raise ExportError(f"{source}: task number {position} is not an object")
        task_id = whole_number(task.get("id"), f"{source}: task number {position}: id")
        where = f"{source}: task {task_id}"
        data = task.get("data")
        attack_id = data.get("attack_id") if isinstance(data, dict) else None
        if attack_id is not None:
            attack_id = whole_number(attack_id, f"{where}: data.attack_id")
        task_rows.append((task_id, attack_id))
        annotations = task.get("annotations")
        if annotations is None:
            continue
        if not isinstance(annotations, list):
            raise ExportError(f"{where}: annotations is not a list")
        for number, annotation in enumerate(annotations, start=1):
            rows.append(_annotation_row(annotation, number, task_id, attack_id, where, reviewer_emails))
    return tables_from_rows(rows, task_rows)


_WHOLE_NUMBERS = ("attack_id", "task_id", "annotation_id", "reviewer_id", "success", "updated_by")
_FLAGS = ("skipped", "edited_by_other", "valid")
_TEXTS = ("reviewer_email", "created_at", "updated_at", "invalid_reason")


def tables_from_rows(annotations: list, tasks: list[tuple[int, int | None]]) -> ProjectTables:
    """ProjectTables from rows a reader already checked: annotations as dicts or tuples in COLUMNS
    order (ints, bools, str or None, topics as lists), tasks as (task_id, attack_id).

    Each column is built with its type at once, so 155,844 rows take a fraction of a second;
    files from elsewhere go through read_table's checks instead.
    """
    if annotations and isinstance(annotations[0], dict):
        values = {column: [row[column] for row in annotations] for column in COLUMNS}
    else:
        values = dict(zip(COLUMNS, map(list, zip(*annotations)))) if annotations else {c: [] for c in COLUMNS}
    columns = {}
    for column in COLUMNS:
        if column in _WHOLE_NUMBERS:
            columns[column] = pd.array(values[column], dtype="Int64")
        elif column in _FLAGS:
            columns[column] = np.array(values[column], dtype=bool)
        elif column == "lead_time":
            columns[column] = np.array([np.nan if v is None else v for v in values[column]], dtype=float)
        else:  # texts and topics stay Python objects (None, not NaN, where missing)
            columns[column] = pd.Series(values[column], dtype=object)
    return ProjectTables(
        tasks=pd.DataFrame(
            {
                "task_id": pd.array([t for t, _ in tasks], dtype="Int64"),
                "attack_id": pd.array([a for _, a in tasks], dtype="Int64"),
            }
        ),
        annotations=pd.DataFrame(columns),
    )


def tables_from_column_parts(parts: Iterable[dict[str, Sequence]], tasks: tuple[Sequence, Sequence]) -> ProjectTables:
    """ProjectTables from columns a reader already checked (a database's, read column-wise), a part
    of the rows at a time: each part maps each of COLUMNS to a sequence (ints or None, 0/1 or bools,
    floats or None, str or None, topics as lists); `tasks` is (task ids, attack_ids).

    Each part's columns are typed by numpy as it comes, not value by value, and only one part's
    Python objects (a row's ids, flags and numbers) are alive at once: at 155,844 annotations,
    holding them all set the lead's peak memory."""
    typed: dict[str, list] = {column: [] for column in COLUMNS}
    for part in parts:
        for column in COLUMNS:
            typed[column].append(_typed_part(column, part[column]))
    columns = {column: _joined(column, pieces or [_typed_part(column, ())]) for column, pieces in typed.items()}
    task_ids, attack_ids = tasks
    return ProjectTables(
        tasks=pd.DataFrame({"task_id": _whole_numbers(task_ids), "attack_id": _whole_numbers(attack_ids)}),
        annotations=pd.DataFrame(columns),
    )


def _typed_part(column: str, values: Sequence):
    if column in _WHOLE_NUMBERS:
        return _ints_and_missing(values)
    if column in _FLAGS:
        return np.fromiter(values, dtype=bool, count=len(values))
    if column == "lead_time":
        found = np.array(values, dtype=object)
        return np.where(np.equal(found, None), np.nan, found).astype(float)
    return list(values)  # texts and topics stay Python objects (None, not NaN, where missing)


def _joined(column: str, pieces: list):
    if column in _WHOLE_NUMBERS:
        return pd.arrays.IntegerArray(np.concatenate([data for data, _ in pieces]), np.concatenate([mask for _, mask in pieces]))
    if column in _FLAGS or column == "lead_time":
        return np.concatenate(pieces)
    return pd.Series([value for piece in pieces for value in piece], dtype=object)


def _ints_and_missing(values: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """Ints and Nones as (int64 values, 0 where missing; the missing mask), without pandas inspecting each value."""
    found = np.array(values, dtype=object)
    missing = np.equal(found, None).astype(bool)
    return np.where(missing, 0, found).astype(np.int64), missing


def _whole_numbers(values: Sequence) -> pd.arrays.IntegerArray:
    """An Int64 array of ints and Nones."""
    return pd.arrays.IntegerArray(*_ints_and_missing(values))


def annotation_table(tasks: Iterable[dict], reviewer_emails: dict[int, str] | None = None, source: str = "the export") -> pd.DataFrame:
    """One row per annotation of a full JSON export (a list of tasks), in the columns of COLUMNS."""
    return read_export_tasks(tasks, reviewer_emails, source).annotations


def _annotation_row(annotation, number: int, task_id: int, attack_id: int | None, task_where: str, reviewer_emails: dict[int, str]) -> dict:
    record = read_annotation(annotation, task_id=task_id, attack_id=attack_id, where=task_where, number=number)
    row = record.as_row()
    row["reviewer_email"] = reviewer_emails.get(record.reviewer_id) or record.reviewer_email
    return row


def _typed(table: pd.DataFrame, source: str | None = None) -> pd.DataFrame:
    """Give each column its type; for a table read from a file, one ExportError line names a column that cannot hold it."""
    def converted(column: str, convert, kind: str):
        try:
            return convert(table[column])
        except (TypeError, ValueError, OverflowError):
            raise ExportError(f"{source}: column {column} holds a value that is not {kind}") from None

    for column in _WHOLE_NUMBERS:
        table[column] = converted(column, lambda values: pd.array(values, dtype="Int64"), "a whole number")
    for column in _FLAGS:
        table[column] = converted(column, _booleans, "true or false")
    table["lead_time"] = pd.to_numeric(table["lead_time"], errors="coerce").astype(float)
    for column in _TEXTS:
        # Built as a list: Series.map would infer pandas' string dtype and turn None into NaN.
        table[column] = pd.Series([_text_or_none(v) for v in table[column]], index=table.index, dtype=object)
    return table


def _text_or_none(value) -> str | None:
    if isinstance(value, str):
        return value
    missing = value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and np.isnan(value))
    return None if missing else str(value)


def _booleans(values: pd.Series) -> pd.Series:
    # astype(bool) would read the text "False" as True.
    if values.dtype != bool and not values.map(lambda value: isinstance(value, (bool, np.bool_))).all():
        raise ValueError("not booleans")
    return values.astype(bool)


def join_manifest(table: pd.DataFrame, manifest: list[dict]) -> pd.DataFrame:
    """The table with each attack's manifest fields added (transcript left out: it is not needed here)."""
    fields = pd.DataFrame([{k: v for k, v in record.items() if k != "transcript"} for record in manifest])
    if fields.empty:
        return table
    fields["attack_id"] = pd.array(fields["attack_id"], dtype="Int64")
    clashing = [c for c in fields.columns if c in table.columns and c != "attack_id"]
    fields = fields.rename(columns={c: f"manifest_{c}" for c in clashing})
    return table.merge(fields, on="attack_id", how="left")


def write_table(table: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write the table as .jsonl, .csv or .parquet (by suffix); topics stay lists (JSON text in CSV)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ExportError(f"{path}: unknown table format {suffix or '(none)'}: use .jsonl, .csv or .parquet")
    if suffix == ".parquet":
        tmp = path.with_name(path.name + ".tmp")
        table.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    elif suffix == ".csv":
        flat = table.copy()
        flat["topics"] = flat["topics"].map(lambda topics: json.dumps(list(topics), ensure_ascii=False))
        write_atomically(path, neutralised(flat).to_csv(index=False))
    else:
        records = json.loads(table.to_json(orient="records", force_ascii=False))
        write_atomically(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a table written by write_table (or `review-project export`), topics as lists."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            table = pd.read_parquet(path)
        elif suffix == ".csv":
            table = restored(pd.read_csv(path, dtype={"reviewer_email": object, "invalid_reason": object}))
        elif suffix == ".jsonl":
            table = pd.read_json(path, lines=True, dtype=False)
        else:
            raise ExportError(f"{path}: unknown table format {suffix or '(none)'}: use .jsonl, .csv or .parquet")
    except (OSError, ValueError) as error:
        raise ExportError(f"{path}: cannot read the annotation table ({type(error).__name__}: {str(error)[:200]})") from None
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ExportError(f"{path}: not an annotation table written by `export` (missing columns: {', '.join(missing)})")
    try:
        table["topics"] = table["topics"].map(_topic_list)
    except ValueError:
        raise ExportError(f"{path}: column topics holds a value that is not a list of topics") from None
    return _typed(table, str(path))


def _topic_list(value) -> list[str]:
    # CSV keeps topics as JSON text; Parquet gives numpy arrays; JSON Lines gives lists.
    if isinstance(value, str):
        value = json.loads(value)
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return []
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__iter__"):
        raise ValueError("not a list of topics")
    return [str(topic) for topic in value]


def export_tasks(path: str | os.PathLike) -> Iterator[dict]:
    """The tasks of a Label Studio full JSON export file, one at a time, parsed as they are read.

    A file of the whole dataset is 214 MB: parsed whole it would take gigabytes of memory, so it
    is streamed (ijson). Anything that is not a JSON list of tasks with annotations is one
    ExportError line naming the file.
    """
    path = Path(path)
    yielded = 0
    try:
        for task in _parsed_tasks(path, ijson):
            yielded += 1
            yield task
    except ijson.JSONError:
        # The fast C parser also refuses integers beyond 64 bits, which Python's parser reads, so
        # the validation can then name the task and the field. Go on from where it stopped.
        slow = ijson.get_backend("python")
        try:
            for number, task in enumerate(_parsed_tasks(path, slow)):
                if number >= yielded:
                    yield task
        except ijson.JSONError:
            # ijson's message quotes the text around the fault, which may be a transcript.
            raise ExportError(f"{path}: not JSON (a syntax error after task number {yielded})") from None


def _parsed_tasks(path: Path, parser) -> Iterator[dict]:
    foreign = ExportError(f"{path}: not a Label Studio full JSON export (a list of tasks with annotations)")
    try:
        with open(path, "rb") as file:
            start = file.read(64).lstrip()
            if not start:
                raise ExportError(f"{path}: not JSON (the file is empty)")
            if not start.startswith(b"["):
                raise foreign
            file.seek(0)
            for task in parser.items(file, "item", use_float=True):
                if not isinstance(task, dict) or "annotations" not in task:
                    raise foreign
                yield task
    except OSError as error:
        raise ExportError(f"{path}: cannot read ({error.strerror})") from None


def read_export(path: str | os.PathLike) -> list[dict]:
    """Read a Label Studio full JSON export file whole: a list of tasks with their annotations."""
    return list(export_tasks(path))


def audit_copy_path(table_path: str | os.PathLike) -> Path:
    """Where `export` keeps the server's full JSON export beside the table."""
    path = Path(table_path)
    return path.with_name(path.stem + ".labelstudio.json")
