"""The paper's footing with 4 reviewers (success.with_author_paper_footing): 3 reviewers + the author,
each reviewer left out in turn, against statsmodels' Fleiss' kappa computed task by task."""

from __future__ import annotations

import json

import numpy as np
import pytest
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_fleiss_kappa

from review_project.agreement import summarise
from review_project.export import annotation_table
from review_project.lead_report import html_report, markdown_report, summary_text
from tests.test_agreement_summary import annotation, random_project, record, task


def by_hand(tasks, manifest, threshold=3):
    """The 4 left-one-out kappas (raw, binary), the ratings of each task ordered by reviewer id."""
    author = {r["attack_id"]: int(r["rating"]) for r in manifest}
    rows = []
    for t in tasks:
        ordered = sorted((a["completed_by"], int(a["result"][0]["value"]["choices"][0])) for a in t["annotations"])
        rows.append([value for _, value in ordered] + [author[t["data"]["attack_id"]]])
    rows = np.array(rows)
    raw, binary = [], []
    for left_out in range(4):
        kept = np.delete(rows, left_out, axis=1)
        table = aggregate_raters(kept, n_cat=5)[0]
        raw.append(statsmodels_fleiss_kappa(table))
        binary.append(statsmodels_fleiss_kappa(np.column_stack([table[:, :threshold].sum(1), table[:, threshold:].sum(1)])))
    return np.array(raw), np.array(binary)


def test_mean_and_range_of_the_four_left_out_kappas_equal_statsmodels():
    # 6 reviewers, 4 per task: positions are by reviewer id within each task, not by column.
    tasks, manifest = random_project(80, seed=4, reviewers=6)
    for t in tasks:
        t["annotations"].reverse()  # the export's order must not matter
    summary = summarise(annotation_table(tasks), manifest, n_resamples=100)
    footing = summary.success.with_author_paper_footing
    raw, binary = by_hand(tasks, manifest)
    assert footing.items == 80 and footing.raters == 4
    assert footing.fleiss_kappa.value == pytest.approx(raw.mean(), abs=1e-12)
    assert [footing.fleiss_kappa_range.low, footing.fleiss_kappa_range.high] == pytest.approx([raw.min(), raw.max()], abs=1e-12)
    assert footing.binary_fleiss_kappa.value == pytest.approx(binary.mean(), abs=1e-12)
    assert footing.binary_fleiss_kappa_range.as_list() == pytest.approx([binary.min(), binary.max()], abs=1e-12)
    assert len(set(np.round(raw, 12))) > 1  # leaving out different reviewers gives different kappas


def test_the_json_keys_and_where_they_sit():
    tasks, manifest = random_project(30, seed=1)
    success = summarise(annotation_table(tasks), manifest, n_resamples=100).as_json()["success"]
    keys = list(success)
    assert keys.index("with_author_paper_footing") == keys.index("with_author") + 1
    footing = success["with_author_paper_footing"]
    assert list(footing) == [
        "items", "raters",
        "fleiss_kappa", "fleiss_kappa_reason", "fleiss_kappa_range", "fleiss_kappa_range_reason",
        "binary_fleiss_kappa", "binary_fleiss_kappa_reason", "binary_fleiss_kappa_range", "binary_fleiss_kappa_range_reason",
    ]
    low, high = footing["fleiss_kappa_range"]
    assert low <= footing["fleiss_kappa"] <= high
    json.dumps(footing, allow_nan=False)


def test_only_complete_tasks_with_a_self_rating_count():
    tasks, manifest = random_project(40, seed=5)
    manifest[0]["rating"] = None  # no self-rating: left out
    del tasks[1]["annotations"][0]  # 3 ratings: not complete
    summary = summarise(annotation_table(tasks), manifest, n_resamples=100)
    footing = summary.success.with_author_paper_footing
    assert footing.items == 38
    raw, binary = by_hand(tasks[2:], manifest[2:])
    assert footing.fleiss_kappa.value == pytest.approx(raw.mean(), abs=1e-12)
    assert footing.binary_fleiss_kappa.value == pytest.approx(binary.mean(), abs=1e-12)


@pytest.mark.parametrize(
    "per_task, manifest, reason",
    [
        (4, False, "no author self-rating for these tasks (it comes from the sample manifest: --manifest)"),
        (3, True, "with 3 reviewers per task, the reviewers + author figure is already the paper's footing"),
        (5, True, "the paper's footing leaves one of 4 reviewers out (3 + the author); this summary counts tasks with 5 ratings"),
    ],
)
def test_undefined_with_its_reason(per_task, manifest, reason):
    tasks, records = random_project(20, seed=2)
    summary = summarise(annotation_table(tasks), records if manifest else None, reviewers_per_task=per_task, n_resamples=100)
    footing = summary.success.with_author_paper_footing.as_json()
    for name in ("fleiss_kappa", "fleiss_kappa_range", "binary_fleiss_kappa", "binary_fleiss_kappa_range"):
        assert footing[name] is None and footing[f"{name}_reason"] == reason
    assert footing["raters"] is None


def test_one_undefined_left_out_kappa_makes_the_mean_undefined():
    # Reviewer 4 alone disagrees: leaving them out leaves every rating the same.
    same = [task(i, i, *[annotation(10 * i + r, r + 1, 2 if r < 3 else i % 5) for r in range(4)]) for i in range(1, 6)]
    summary = summarise(annotation_table(same), [record(i, 2) for i in range(1, 6)], n_resamples=100)
    footing = summary.success.with_author_paper_footing
    assert footing.fleiss_kappa.value is None
    assert footing.fleiss_kappa.reason == "undefined leaving out reviewer position 4 of 4: every rating is the same (category 2)"
    assert footing.fleiss_kappa_range.reason == footing.fleiss_kappa.reason


def test_the_reports_put_the_paper_footing_beside_the_paper_and_no_longer_call_4_plus_author_the_same():
    tasks, manifest = random_project(40, seed=3)
    summary = summarise(annotation_table(tasks), manifest, n_resamples=100)
    footing = summary.success.with_author_paper_footing
    low, high = footing.fleiss_kappa_range.low, footing.fleiss_kappa_range.high
    text, page, markdown = summary_text(summary), html_report(summary), markdown_report(summary)
    for report in (text, page, markdown):
        assert "same footing" not in report
        assert "3 of 4 reviewers + author" in report and "a different footing" in report
    assert f"| 3 of 4 reviewers + author | raw 0-4 | {footing.fleiss_kappa.value:.2f} | range {low:.2f} to {high:.2f} | 0.32 |" in markdown
    assert f"<td>range {low:.2f} to {high:.2f}</td><td>0.32</td>" in page
    assert "| 4 reviewers + author | raw 0-4 |" in markdown and "0.32 (3 reviewers + author) |" in markdown
    row = next(line for line in text.splitlines() if line.startswith("  3 of 4 reviewers + author  binary"))
    assert f"{footing.binary_fleiss_kappa.value:.2f}" in row and row.endswith("paper 0.49")


def test_with_3_reviewers_the_reviewers_plus_author_row_is_the_paper_footing():
    tasks, manifest = random_project(20, seed=2)
    for t in tasks:
        del t["annotations"][3]
    summary = summarise(annotation_table(tasks), manifest, reviewers_per_task=3, n_resamples=100)
    text = summary_text(summary)
    assert "3 of 4" not in text
    assert "  (3 reviewers + author is the paper's footing: 3 reviewers and the red team member's self-rating.)" in text
    assert "paper 0.32\n" in text and "paper 0.49\n" in text
