"""The agreement command's output is a contract: the JSON keys and values, and the printed, Markdown
and HTML reports, stay what they were on fixed inputs (tests/agreement_golden.py)."""

from __future__ import annotations

import json

import pytest

from tests.agreement_golden import CASES, REPORTS, differences, golden, run_case


@pytest.mark.parametrize("name", list(CASES))
def test_the_command_writes_the_golden_json_and_reports(name, tmp_path):
    written = run_case(name, tmp_path)
    expected = json.loads(golden(name))
    assert differences(expected, json.loads(written["summary.json"])) == []
    for report in REPORTS:
        if report != "summary.json":
            assert written[report] == golden(name, report), report


def test_differences_sees_keys_types_nulls_and_numbers():
    expected = {"a": 1.0, "b": None, "c": [1, "x"], "d": {"e": 0.5}}
    assert differences(expected, {"a": 1.0 + 1e-13, "b": None, "c": [1, "x"], "d": {"e": 0.5}}) == []
    assert differences(expected, {"b": None, "a": 1.0, "c": [1, "x"], "d": {"e": 0.5}})  # key order
    assert differences(expected, {"a": 1.0, "b": 0.0, "c": [1, "x"], "d": {"e": 0.5}})  # null
    assert differences(expected, {"a": 1, "b": None, "c": [1, "x"], "d": {"e": 0.5}})  # int for float
    assert differences(expected, {"a": 1.0, "b": None, "c": [1, "y"], "d": {"e": 0.5}})  # string
    assert differences(expected, {"a": 1.0, "b": None, "c": [1, "x"], "d": {"e": 0.5 + 1e-9}})  # number
