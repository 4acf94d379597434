"""Fixed inputs for the agreement JSON contract, and the golden files they give.

tests/fixtures/agreement_golden/CASE/ holds what `review-project agreement` prints and writes
(--json, --md, --html) for each case; tests/test_agreement_contract.py checks that the code
prints and writes exactly that. Each case writes its inputs into a folder and names them
relative to it, so `settings.source` does not depend on where the tests run.

Regenerate only to change the contract on purpose: .venv/bin/python -m tests.agreement_golden
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from review_project.cli import cli
from review_project.export import annotation_table, audit_copy_path, join_manifest, write_table
from review_project.manifest import write_manifest
from tests.test_agreement_summary import annotation, random_project, record, task

FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN = FIXTURES / "agreement_golden"
REAL_EXPORT = FIXTURES / "label_studio_1.23.2_export.json"
REAL_MANIFEST = FIXTURES / "label_studio_1.23.2_export_manifest.jsonl"


def _write_export(folder: Path, name: str, tasks: list[dict]) -> str:
    (folder / name).write_text(json.dumps(tasks), encoding="utf-8")
    return name


def _messy_project() -> tuple[list[dict], list[dict]]:
    """40 reviewed tasks plus every inclusion rule at work, and a third model too small for kappa.

    A skip, two invalid annotations, a replaced rating, a rating edited by someone else, a fifth
    rating, an unannotated task, a task outside the manifest, a manifest attack outside the
    project, an unknown self-rating, emails from the export, and placeholder transcripts.
    """
    tasks, manifest = random_project(40, seed=9)
    for index, t in enumerate(tasks):
        t["data"]["dialogue"] = [{"role": "Human", "content": f"placeholder question {index}"}, {"role": "Assistant", "content": "No."}]
    manifest += [record(5000, 1, "plain lm", -1.5), record(5010, 2, "plain lm", -0.5), record(6000, 3)]
    for attack in manifest:
        attack["transcript"] = f"\n\nHuman: placeholder manifest transcript {attack['attack_id']}"
        attack.update(task_description="t", red_team_member_id=1, is_upworker=False, tags=None, task_descripton_harmlessness_score=0.0)
    tasks[0]["annotations"][0]["result"][0]["value"]["choices"] = ["9"]
    tasks[1]["annotations"][1] = annotation(901, tasks[1]["annotations"][1]["completed_by"], 2, ["Theft", "Weapons", "Other"])
    tasks[2]["annotations"][3] = annotation(902, tasks[2]["annotations"][3]["completed_by"], None, skipped=True)
    replaced = tasks[3]["annotations"][0]
    tasks[3]["annotations"].append(annotation(903, replaced["completed_by"], 4, ["Other"], created="2024-05-02T10:00:00Z"))
    tasks[4]["annotations"][2]["updated_by"] = 99
    for reviewer in range(1, 7):
        if all(a["completed_by"] != reviewer for a in tasks[5]["annotations"]):
            tasks[5]["annotations"].append(annotation(904, reviewer, 3))
            break
    for a in tasks[6]["annotations"]:
        a["completed_by"] = {"id": a["completed_by"], "email": f"reviewer{a['completed_by']}@example.org"}
    manifest[7]["rating"] = None
    # A third model ("plain lm", attacks 5000 and 5010) with one complete task and one with two
    # ratings: its kappa has reasons. Attack 6000 is in the manifest only.
    tasks.append(task(500, 5000, annotation(905, 1, 1), annotation(906, 2, 2), annotation(907, 3, 1), annotation(908, 4, 0)))
    tasks.append(task(501, 5010, annotation(909, 1, 3), annotation(910, 2, 3)))
    tasks.append(task(502, 5020))  # nobody annotated it yet
    tasks.append(task(503, 5030, annotation(911, 5, 2), annotation(912, 6, 0)))  # not in the manifest
    return tasks, manifest


def real_label_studio_export(folder: Path) -> list[str]:
    """(a) The real Label Studio 1.23.2 export with its manifest."""
    shutil.copy(REAL_EXPORT, folder / REAL_EXPORT.name)
    shutil.copy(REAL_MANIFEST, folder / REAL_MANIFEST.name)
    return [REAL_EXPORT.name, "--manifest", REAL_MANIFEST.name, "--resamples", "200"]


def synthetic_with_manifest(folder: Path) -> list[str]:
    """(b) The messy synthetic project with its manifest."""
    tasks, manifest = _messy_project()
    write_manifest(folder / "manifest.jsonl", manifest)
    return [_write_export(folder, "export.json", tasks), "--manifest", "manifest.jsonl", "--resamples", "200"]


def synthetic_without_manifest(folder: Path) -> list[str]:
    """(c) The messy synthetic project, no manifest: the paper's view and models say why not."""
    tasks, _ = _messy_project()
    return [_write_export(folder, "export.json", tasks), "--resamples", "200", "--seed", "3"]


def table_with_audit_copy_and_texts(folder: Path) -> list[str]:
    """(d) A table written by `export --manifest` with its audit copy; threshold 2; transcripts."""
    tasks, manifest = _messy_project()
    write_table(join_manifest(annotation_table(tasks), manifest), folder / "annotations.jsonl")
    audit_copy_path(folder / "annotations.jsonl").write_text(json.dumps(tasks), encoding="utf-8")
    return ["annotations.jsonl", "--threshold", "2", "--resamples", "150", "--seed", "11", "--include-text"]


def three_reviewers_per_task(folder: Path) -> list[str]:
    """(e) Asking for 3 ratings where most tasks have 4: almost nothing is complete."""
    tasks, manifest = _messy_project()
    write_manifest(folder / "manifest.jsonl", manifest)
    return [_write_export(folder, "export.json", tasks), "--manifest", "manifest.jsonl", "--reviewers-per-task", "3", "--resamples", "100"]


def every_rating_the_same(folder: Path) -> list[str]:
    """(f) Five tasks, every rating 2: undefined statistics with their reasons everywhere."""
    same = [task(i, i, *[annotation(10 * i + r, r + 1, 2, ["Theft"]) for r in range(4)]) for i in range(1, 6)]
    attacks = [record(i, 2) | {"task_description": "t", "red_team_member_id": 1, "is_upworker": False, "tags": None} for i in range(1, 6)]
    write_manifest(folder / "manifest.jsonl", attacks)
    return [_write_export(folder, "export.json", same), "--manifest", "manifest.jsonl", "--resamples", "100"]


def empty_export(folder: Path) -> list[str]:
    """(g) An export with no task."""
    return [_write_export(folder, "export.json", []), "--resamples", "100"]


CASES = {
    function.__name__: function
    for function in (
        real_label_studio_export,
        synthetic_with_manifest,
        synthetic_without_manifest,
        table_with_audit_copy_and_texts,
        three_reviewers_per_task,
        every_rating_the_same,
        empty_export,
    )
}


def case_arguments(name: str, folder: Path) -> list[str]:
    """Write the case's inputs into folder; the `agreement` arguments, relative to folder."""
    return CASES[name](folder)


REPORTS = ("summary.json", "summary.txt", "report.md", "report.html")
_PNG = re.compile(r"data:image/png;base64,[A-Za-z0-9+/=]+")


def run_case(name: str, folder: Path) -> dict[str, str]:
    """`review-project agreement ... --json --md --html` for the case, run inside folder.

    Returns each of REPORTS as text: the files written and the printed summary. The HTML's
    plots become a placeholder: their pixels depend on the machine's fonts, not on the code.
    """
    arguments = case_arguments(name, folder)
    with contextlib.chdir(folder):
        result = CliRunner().invoke(cli, ["agreement", *arguments, "--json", "summary.json", "--md", "report.md", "--html", "report.html"])
        if result.exit_code != 0:
            raise AssertionError(f"{name}: exit {result.exit_code}: {result.output}")
    (folder / "summary.txt").write_text(result.stdout, encoding="utf-8")
    texts = {report: (folder / report).read_text(encoding="utf-8") for report in REPORTS}
    texts["report.html"] = _PNG.sub("data:image/png;base64,(plot)", texts["report.html"])
    return texts


def golden(name: str, report: str = "summary.json") -> str:
    """The golden text of one report of a case."""
    return (GOLDEN / name / report).read_text(encoding="utf-8")


def differences(expected, actual, path: str = "$", tolerance: float = 1e-12) -> list[str]:
    """Where two JSON values differ: keys (and their order), types, strings, nulls, numbers beyond tolerance."""
    if type(expected) is not type(actual):
        return [f"{path}: {type(expected).__name__} {expected!r:.60} != {type(actual).__name__} {actual!r:.60}"]
    if isinstance(expected, dict):
        if list(expected) != list(actual):
            return [f"{path}: keys {list(expected)} != {list(actual)}"]
        return [d for key in expected for d in differences(expected[key], actual[key], f"{path}.{key}", tolerance)]
    if isinstance(expected, list):
        if len(expected) != len(actual):
            return [f"{path}: {len(expected)} items != {len(actual)}"]
        return [d for i, (e, a) in enumerate(zip(expected, actual)) for d in differences(e, a, f"{path}[{i}]", tolerance)]
    if isinstance(expected, float):
        return [] if abs(expected - actual) <= tolerance or (np.isnan(expected) and np.isnan(actual)) else [f"{path}: {expected!r} != {actual!r}"]
    return [] if expected == actual else [f"{path}: {expected!r} != {actual!r}"]


def main() -> None:
    import tempfile

    for name in CASES:
        with tempfile.TemporaryDirectory() as folder:
            texts = run_case(name, Path(folder))
        (GOLDEN / name).mkdir(parents=True, exist_ok=True)
        for report, text in texts.items():
            (GOLDEN / name / report).write_text(text, encoding="utf-8")
        print(f"wrote tests/fixtures/agreement_golden/{name}/", file=sys.stderr)


if __name__ == "__main__":
    main()
