"""Export files that are not what Label Studio writes: each is handled or refused in one line.

A full JSON export is read by `agreement FILE`, and the same reading serves `export` and
`status` for a live project. Whatever shape a file has, nothing but a domain error (one line,
exit 2) may come out: never a traceback. The named cases first, then a property test that
mutates a real Label Studio 1.23.2 export.
"""

from __future__ import annotations

import copy
import json

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from review_project.cli import cli
from review_project.export import join_manifest, mark_latest, read_export_tasks, read_table, write_table
from review_project.progress import progress_text, review_progress
from review_project.shared import ExportError
from tests.conftest import examples
from tests.fixtures import real_export

REAL = real_export()


def agreement_on(tmp_path, tasks) -> tuple[int, str, str]:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks))
    result = CliRunner().invoke(cli, ["agreement", str(path), "--resamples", "100"])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.stdout, result.stderr


def first_annotated() -> tuple[list[dict], dict, dict]:
    tasks = copy.deepcopy(REAL)
    task = next(t for t in tasks if t["annotations"])
    return tasks, task, task["annotations"][0]


def test_a_result_that_is_text_makes_the_annotation_invalid(tmp_path):
    tasks, task, annotation = first_annotated()
    annotation["result"] = "3"
    table = read_export_tasks(tasks).annotations
    row = table[table["annotation_id"] == annotation["id"]].iloc[0]
    assert (bool(row["valid"]), row["invalid_reason"]) == (False, "result is not a list of regions; success missing")
    code, out, _ = agreement_on(tmp_path, tasks)
    assert code == 0  # the real export already has 2 invalid annotations: this is the third
    assert "3 invalid annotations (listed)" in out


@pytest.mark.parametrize(
    "mutate, reason",
    [
        (lambda a: a["result"].__setitem__(0, "success 3"), "a result region is not an object with a value"),
        (lambda a: a["result"][0]["value"].__setitem__("choices", 3), "success choices are not a list"),
        (lambda a: a["result"][0].__setitem__("value", ["3"]), "a result region is not an object with a value"),
        (lambda a: a.__setitem__("was_cancelled", "false"), "was_cancelled is not true or false"),
    ],
)
def test_a_result_of_the_wrong_shape_is_an_invalid_annotation(mutate, reason):
    tasks, _, annotation = first_annotated()
    mutate(annotation)
    table = read_export_tasks(tasks).annotations
    row = table[table["annotation_id"] == annotation["id"]].iloc[0]
    assert not row["valid"] and reason in row["invalid_reason"]


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda t, a: a.__setitem__("completed_by", "7"), "task {task}, annotation {annotation}: completed_by (a user id) is a str, not a whole number"),
        (lambda t, a: a.__setitem__("completed_by", 3.5), "task {task}, annotation {annotation}: completed_by (a user id) is 3.5, not a whole number"),
        (lambda t, a: a.__setitem__("updated_by", {"id": "x"}), "task {task}, annotation {annotation}: updated_by (a user id) is a str, not a whole number"),
        (lambda t, a: t.__setitem__("id", "12"), "task number 1: id is a str, not a whole number"),
        (lambda t, a: t["data"].__setitem__("attack_id", "12"), "task {task}: data.attack_id is a str, not a whole number"),
        (lambda t, a: t["data"].__setitem__("attack_id", -1), "task {task}: data.attack_id is -1, not a whole number"),
        (lambda t, a: t.__setitem__("annotations", {"id": 1}), "task {task}: annotations is not a list"),
        (lambda t, a: a.__setitem__("id", 2**64), "task {task}, annotation number 1: id is 18446744073709551616, not a whole number"),
        (lambda t, a: a.__setitem__("created_at", 1_700_000_000), "task {task}, annotation {annotation}: created_at is not a time"),
    ],
)
def test_what_cannot_be_read_is_refused_in_one_line_naming_task_and_annotation(tmp_path, mutate, message):
    tasks, task, annotation = first_annotated()
    names = {"task": task["id"], "annotation": annotation["id"]}
    mutate(task, annotation)
    code, out, err = agreement_on(tmp_path, tasks)
    assert (code, out) == (2, "")
    assert err == f"Error: {tmp_path / 'export.json'}: {message.format(**names)}\n"


# -- the property: any mutation of a real export gives a result or one domain error ------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def places(node, depth: int = 0):
    """Every (container, key) in the export's structure; the transcript's turns count as one place."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield node, key
        if key != "dialogue":
            yield from places(value, depth + 1)


@st.composite
def mutated_exports(draw) -> list:
    tasks = copy.deepcopy(REAL[:4])
    for _ in range(draw(st.integers(1, 3))):
        container, key = draw(st.sampled_from(list(places(tasks))))
        if isinstance(container, dict) and draw(st.booleans()):
            del container[key]
        else:
            container[key] = draw(json_values)
    return tasks


def status_and_export(tasks, folder) -> None:
    """What `status` and `export` do with a project's export once it is downloaded."""
    tables = read_export_tasks(tasks, {1: "a@example.com"}, "the export")
    progress = review_progress(len(tables.tasks), tables.annotations, 4)
    progress_text(progress, 1, "project")
    json.dumps(progress.as_dict())
    table = join_manifest(mark_latest(tables.annotations), [{"attack_id": 1, "rating": 2.0}])
    for suffix in (".jsonl", ".csv", ".parquet"):
        write_table(table, folder / f"t{suffix}")
        read_table(folder / f"t{suffix}")


@settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(tasks=mutated_exports())
def test_any_mutated_export_gives_a_result_or_one_domain_error(tmp_path, tasks):
    try:
        status_and_export(tasks, tmp_path)
    except ExportError as error:
        assert "\n" not in str(error)
    code, _, err = agreement_on(tmp_path, tasks)
    assert code in (0, 2), err
    if code == 2:
        assert err.startswith("Error: ") and err.count("\n") == 1


@pytest.mark.parametrize(
    "column, value, message",
    [
        ("reviewer_id", "abc", "column reviewer_id holds a value that is not a whole number"),
        ("reviewer_id", 3.5, "column reviewer_id holds a value that is not a whole number"),
        ("skipped", "maybe", "column skipped holds a value that is not true or false"),
        ("topics", "[not json", "column topics holds a value that is not a list of topics"),
    ],
)
def test_a_table_with_a_wrong_value_is_refused_in_one_line(tmp_path, column, value, message):
    path = tmp_path / "annotations.jsonl"
    write_table(read_export_tasks(REAL).annotations, path)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[3][column] = value
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    result = CliRunner().invoke(cli, ["agreement", str(path)])
    assert (result.exit_code, result.stderr) == (2, f"Error: {path}: {message}\n")
