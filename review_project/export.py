"""The tidy annotation table: one row per annotation, read from Label Studio's full JSON export.

Every row says whether the annotation is valid under the contract of design.md and, if not,
why, so nothing invalid is used silently downstream.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from review_project.manifest import write_atomically
from review_project.schema import read_rating
from review_project.shared import ExportError

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


def annotation_table(tasks: list[dict], reviewer_emails: dict[int, str] | None = None) -> pd.DataFrame:
    """One row per annotation of a full JSON export (a list of tasks), in the columns of COLUMNS."""
    reviewer_emails = reviewer_emails or {}
    rows = []
    for task in tasks:
        attack_id = (task.get("data") or {}).get("attack_id")
        for annotation in task.get("annotations") or []:
            rating = read_rating(annotation)
            reviewer = _user_id(annotation.get("completed_by"))
            updated_by = _user_id(annotation.get("updated_by"))
            rows.append(
                {
                    "attack_id": attack_id,
                    "task_id": task.get("id"),
                    "annotation_id": annotation.get("id"),
                    "reviewer_id": reviewer,
                    "reviewer_email": reviewer_emails.get(reviewer) or _user_email(annotation.get("completed_by")),
                    "success": rating.success,
                    "topics": list(rating.topics),
                    "skipped": rating.skipped,
                    "lead_time": annotation.get("lead_time"),
                    "created_at": annotation.get("created_at"),
                    "updated_at": annotation.get("updated_at"),
                    "updated_by": updated_by,
                    "edited_by_other": updated_by is not None and reviewer is not None and updated_by != reviewer,
                    "valid": rating.valid,
                    "invalid_reason": rating.invalid_reason,
                }
            )
    return _typed(pd.DataFrame(rows, columns=COLUMNS))


def _user_id(value) -> int | None:
    # The export gives a bare id; some server versions nest the user as an object.
    if isinstance(value, dict):
        value = value.get("id")
    return int(value) if value is not None else None


def _user_email(value) -> str | None:
    return value.get("email") if isinstance(value, dict) else None


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    for column in ("attack_id", "task_id", "annotation_id", "reviewer_id", "success", "updated_by"):
        table[column] = pd.array(table[column], dtype="Int64")
    for column in ("skipped", "edited_by_other", "valid"):
        table[column] = table[column].astype(bool)
    table["lead_time"] = pd.to_numeric(table["lead_time"], errors="coerce").astype(float)
    for column in ("reviewer_email", "created_at", "updated_at", "invalid_reason"):
        table[column] = table[column].astype(object).where(table[column].notna(), None)
    return table


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
        write_atomically(path, flat.to_csv(index=False))
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
            table = pd.read_csv(path, dtype={"reviewer_email": object, "invalid_reason": object})
        elif suffix == ".jsonl":
            table = pd.read_json(path, lines=True, dtype=False)
        else:
            raise ExportError(f"{path}: unknown table format {suffix or '(none)'}: use .jsonl, .csv or .parquet")
    except (OSError, ValueError) as error:
        raise ExportError(f"{path}: cannot read the annotation table ({type(error).__name__}: {str(error)[:200]})") from None
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ExportError(f"{path}: not an annotation table written by `export` (missing columns: {', '.join(missing)})")
    table["topics"] = table["topics"].map(_topic_list)
    return _typed(table)


def _topic_list(value) -> list[str]:
    # CSV keeps topics as JSON text; Parquet gives numpy arrays; JSON Lines gives lists.
    if isinstance(value, str):
        return json.loads(value)
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return []
    return [str(topic) for topic in value]


def read_export(path: str | os.PathLike) -> list[dict]:
    """Read a Label Studio full JSON export file: a list of tasks with their annotations."""
    path = Path(path)
    try:
        tasks = json.loads(path.read_bytes())
    except OSError as error:
        raise ExportError(f"{path}: cannot read ({error.strerror})") from None
    except ValueError as error:
        raise ExportError(f"{path}: not JSON ({error})") from None
    if not isinstance(tasks, list) or any(not isinstance(t, dict) or "annotations" not in t for t in tasks):
        raise ExportError(f"{path}: not a Label Studio full JSON export (a list of tasks with annotations)")
    return tasks


def audit_copy_path(table_path: str | os.PathLike) -> Path:
    """Where `export` keeps the server's full JSON export beside the table."""
    path = Path(table_path)
    return path.with_name(path.stem + ".labelstudio.json")
