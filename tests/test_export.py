"""annotation_table, write_table and read_table on export-shaped data (no server)."""

import json

import pandas as pd
import pytest

from review_project.shared import ExportError
from review_project.export import COLUMNS, annotation_table, join_manifest, read_export, read_table, write_table


def ann(id, reviewer, success="2", topics=("Theft",), cancelled=False, updated_by=None, updated_at="2026-01-01T10:00:00Z"):
    result = [] if cancelled else [
        {"from_name": "success", "type": "choices", "value": {"choices": [success]}},
        {"from_name": "topics", "type": "taxonomy", "value": {"taxonomy": [[t] for t in topics]}},
    ]
    return {
        "id": id, "completed_by": reviewer, "result": result, "was_cancelled": cancelled, "lead_time": 3.5,
        "created_at": "2026-01-01T09:00:00Z", "updated_at": updated_at, "updated_by": updated_by or reviewer,
    }


@pytest.fixture
def tasks():
    return [
        {"id": 10, "data": {"attack_id": 7}, "annotations": [ann(1, 1), ann(2, 2, "9"), ann(3, 3, cancelled=True)]},
        {"id": 11, "data": {"attack_id": 8}, "annotations": [ann(4, 1, "4", ("Theft", "Weapons", "Other"), updated_by=2)]},
        {"id": 12, "data": {"attack_id": 9}, "annotations": []},
    ]


def test_one_row_per_annotation(tasks):
    table = annotation_table(tasks, {1: "a@x.org", 2: "b@x.org"})
    assert list(table.columns) == COLUMNS
    assert len(table) == 4
    first = table.iloc[0]
    assert (first.attack_id, first.task_id, first.reviewer_email, first.success, first.topics) == (7, 10, "a@x.org", 2, ["Theft"])
    assert table["valid"].tolist() == [True, False, True, False]
    assert table["invalid_reason"].tolist() == [None, "success '9' outside 0-4", None, "3 topics (at most 2)"]
    assert table["skipped"].tolist() == [False, False, True, False]
    assert table["edited_by_other"].tolist() == [False, False, False, True]
    assert table.iloc[2].reviewer_email is None


def test_an_empty_export_gives_an_empty_table_with_the_columns():
    table = annotation_table([])
    assert list(table.columns) == COLUMNS and table.empty


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_tables_round_trip(tmp_path, tasks, suffix):
    table = annotation_table(tasks, {1: "a@x.org"})
    path = tmp_path / f"t{suffix}"
    write_table(table, path)
    back = read_table(path)
    assert back["topics"].tolist() == table["topics"].tolist()
    assert back["success"].tolist() == table["success"].tolist()
    assert back["valid"].tolist() == table["valid"].tolist()
    assert back["invalid_reason"].tolist() == table["invalid_reason"].tolist()
    assert back["reviewer_email"].tolist() == table["reviewer_email"].tolist()


HOSTILE_EMAILS = {1: "=cmd|'/C calc'!A0@example.com", 2: "-2+3@example.com", 3: "@SUM(1+1)@example.com"}


def test_a_csv_cell_that_starts_like_a_formula_is_written_as_text_and_reads_back(tmp_path, tasks):
    table = annotation_table(tasks, HOSTILE_EMAILS)
    path = tmp_path / "t.csv"
    write_table(table, path)
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert set(raw["reviewer_email"]) == {"'" + email for email in HOSTILE_EMAILS.values()}
    for column in raw.columns:  # no cell a spreadsheet would run
        assert not raw[column].str.match(r"[=+\-@\t\r]").any(), column
    assert read_table(path)["reviewer_email"].tolist() == table["reviewer_email"].tolist()


def test_join_manifest_adds_fields_but_not_the_transcript(tasks):
    manifest = [{"attack_id": 7, "transcript": "secret", "rating": 3.0, "model_type": "rlhf", "num_params": "52B"}]
    joined = join_manifest(annotation_table(tasks), manifest)
    assert "transcript" not in joined.columns
    assert joined.loc[joined.attack_id == 7, "rating"].tolist() == [3.0, 3.0, 3.0]
    assert pd.isna(joined.loc[joined.attack_id == 8, "rating"]).all()


def test_unknown_formats_and_foreign_files_are_one_line_errors(tmp_path):
    with pytest.raises(ExportError, match=r"t.xlsx: unknown table format .xlsx: use .jsonl, .csv or .parquet"):
        write_table(annotation_table([]), tmp_path / "t.xlsx")
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(ExportError, match="not an annotation table written by `export`"):
        read_table(other)
    not_export = tmp_path / "x.json"
    not_export.write_text(json.dumps({"a": 1}))
    with pytest.raises(ExportError, match="not a Label Studio full JSON export"):
        read_export(not_export)
    broken = tmp_path / "y.json"
    broken.write_text("[{")
    with pytest.raises(ExportError, match=r"y.json: not JSON"):
        read_export(broken)
