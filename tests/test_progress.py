"""review_progress: fully reviewed, in progress, untouched, and per reviewer (no server)."""

from review_project.export import annotation_table
from review_project.progress import review_progress
from tests.test_export import ann


def test_progress_counts_tasks_and_reviewers():
    tasks = [
        {"id": 1, "data": {"attack_id": 0}, "annotations": [ann(1, 1), ann(2, 2)]},
        {"id": 2, "data": {"attack_id": 1}, "annotations": [ann(3, 1), ann(4, 2, cancelled=True, updated_at="2026-01-02T00:00:00Z")]},
        {"id": 3, "data": {"attack_id": 2}, "annotations": [ann(5, 2, cancelled=True)]},
        {"id": 4, "data": {"attack_id": 3}, "annotations": []},
    ]
    progress = review_progress(4, annotation_table(tasks, {1: "a@x", 2: "b@x"}), reviewers_per_task=2)
    assert (progress.fully_reviewed, progress.in_progress, progress.untouched) == (1, 2, 1)
    people = {p.email: p for p in progress.reviewers}
    assert (people["a@x"].submitted, people["a@x"].skipped) == (2, 0)
    assert (people["b@x"].submitted, people["b@x"].skipped) == (1, 2)
    assert people["b@x"].last_activity == "2026-01-02T00:00:00Z"


def test_a_later_annotation_of_the_same_task_replaces_the_earlier():
    tasks = [{"id": 1, "data": {"attack_id": 0}, "annotations": [
        ann(1, 1, cancelled=True, updated_at="2026-01-01T00:00:00Z"), ann(2, 1, updated_at="2026-01-03T00:00:00Z")]}]
    person = review_progress(1, annotation_table(tasks), 1).reviewers[0]
    assert (person.submitted, person.skipped) == (1, 0)


def test_status_and_agreement_take_the_same_latest_annotation():
    # Reviewer 1 annotates twice, then changes the FIRST annotation last: that one is the latest
    # by the one rule (export.latest_annotations), for status and agreement alike.
    from review_project.agreement.summary import summarise
    from review_project.export import latest_annotations, mark_latest

    first = ann(1, 1, success="4", updated_at="2026-01-05T00:00:00Z") | {"created_at": "2026-01-01T00:00:00Z"}
    second = ann(2, 1, cancelled=True, updated_at="2026-01-02T00:00:00Z") | {"created_at": "2026-01-02T00:00:00Z"}
    other = ann(3, 2, success="4")
    table = annotation_table([{"id": 1, "data": {"attack_id": 0}, "annotations": [first, second, other]}])
    latest, replaced = latest_annotations(table)
    assert (sorted(latest["annotation_id"]), replaced) == ([1, 3], 1)
    assert mark_latest(table)["latest"].tolist() == [True, False, True]
    person = next(p for p in review_progress(1, table, 2).reviewers if p.reviewer_id == 1)
    assert (person.submitted, person.skipped) == (1, 0)
    summary = summarise(table, reviewers_per_task=2, n_resamples=100).as_json()
    assert summary["annotations"]["replaced_by_later"] == 1
    assert summary["items"]["complete"] == 1 and summary["reviewers"]["1"]["mean_success"] == 4.0


def test_the_latest_rule_without_pandas_picks_what_latest_annotations_picks():
    # status from the ledger applies the latest rule in Python to the few tasks a reviewer
    # annotated more than once (progress.latest_rows); it must choose as export.latest_annotations does.
    import random

    import pandas as pd

    from review_project.export import latest_annotations
    from review_project.progress import latest_rows

    times = [None, "bad", "2026-01-01T00:00:05Z", "2026-01-01T00:00:05.500000Z", "2026-01-01T00:00:05+00:00",
             "2026-01-01T01:00:04+01:00", "2026-01-01T00:00:06", "2026-01-02T00:00:00.000001Z"]
    rng = random.Random(3)
    rows = [(rng.randint(1, 4), rng.randint(1, 3), annotation_id, rng.random() < 0.5, rng.choice(times), rng.choice(times))
            for annotation_id in rng.sample(range(1, 1000), 300)]
    table = pd.DataFrame(rows, columns=["task_id", "reviewer_id", "annotation_id", "skipped", "updated_at", "created_at"])
    expected = {tuple(r) for r in latest_annotations(table)[0][["task_id", "reviewer_id", "annotation_id", "skipped"]].itertuples(index=False)}
    assert {(t, r, a, bool(s)) for t, r, a, s in latest_rows(rows)} == expected


def test_members_with_no_work_are_listed_with_nothing_done():
    tasks = [{"id": 1, "data": {"attack_id": 0}, "annotations": [ann(1, 1)]}]
    progress = review_progress(1, annotation_table(tasks, {1: "a@x"}), 1, members={1: "a@x", 5: "idle@x"})
    assert [(p.reviewer_id, p.email, p.submitted, p.skipped, p.last_activity) for p in progress.reviewers][1] == (5, "idle@x", 0, 0, None)
    assert len(progress.reviewers) == 2
