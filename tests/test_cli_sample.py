"""`review-project sample` through click's CliRunner: exit codes, exact messages, the manifest."""

from __future__ import annotations

import importlib.util
import os
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from review_project import demo_data, manifest
from review_project.cli import cli

# The malformed files of the loader tests, reused so every case is also checked end to end.
_spec = importlib.util.spec_from_file_location("record_cases", Path(__file__).with_name("test_records.py"))
record_cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(record_cases)


@pytest.fixture(scope="module")
def red_team_file(tmp_path_factory):
    """6,600 demo records (522 on rlhf 52B) as the real file is: one gzipped JSON array named .jsonl.gz."""
    path = tmp_path_factory.mktemp("data") / "red_team_attempts.jsonl.gz"
    demo_data.write_records(path, demo_data.generate_records(6600, seed=5, transcript_chars=40))
    return path


def run(*args):
    return CliRunner().invoke(cli, ["sample", *map(str, args)])


def models(rows):
    return Counter(manifest.model_key(r) for r in rows)


def test_defaults_write_the_papers_sample(red_team_file, tmp_path):
    out = tmp_path / "manifest.jsonl"
    result = run(red_team_file, "-o", out)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Wrote 1000 attacks to {out} (context distillation/52B: 500, rlhf/52B: 500)\n"
    assert "Checking records" in result.stderr
    rows = manifest.read_manifest(out)
    assert models(rows) == {"context distillation 52B": 500, "rlhf 52B": 500}
    originals = demo_data.generate_records(6600, seed=5, transcript_chars=40)
    for row in rows:
        assert row == {**originals[row["attack_id"]], "attack_id": row["attack_id"]}


def test_same_seed_gives_byte_identical_manifests(red_team_file, tmp_path):
    for name, seed in [("a", 3), ("b", 3), ("c", 4)]:
        assert run(red_team_file, "-o", tmp_path / f"{name}.jsonl", "--seed", seed, "--silent").exit_code == 0
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert (tmp_path / "a.jsonl").read_bytes() != (tmp_path / "c.jsonl").read_bytes()


def test_json_lines_input_gives_the_same_manifest(red_team_file, tmp_path):
    lines = tmp_path / "records.json"  # the name says JSON, the content is JSON Lines
    demo_data.write_records(lines, demo_data.generate_records(6600, seed=5, transcript_chars=40), gzip=False, layout="jsonl")
    assert run(red_team_file, "-o", tmp_path / "a.jsonl", "--silent").exit_code == 0
    assert run(lines, "-o", tmp_path / "b.jsonl", "--silent").exit_code == 0
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


def test_models_and_per_model(red_team_file, tmp_path):
    out = tmp_path / "m.jsonl"
    result = run(red_team_file, "-o", out, "--model", "plain lm/52B", "--model", "rlhf/13B", "--per-model", 20, "--silent")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Wrote 40 attacks to {out} (plain lm/52B: 20, rlhf/13B: 20)\n"
    assert result.stderr == ""
    assert models(manifest.read_manifest(out)) == {"plain lm 52B": 20, "rlhf 13B": 20}


def test_exclude_leaves_out_the_earlier_manifest(red_team_file, tmp_path):
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    assert run(red_team_file, "-o", first, "--per-model", 200, "--silent").exit_code == 0
    result = run(red_team_file, "-o", second, "--per-model", 200, "--exclude", first, "--silent")
    assert result.exit_code == 0, result.output
    earlier = {r["attack_id"] for r in manifest.read_manifest(first)}
    later = {r["attack_id"] for r in manifest.read_manifest(second)}
    assert len(later) == 400 and not earlier & later


def test_too_few_fails_with_the_stratum_and_writes_nothing(red_team_file, tmp_path):
    out = tmp_path / "m.jsonl"
    result = run(red_team_file, "-o", out, "--per-model", 600, "--silent")
    assert result.exit_code == 2
    assert result.stderr == (
        'Error: model "rlhf/52B" has 522 attacks, fewer than --per-model 600 (use --allow-fewer to take them all)\n'
    )
    assert os.listdir(tmp_path) == []


def test_allow_fewer(red_team_file, tmp_path):
    out = tmp_path / "m.jsonl"
    result = run(red_team_file, "-o", out, "--per-model", 600, "--allow-fewer", "--silent")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Wrote 1122 attacks to {out} (context distillation/52B: 600, rlhf/52B: 522)\n"


def test_a_failure_keeps_an_existing_manifest(red_team_file, tmp_path):
    out = tmp_path / "m.jsonl"
    out.write_text("old contents\n")
    result = run(red_team_file, "-o", out, "--per-model", 9999, "--silent")
    assert result.exit_code == 2
    assert out.read_text() == "old contents\n"
    assert os.listdir(tmp_path) == ["m.jsonl"]


@pytest.mark.parametrize("case", record_cases.MALFORMED, ids=[case[0] for case in record_cases.MALFORMED])
def test_every_malformed_file_is_one_line_exit_2_nothing_written(tmp_path, case):
    _, name, text, compress, expected = case
    path = tmp_path / name
    record_cases.write(path, text, compress)
    out = tmp_path / "out" / "m.jsonl"
    out.parent.mkdir()
    result = run(path, "-o", out, "--silent")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {path}: {expected}")
    assert result.stderr.count("\n") == 1 and result.stderr.endswith("\n")
    assert "Traceback" not in result.output and record_cases.SECRET not in result.output
    assert os.listdir(out.parent) == []


def test_missing_input(tmp_path):
    result = run(tmp_path / "nope.json.gz", "-o", tmp_path / "m.jsonl")
    assert result.exit_code == 2
    assert result.stderr == f"Error: {tmp_path / 'nope.json.gz'}: no such file\n"
    assert os.listdir(tmp_path) == []


def test_bad_exclude_manifest_names_its_line(red_team_file, tmp_path):
    old = tmp_path / "old.jsonl"
    old.write_text('{"attack_id": 1}\n')
    result = run(red_team_file, "-o", tmp_path / "m.jsonl", "--exclude", old)
    assert result.exit_code == 2
    assert result.stderr == f'Error: {old}: line 1: "transcript" is missing\n'
    assert os.listdir(tmp_path) == ["old.jsonl"]


def test_bad_model_option(red_team_file, tmp_path):
    result = run(red_team_file, "-o", tmp_path / "m.jsonl", "--model", "rlhf")
    assert result.exit_code == 2
    assert result.stderr == "Error: --model 'rlhf': expected \"<model_type>/<num_params>\", e.g. \"rlhf/52B\"\n"


def test_output_must_not_overwrite_the_input(red_team_file):
    before = red_team_file.read_bytes()
    result = run(red_team_file, "-o", red_team_file)
    assert result.exit_code == 2
    assert "-o must name a new manifest, not INPUT or the --exclude manifest" in result.stderr
    assert red_team_file.read_bytes() == before


def test_sampling_a_manifest_is_refused(red_team_file, tmp_path):
    first = tmp_path / "first.jsonl"
    assert run(red_team_file, "-o", first, "--per-model", 5, "--silent").exit_code == 0
    result = run(first, "-o", tmp_path / "again.jsonl", "--per-model", 1, "--silent")
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {first}: record 0 already has an attack_id: the input looks like a manifest;"
        " sample from the original red-team file\n"
    )


def test_help_has_an_example():
    result = CliRunner().invoke(cli, ["sample", "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output and "review-project sample red_team_attempts.jsonl.gz" in result.output


def test_output_folder_missing(red_team_file, tmp_path):
    out = tmp_path / "nope" / "m.jsonl"
    result = run(red_team_file, "-o", out, "--silent")
    assert result.exit_code == 2
    assert result.stderr == f"Error: {out}: cannot be written (No such file or directory)\n"
