"""The agreement summary: inclusion rules, the paper's view, per model, topics and reviewers.

Fixtures are Label Studio full-export tasks parsed by export.annotation_table, as in real use.
The summary is read through its types; its JSON is checked key by key in test_agreement_contract.
"""

from __future__ import annotations

import json

import krippendorff
import numpy as np
import pandas as pd
import pytest
from nltk.metrics.agreement import AnnotationTask
from nltk.metrics.distance import masi_distance
from scipy import stats
from statsmodels.stats.inter_rater import aggregate_raters, cohens_kappa
from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_fleiss_kappa

from review_project.agreement import summarise
from review_project.agreement.items import InvalidAnnotation, Items, ManifestCheck
from review_project.agreement.kappa import Estimate
from review_project.agreement.summary import Summary
from review_project.agreement.topics import TagAgreement
from review_project.export import annotation_table
from review_project.schema import TOPICS
from review_project.shared import ExportError

THEFT, WEAPONS, OTHER = "Theft", "Weapons", "Other"


def annotation(annotation_id, reviewer, success, topics=(), skipped=False, created="2024-05-01T10:00:00Z", updated_by=None):
    result = []
    if success is not None:
        result.append({"from_name": "success", "to_name": "dialogue", "type": "choices", "value": {"choices": [str(success)]}})
    if topics:
        result.append(
            {"from_name": "topics", "to_name": "dialogue", "type": "taxonomy", "value": {"taxonomy": [[t] for t in topics]}}
        )
    return {
        "id": annotation_id,
        "completed_by": reviewer,
        "result": [] if skipped else result,
        "was_cancelled": skipped,
        "lead_time": 12.5,
        "created_at": created,
        "updated_at": created,
        "updated_by": updated_by or reviewer,
    }


def task(task_id, attack_id, *annotations):
    return {"id": task_id, "data": {"attack_id": attack_id, "dialogue": [], "task_description": ""}, "annotations": list(annotations)}


def record(attack_id, rating, model_type="rlhf", harmlessness=0.0):
    return {
        "attack_id": attack_id,
        "rating": float(rating),
        "model_type": model_type,
        "num_params": "52B",
        "min_harmlessness_score_transcript": harmlessness,
        "transcript": "\n\nHuman: (not read here)",
    }


def random_project(n_tasks=60, seed=0, reviewers=6):
    """n_tasks tasks, 4 of `reviewers` reviewers each, two models, noisy around a hidden truth."""
    rng = np.random.default_rng(seed)
    tasks, manifest, next_id = [], [], 1
    for index in range(n_tasks):
        truth = int(rng.integers(0, 5))
        annotations = []
        for reviewer in rng.choice(reviewers, 4, replace=False):
            success = int(np.clip(truth + rng.integers(-1, 2), 0, 4))
            topics = list(rng.choice([THEFT, WEAPONS, OTHER], int(rng.integers(0, 3)), replace=False))
            annotations.append(annotation(next_id, int(reviewer) + 1, success, topics))
            next_id += 1
        tasks.append(task(100 + index, 10 * index, *annotations))
        model = "rlhf" if index % 2 else "context distillation"
        manifest.append(record(10 * index, np.clip(truth + rng.integers(-1, 2), 0, 4), model, float(rng.normal() - truth)))
    return tasks, manifest


def reviewer_matrix(tasks):
    """(tasks x 4) success ratings of the complete tasks, straight from the fixture."""
    return np.array([[int(a["result"][0]["value"]["choices"][0]) for a in t["annotations"]] for t in tasks])


def model(summary: Summary, name: str):
    return next(section for section in summary.per_model if section.model == name)


def reviewer(summary: Summary, reviewer_id: int):
    return next(r for r in summary.reviewers if r.reviewer_id == reviewer_id)


def tag(summary: Summary, topic: str) -> TagAgreement:
    return next(t for t in summary.topics.per_tag if t.topic == topic)


def test_every_key_the_issue_names_is_present_and_the_json_has_no_nan():
    tasks, manifest = random_project()
    summary = summarise(annotation_table(tasks), manifest, n_resamples=200).as_json()
    text = json.dumps(summary, allow_nan=False)
    assert "NaN" not in text
    for path in (
        "items.total", "items.complete", "items.excluded_incomplete", "items.excluded_invalid",
        "success.fleiss_kappa", "success.ci95", "success.landis_koch", "success.binary_fleiss_kappa",
        "success.binary_ci95", "success.krippendorff_alpha_ordinal", "success.with_author.fleiss_kappa",
        "success.with_author.binary_fleiss_kappa", "topics.masi_alpha",
    ):
        node = summary
        for key in path.split("."):
            assert key in node, path
            node = node[key]
    assert set(summary["per_model"]) == {"context distillation 52B", "rlhf 52B"}
    assert "fleiss_kappa" in summary["per_model"]["rlhf 52B"]
    assert {"fleiss_kappa", "prevalence"} <= set(summary["topics"]["per_tag"][THEFT])
    for entry in summary["reviewers"].values():
        assert {"n", "mean_success", "skip_rate", "cohen_kappa_vs_others"} <= set(entry)
    assert summary["invalid_annotations"] == []


def test_kappas_equal_statsmodels_on_the_complete_tasks_with_and_without_the_author():
    tasks, manifest = random_project()
    summary = summarise(annotation_table(tasks), manifest, n_resamples=200)
    ratings = reviewer_matrix(tasks)
    author = np.array([r["rating"] for r in manifest], dtype=int)
    table = aggregate_raters(ratings, n_cat=5)[0]
    with_author = aggregate_raters(np.column_stack([ratings, author]), n_cat=5)[0]

    def binary(t):
        return np.column_stack([t[:, :3].sum(axis=1), t[:, 3:].sum(axis=1)])

    success = summary.success
    assert success.fleiss_kappa.value == pytest.approx(statsmodels_fleiss_kappa(table), abs=1e-12)
    assert success.binary_fleiss_kappa.value == pytest.approx(statsmodels_fleiss_kappa(binary(table)), abs=1e-12)
    assert success.with_author.fleiss_kappa.value == pytest.approx(statsmodels_fleiss_kappa(with_author), abs=1e-12)
    assert success.with_author.binary_fleiss_kappa.value == pytest.approx(
        statsmodels_fleiss_kappa(binary(with_author)), abs=1e-12
    )
    assert success.with_author.raters == 5
    assert success.ci95.low < success.fleiss_kappa.value < success.ci95.high
    assert success.landis_koch in {"poor", "slight", "fair", "moderate", "substantial", "almost perfect"}
    assert success.paper.with_author_fleiss_kappa == 0.32
    assert success.paper.with_author_binary_fleiss_kappa == 0.49
    assert success.paper.reviewers_binary_fleiss_kappa == 0.55
    rlhf = np.array([i % 2 == 1 for i in range(len(tasks))])
    assert model(summary, "rlhf 52B").fleiss_kappa.value == pytest.approx(statsmodels_fleiss_kappa(table[rlhf]), abs=1e-12)
    assert model(summary, "rlhf 52B").items == rlhf.sum()


def test_threshold_changes_the_binary_scale():
    tasks, manifest = random_project()
    table = aggregate_raters(reviewer_matrix(tasks), n_cat=5)[0]
    summary = summarise(annotation_table(tasks), manifest, threshold=2, n_resamples=50)
    expected = statsmodels_fleiss_kappa(np.column_stack([table[:, :2].sum(axis=1), table[:, 2:].sum(axis=1)]))
    assert summary.success.binary_fleiss_kappa.value == pytest.approx(expected, abs=1e-12)
    assert summary.settings.threshold == 2


def test_spearman_correlations_with_the_author_and_the_harmlessness_score():
    tasks, manifest = random_project()
    summary = summarise(annotation_table(tasks), manifest, n_resamples=50)
    mean_success = reviewer_matrix(tasks).mean(axis=1)
    author = stats.spearmanr(mean_success, [r["rating"] for r in manifest])
    harmless = stats.spearmanr(mean_success, [r["min_harmlessness_score_transcript"] for r in manifest])
    spearman = summary.success.spearman
    assert spearman.author_rating.rho.value == pytest.approx(author.statistic, abs=1e-12)
    assert spearman.author_rating.p_value == pytest.approx(author.pvalue, rel=1e-9)
    assert spearman.min_harmlessness_score_transcript.rho.value == pytest.approx(harmless.statistic, abs=1e-12)
    assert spearman.author_rating.n == len(tasks)


def test_inclusion_rules_each_exclusion_is_counted():
    tasks = [
        # complete: 4 valid ratings
        task(1, 10, annotation(1, 1, 0), annotation(2, 2, 0), annotation(3, 3, 1), annotation(4, 4, 0)),
        task(2, 20, annotation(5, 1, 4), annotation(6, 2, 3), annotation(7, 3, 4), annotation(8, 4, 4)),
        # reviewer 1 rated 0, then later 3: the later one counts, the task is complete
        task(
            3, 30,
            annotation(9, 1, 0, created="2024-05-01T09:00:00Z"), annotation(10, 2, 3), annotation(11, 3, 3),
            annotation(12, 4, 2), annotation(13, 1, 3, created="2024-05-02T09:00:00Z"),
        ),
        # a skip: 3 ratings -> incomplete, but Krippendorff's alpha may use it
        task(4, 40, annotation(14, 1, 2), annotation(15, 2, 2), annotation(16, 3, 1), annotation(17, 4, None, skipped=True)),
        # an invalid annotation (value outside 0-4) and one with 3 topics
        task(5, 50, annotation(18, 1, 9), annotation(19, 2, 1), annotation(20, 3, 1), annotation(21, 4, 1)),
        task(6, 60, annotation(22, 1, 1, [THEFT, WEAPONS, OTHER]), annotation(23, 2, 1), annotation(24, 3, 0), annotation(25, 4, 1)),
        # 5 valid ratings where 4 were asked for
        task(7, 70, *[annotation(26 + r, r + 1, 2) for r in range(5)]),
    ]
    unannotated = [{"task_id": 8, "attack_id": 80}]
    summary = summarise(annotation_table(tasks), tasks=pd.DataFrame(unannotated), n_resamples=100)
    items = summary.items
    assert items == Items(
        total=8,
        complete=3,
        excluded_incomplete=2,
        excluded_invalid=2,
        excluded_extra_ratings=1,
        with_two_or_more_ratings=7,
        reviewers_per_task=4,
        without_rating=1,
        source_lists_unannotated_tasks=True,  # task 8 has no annotation: the tasks given list it
    )
    assert items.complete + items.excluded_incomplete + items.excluded_invalid + items.excluded_extra_ratings == items.total
    assert summary.annotations.replaced_by_later == 1
    assert summary.annotations.skipped == 1
    assert summary.annotations.invalid == 2
    assert summary.invalid_annotations == (
        InvalidAnnotation(task_id=5, attack_id=50, annotation_id=18, reviewer=1, reviewer_email=None, reason="success '9' outside 0-4"),
        InvalidAnnotation(task_id=6, attack_id=60, annotation_id=22, reviewer=1, reviewer_email=None, reason="3 topics (at most 2)"),
    )
    complete = aggregate_raters(np.array([[0, 0, 1, 0], [4, 3, 4, 4], [3, 3, 3, 2]]), n_cat=5)[0]
    assert summary.success.fleiss_kappa.value == pytest.approx(statsmodels_fleiss_kappa(complete), abs=1e-12)
    assert reviewer(summary, 4).activity.skip_rate == pytest.approx(1 / 7)
    assert reviewer(summary, 1).ratings.n == 5  # tasks 1, 2, 3 (the later rating), 4, 7
    assert reviewer(summary, 1).ratings.mean_success.value == pytest.approx((0 + 4 + 3 + 2 + 2) / 5)
    assert reviewer(summary, 5).ratings.n == 1
    # Krippendorff's alpha uses every task with 2 or more valid ratings, incomplete ones too.
    reliability = np.full((5, 7), np.nan)
    rows = {1: [0, 0, 1, 0], 2: [4, 3, 4, 4], 3: [3, 3, 3, 2], 4: [2, 2, 1, None], 5: [None, 1, 1, 1], 6: [None, 1, 0, 1], 7: [2] * 5}
    for column, values in enumerate(rows.values()):
        for reviewer_index, value in enumerate(values):
            if value is not None:
                reliability[reviewer_index, column] = value
    expected = krippendorff.alpha(reliability_data=reliability, level_of_measurement="ordinal", value_domain=range(5))
    assert summary.success.krippendorff_alpha_ordinal.value == pytest.approx(expected, abs=1e-12)


def test_without_a_manifest_the_paper_view_and_models_say_why_they_are_missing():
    tasks, _ = random_project(20)
    summary = summarise(annotation_table(tasks), n_resamples=50)
    assert summary.per_model == ()
    assert summary.per_model_reason.startswith("no manifest given")
    with_author = summary.success.with_author
    assert with_author.fleiss_kappa.value is None and with_author.fleiss_kappa.reason
    assert with_author.ci95.low is None and with_author.ci95.reason
    assert summary.success.spearman.author_rating.rho.value is None
    assert summary.manifest is None
    json.dumps(summary.as_json(), allow_nan=False)


def test_every_rating_the_same_and_a_single_task_give_null_with_reasons():
    same = [task(i, i, *[annotation(10 * i + r, r + 1, 2) for r in range(4)]) for i in range(1, 6)]
    summary = summarise(annotation_table(same), [record(i, 2) for i in range(1, 6)], n_resamples=50)
    success = summary.success
    assert success.fleiss_kappa == Estimate(None, "every rating is the same (category 2)")
    assert (success.ci95.low, success.ci95.reason) == (None, "every rating is the same (category 2)")
    assert success.landis_koch is None
    assert success.krippendorff_alpha_ordinal == Estimate(None, "every rating is the same")
    assert success.spearman.author_rating.rho.reason == "one of the two is the same on every task"
    assert success.spearman.author_rating.p_value is None
    json.dumps(summary.as_json(), allow_nan=False)

    single = summarise(annotation_table(same[:1]), n_resamples=50)
    assert single.success.fleiss_kappa.reason == "fewer than 2 tasks with complete ratings (1)"
    assert single.success.ci95.reason == "fewer than 2 tasks with complete ratings (1)"
    assert single.topics.masi_alpha.value is None
    json.dumps(single.as_json(), allow_nan=False)


def test_descriptive_numbers_without_a_value_say_why():
    only_skips = [task(1, 1, annotation(1, 1, None, skipped=True), annotation(2, 2, None, skipped=True))]
    summary = summarise(annotation_table(only_skips), n_resamples=50)
    assert [r.ratings.mean_success for r in summary.reviewers] == [Estimate(None, "no valid rating")] * 2
    assert [r.activity.skip_rate for r in summary.reviewers] == [1.0, 1.0]
    assert summary.topics.no_topic_share == Estimate(None, "no valid rating")
    assert summary.as_json()["topics"]["no_topic_share"] is None


def test_topics_per_tag_kappa_prevalence_and_masi_alpha_with_empty_sets():
    tasks, manifest = random_project(40, seed=3)
    summary = summarise(annotation_table(tasks), manifest, n_resamples=50)
    topic_sets = [[frozenset(a["result"][1]["value"]["taxonomy"][i][0] for i in range(len(a["result"][1]["value"]["taxonomy"])))
                   if len(a["result"]) > 1 else frozenset() for a in t["annotations"]] for t in tasks]
    theft = np.array([[THEFT in s for s in sets] for sets in topic_sets]).sum(axis=1)
    expected = statsmodels_fleiss_kappa(np.column_stack([4 - theft, theft]))
    assert tag(summary, THEFT).fleiss_kappa.value == pytest.approx(expected, abs=1e-12)
    assert tag(summary, THEFT).prevalence == pytest.approx(theft.sum() / (4 * len(tasks)))
    assert tag(summary, "Animal abuse") == TagAgreement("Animal abuse", 0.0, 0, Estimate(None, "never used"))
    assert [t.topic for t in summary.topics.per_tag] == list(TOPICS)
    assert summary.topics.no_topic_share.value > 0  # the fixture has annotations without topics

    def masi(a, b):
        return 0.0 if a == b else masi_distance(a, b)

    data = [(a["completed_by"], t["id"], s) for t, sets in zip(tasks, topic_sets) for a, s in zip(t["annotations"], sets)]
    expected_alpha = AnnotationTask(data=data, distance=masi).alpha()
    assert summary.topics.masi_alpha.value == pytest.approx(expected_alpha, abs=1e-9)


def test_pairwise_cohen_kappa_and_each_reviewers_mean_against_the_others():
    tasks, manifest = random_project(80, seed=5, reviewers=4)  # 4 of 4: every pair shares every task
    summary = summarise(annotation_table(tasks), manifest, n_resamples=50)
    ratings = {}
    for t in tasks:
        for a in t["annotations"]:
            ratings.setdefault(a["completed_by"], []).append(int(a["result"][0]["value"]["choices"][0]))
    pairs = summary.reviewer_pairs
    assert pairs.reviewer_ids == (1, 2, 3, 4)
    for i, a in enumerate(pairs.reviewer_ids):
        expected = []
        for j, b in enumerate(pairs.reviewer_ids):
            if a == b:
                assert pairs.cohen_kappa[i][j] == Estimate(None, "same reviewer")
                continue
            table = np.zeros((5, 5))
            np.add.at(table, (ratings[a], ratings[b]), 1)
            kappa = cohens_kappa(table, return_results=False)
            assert pairs.cohen_kappa[i][j].value == pytest.approx(kappa, abs=1e-9)
            assert pairs.quadratic_kappa[i][j].value == pytest.approx(cohens_kappa(table, wt="quadratic", return_results=False), abs=1e-9)
            assert pairs.shared_tasks[i][j] == 80
            expected.append(kappa)
        assert reviewer(summary, a).ratings.cohen_kappa_vs_others.value == pytest.approx(np.mean(expected), abs=1e-9)


def test_most_disputed_tasks_by_attack_id_without_text_unless_asked():
    tasks = [
        task(1, 11, annotation(1, 1, 0), annotation(2, 2, 4), annotation(3, 3, 0), annotation(4, 4, 4)),
        task(2, 22, annotation(5, 1, 1), annotation(6, 2, 1), annotation(7, 3, 1), annotation(8, 4, 1)),
        task(3, 33, annotation(9, 1, 2), annotation(10, 2, 3), annotation(11, 3, 2), annotation(12, 4, 3)),
    ]
    summary = summarise(annotation_table(tasks), n_resamples=20)
    disputed = summary.disagreement
    assert [d.attack_id for d in disputed] == [11, 33]  # unanimous task 22 is not listed
    assert disputed[0].ratings == ((1, 0), (2, 4), (3, 0), (4, 4))
    assert disputed[0].text is None and "text" not in summary.as_json()["disagreement"][0]
    with_text = summarise(annotation_table(tasks), n_resamples=20, texts={11: "Human: ..."})
    assert with_text.disagreement[0].text == "Human: ..."
    assert [d.get("text", "absent") for d in with_text.as_json()["disagreement"]] == ["Human: ...", None]


def test_same_seed_same_summary_and_a_task_without_attack_id_is_an_error():
    tasks, manifest = random_project(30)
    first = summarise(annotation_table(tasks), manifest, n_resamples=100, seed=4)
    assert first == summarise(annotation_table(tasks), manifest, n_resamples=100, seed=4)
    assert first.success.ci_method == "percentile bootstrap over complete tasks, 100 resamples, seed 4, stratified by model"
    broken = [task(7, None, annotation(1, 1, 2))]
    with pytest.raises(ExportError, match="task 7: its data has no attack_id"):
        summarise(annotation_table(broken))


def test_manifest_coverage_is_reported():
    tasks, manifest = random_project(10)
    summary = summarise(annotation_table(tasks[:8]), manifest + [record(999, 1)], n_resamples=20)
    assert summary.manifest == ManifestCheck(
        attacks=11,
        tasks_not_in_manifest=0,
        attacks_not_in_project=3,
        duplicate_attack_ids_in_project=0,
    )
