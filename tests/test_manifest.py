"""The sample manifest: JSON Lines written atomically, read back with line-precise errors."""

from __future__ import annotations

import json
import os

import pytest

from review_project import demo_data, manifest
from review_project.shared import ManifestError

SECRET = "ZQX-transcript-marker"


def sampled(n=3):
    records = demo_data.generate_records(n, seed=2, transcript_chars=120)
    return [{**record, "attack_id": 10 * i} for i, record in enumerate(records)]


def test_round_trip_keeps_fields_values_and_key_order(tmp_path):
    rows = sampled()
    rows[0]["transcript"] = "\n\nHuman: café “quoted” 🌱\n\nAssistant: ok"
    path = tmp_path / "m.jsonl"
    manifest.write_manifest(path, rows)
    back = manifest.read_manifest(path)
    assert back == rows
    assert [list(r) for r in back] == [list(r) for r in rows]
    assert list(back[0])[-1] == "attack_id"
    raw = path.read_text(encoding="utf-8")
    assert raw.endswith("\n") and raw.count("\n") == len(rows)
    assert "café “quoted” 🌱" in raw  # kept as UTF-8, not \u escapes


def test_same_records_same_bytes(tmp_path):
    manifest.write_manifest(tmp_path / "a.jsonl", sampled())
    manifest.write_manifest(tmp_path / "b.jsonl", sampled())
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


def test_write_replaces_an_old_manifest(tmp_path):
    path = tmp_path / "m.jsonl"
    manifest.write_manifest(path, sampled(3))
    manifest.write_manifest(path, sampled(2))
    assert len(manifest.read_manifest(path)) == 2
    assert os.listdir(tmp_path) == ["m.jsonl"]


def test_a_failed_write_leaves_the_old_manifest_and_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "m.jsonl"
    manifest.write_manifest(path, sampled(3))
    before = path.read_bytes()

    def broken_replace(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(ManifestError) as raised:
        manifest.write_manifest(path, sampled(2))
    assert str(raised.value) == f"{path}: cannot be written (No space left on device)"
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.jsonl"]


def test_a_record_that_cannot_be_written_writes_nothing(tmp_path):
    rows = sampled(2)
    rows[1]["tags"] = {"not", "json"}
    with pytest.raises(TypeError):
        manifest.write_manifest(tmp_path / "m.jsonl", rows)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("attack_id", [None, "3", True, -1])
def test_write_requires_an_int_attack_id(tmp_path, attack_id):
    rows = sampled(1)
    rows[0]["attack_id"] = attack_id
    with pytest.raises(ValueError, match="attack_id"):
        manifest.write_manifest(tmp_path / "m.jsonl", rows)
    assert os.listdir(tmp_path) == []


def test_model_key():
    assert manifest.model_key({"model_type": "context distillation", "num_params": "52B"}) == "context distillation 52B"


def test_read_skips_blank_lines(tmp_path):
    rows = sampled(2)
    path = tmp_path / "m.jsonl"
    path.write_text("\n" + json.dumps(rows[0]) + "\n\n" + json.dumps(rows[1]) + "\n\n", encoding="utf-8")
    assert manifest.read_manifest(path) == rows


def _line(row, **changes):
    row = dict(row)
    for key, value in changes.items():
        if value is KeyError:
            del row[key]
        else:
            row[key] = value
    return json.dumps(row)


ROW = {**sampled(1)[0], "transcript": f"\n\nHuman: {SECRET}"}
BAD = [
    ("not JSON", [_line(ROW), '{"attack_id": 3,'], "line 2: not JSON (column 17): Expecting property name enclosed in double quotes"),
    ("no attack_id", [_line(ROW, attack_id=KeyError)], 'line 1: "attack_id" is missing'),
    ("bool attack_id", [_line(ROW, attack_id=True)], 'line 1: "attack_id" is not a non-negative integer'),
    ("negative attack_id", [_line(ROW, attack_id=-4)], 'line 1: "attack_id" is not a non-negative integer'),
    ("string attack_id", [_line(ROW, attack_id="4")], 'line 1: "attack_id" is not a non-negative integer'),
    ("duplicate", [_line(ROW, attack_id=4), "", _line(ROW, attack_id=5), _line(ROW, attack_id=4)], "line 4: attack_id 4 is also on line 1"),
    ("bad transcript", [_line(ROW, transcript=f"{SECRET}")], 'line 1: "transcript" does not start with "\\n\\nHuman: "'),
    ("missing task_description", [_line(ROW, task_description=KeyError)], 'line 1: "task_description" is missing'),
    ("not an object", [f'["{SECRET}"]'], "line 1: is not a JSON object"),
    ("empty", ["", "  "], "no attacks (the manifest is empty)"),
]


@pytest.mark.parametrize("lines, expected", [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_read_names_file_and_line(tmp_path, lines, expected):
    path = tmp_path / "m.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ManifestError) as raised:
        manifest.read_manifest(path)
    assert str(raised.value) == f"{path}: {expected}"
    assert SECRET not in str(raised.value)


def test_read_missing_file_directory_and_binary(tmp_path):
    with pytest.raises(ManifestError, match=r"m\.jsonl: no such file$"):
        manifest.read_manifest(tmp_path / "m.jsonl")
    with pytest.raises(ManifestError, match="is a directory, not a manifest$"):
        manifest.read_manifest(tmp_path)
    (tmp_path / "b.jsonl").write_bytes(b'{"a": "\xff"}\n')
    with pytest.raises(ManifestError, match=r"b\.jsonl: not UTF-8 text \(byte 7\)$"):
        manifest.read_manifest(tmp_path / "b.jsonl")


def test_write_into_a_missing_folder(tmp_path):
    path = tmp_path / "nope" / "m.jsonl"
    with pytest.raises(ManifestError) as raised:
        manifest.write_manifest(path, sampled(1))
    assert str(raised.value) == f"{path}: cannot be written (No such file or directory)"


def test_read_can_keep_only_some_fields_after_checking_the_record(tmp_path):
    rows = sampled(2)
    path = tmp_path / "m.jsonl"
    manifest.write_manifest(path, rows)
    lean = manifest.read_manifest(path, fields=("rating", "model_type"))
    assert lean == [{"attack_id": r["attack_id"], "rating": r["rating"], "model_type": r["model_type"]} for r in rows]
    path.write_text(_line(ROW, transcript=7) + "\n")
    with pytest.raises(ManifestError, match='line 1: "transcript" is not a string'):
        manifest.read_manifest(path, fields=("rating",))


def test_a_report_that_keeps_no_transcript_does_not_split_it_into_turns(tmp_path):
    # A report reads the manifest for its models and ratings: a transcript it does not keep is
    # checked to be text, not split into turns (a third of reading a whole-dataset manifest).
    path = tmp_path / "m.jsonl"
    path.write_text(_line(ROW, transcript=f"{SECRET}") + "\n")
    assert manifest.read_manifest(path, fields=("rating",)) == [{"attack_id": ROW["attack_id"], "rating": ROW["rating"]}]
    for fields in (None, ("transcript",)):
        with pytest.raises(ManifestError, match='line 1: "transcript" does not start with'):
            manifest.read_manifest(path, fields=fields)
