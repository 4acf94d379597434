"""The agreement command's output is a contract: the JSON keys and values, and the printed, Markdown
and HTML reports, stay what they were on fixed inputs (tests/agreement_golden.py)."""

from __future__ import annotations

import contextlib
import json

import pytest

from review_project.agreement import agreement_report, open_source
from review_project.lead_report import markdown_report, summary_text
from review_project.manifest import read_manifest
from tests.agreement_golden import CASES, REPORTS, case_arguments, differences, golden, run_case


@pytest.mark.parametrize("name", list(CASES))
def test_the_command_writes_the_golden_json_and_reports(name, tmp_path):
    written = run_case(name, tmp_path)
    assert differences(json.loads(golden(name)), json.loads(written["summary.json"])) == []
    for report in REPORTS:
        if report != "summary.json":
            assert written[report] == golden(name, report), report


def library_report(arguments: list[str]):
    """The case's `agreement` arguments as library calls: open_source, then agreement_report."""
    source, options = arguments[0], dict.fromkeys(["--include-text"], False)
    rest = iter(arguments[1:])
    for option in rest:
        options[option] = True if option == "--include-text" else next(rest)
    manifest = read_manifest(options["--manifest"]) if "--manifest" in options else None
    per_task = int(options["--reviewers-per-task"]) if "--reviewers-per-task" in options else None
    return agreement_report(
        open_source(source, reviewers_per_task=per_task),
        manifest,
        threshold=int(options.get("--threshold", 3)),
        n_resamples=int(options["--resamples"]),
        seed=int(options.get("--seed", 0)),
        include_text=options["--include-text"],
    )


@pytest.mark.parametrize("name", list(CASES))
def test_agreement_report_without_click_gives_the_golden_summary(name, tmp_path):
    arguments = case_arguments(name, tmp_path)
    with contextlib.chdir(tmp_path):
        summary = library_report(arguments)
    # Every key, type and null as the CLI wrote it, numbers to 1e-12: the last digit of a float may
    # differ between numpy/scipy builds, so bytes are compared only where numbers are rounded.
    assert differences(json.loads(golden(name)), summary.as_json()) == []
    assert summary_text(summary) + "\n" == golden(name, "summary.txt").removesuffix("\nWrote summary.json, report.html, report.md\n")
    assert markdown_report(summary, summary.settings.source) == golden(name, "report.md")


def test_differences_sees_keys_types_nulls_and_numbers():
    expected = {"a": 1.0, "b": None, "c": [1, "x"], "d": {"e": 0.5}}
    assert differences(expected, {"a": 1.0 + 1e-13, "b": None, "c": [1, "x"], "d": {"e": 0.5}}) == []
    assert differences(expected, {"b": None, "a": 1.0, "c": [1, "x"], "d": {"e": 0.5}})  # key order
    assert differences(expected, {"a": 1.0, "b": 0.0, "c": [1, "x"], "d": {"e": 0.5}})  # null
    assert differences(expected, {"a": 1, "b": None, "c": [1, "x"], "d": {"e": 0.5}})  # int for float
    assert differences(expected, {"a": 1.0, "b": None, "c": [1, "y"], "d": {"e": 0.5}})  # string
    assert differences(expected, {"a": 1.0, "b": None, "c": [1, "x"], "d": {"e": 0.5 + 1e-9}})  # number
