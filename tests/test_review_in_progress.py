"""A review in progress: how precise agreement is now and will be once every planned attack is rated
(`agreement`'s `precision`), and what each pair of models will detect then (`results`' power at
completion). Checked against independent computations on the 96-attack export from a real Label
Studio, with a manifest that plans three times its attacks."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner
from statsmodels.stats.power import TTestIndPower

from review_project.cli import cli
from review_project.manifest import read_manifest, write_manifest
from tests.fixtures import FIXTURES

EXPORT_96 = FIXTURES / "label_studio_1.23.2_export_96.json"
MANIFEST_96 = FIXTURES / "label_studio_1.23.2_export_96_manifest.jsonl"


@pytest.fixture(scope="module")
def planned_manifest(tmp_path_factory) -> str:
    """The export's manifest plus twice as many attacks nobody has rated yet: 288 planned, 96 per model."""
    records = read_manifest(MANIFEST_96)
    more = [dict(r, attack_id=100_000 + n) for n, r in enumerate(records * 2)]
    path = tmp_path_factory.mktemp("plan") / "manifest.jsonl"
    write_manifest(path, records + more)
    return str(path)


def run_json(tmp_path, *args) -> tuple[str, dict]:
    path = tmp_path / "out.json"
    result = CliRunner().invoke(cli, [*map(str, args), "--json", str(path)])
    assert result.exit_code == 0, result.output
    return result.output, json.loads(path.read_text())


def test_agreement_projects_kappas_half_width_to_the_attacks_planned(tmp_path, planned_manifest):
    output, summary = run_json(tmp_path, "agreement", EXPORT_96, "--manifest", planned_manifest, "--resamples", 200)
    precision, success = summary["precision"], summary["success"]
    low, high = success["fleiss_kappa_all_tasks_ci95"]
    now = (high - low) / 2
    assert precision["statistic"] == "fleiss_kappa_all_tasks" and precision["attacks_planned_from"] == "manifest"
    assert precision["half_width_now"] == pytest.approx(now, abs=1e-12)
    assert (precision["attacks_now"], precision["attacks_planned"]) == (96, 288)
    assert precision["projected_half_width"] == pytest.approx(now * math.sqrt(96 / 288), abs=1e-12)
    assert precision["target_half_width"] == 0.05 and precision["target_met"] is (now * math.sqrt(96 / 288) <= 0.05)
    assert precision["attacks_needed"] == math.ceil(96 * (now / 0.05) ** 2)
    assert (f"Precision: Fleiss' kappa (every task with 2+ ratings) +/- {now:.3f} now, over the 96 attacks with 2 or more "
            f"valid ratings; projected +/- {now * math.sqrt(96 / 288):.3f} once the 288 attacks of the manifest are rated: "
            "within the planned +/- 0.05.") in output


def test_agreement_says_when_the_target_will_not_be_met_and_how_many_attacks_would_meet_it(tmp_path):
    output, summary = run_json(tmp_path, "agreement", EXPORT_96, "--manifest", MANIFEST_96, "--half-width", "0.02")
    precision = summary["precision"]
    assert precision["attacks_planned"] == precision["attacks_now"] == 96
    assert precision["projected_half_width"] == precision["half_width_now"] and precision["target_met"] is False
    assert f"over all 96 attacks of the manifest: short of the planned +/- 0.02 (about {precision['attacks_needed']:,} attacks" in output


def test_agreement_on_a_table_without_a_manifest_cannot_know_the_attacks_planned(tmp_path):
    table = tmp_path / "annotations.jsonl"
    assert CliRunner().invoke(cli, ["agreement", str(EXPORT_96), "--json", str(tmp_path / "x.json")]).exit_code == 0
    from review_project.export import annotation_table, read_export, write_table

    write_table(annotation_table(read_export(EXPORT_96)), table)
    output, summary = run_json(tmp_path, "agreement", table)
    precision = summary["precision"]
    assert precision["attacks_planned"] is None and precision["projected_half_width"] is None
    assert precision["projected_half_width_reason"].startswith("the attacks the review will have are not known: give --manifest")
    assert precision["target_met"] is None and "at completion: unknown (the attacks the review will have" in output


def test_results_gives_each_pairs_detectable_difference_at_completion(tmp_path, planned_manifest):
    output, results = run_json(tmp_path, "results", EXPORT_96, "--manifest", planned_manifest, "--resamples", 200)
    solver = TTestIndPower()
    for name, pair in results["model_differences"].items():
        power = pair["power"]
        assert power["attacks"] == [32, 32] and power["attacks_planned"] == [96, 96]
        effect = solver.solve_power(effect_size=None, nobs1=96, ratio=1.0, alpha=0.05, power=0.8, alternative="two-sided")
        assert power["minimum_detectable_difference_at_completion"] == pytest.approx(effect * power["sd"], rel=1e-4)
        expected = power["minimum_detectable_difference_at_completion"] <= 0.5
        assert power["target_difference"] == 0.5 and power["target_met"] is expected
        words = "within" if expected else "short of"
        assert (f"once the 96 attacks per model of the manifest are rated, differences of "
                f"{power['minimum_detectable_difference_at_completion']:.2f} points will be detectable: {words} the planned 0.5") in output


def test_results_of_a_complete_review_adds_no_completion_words(tmp_path):
    output, results = run_json(tmp_path, "results", EXPORT_96, "--manifest", MANIFEST_96, "--resamples", 200)
    for pair in results["model_differences"].values():
        assert pair["power"]["attacks_planned"] == pair["power"]["attacks"]
    assert "once the" not in output
