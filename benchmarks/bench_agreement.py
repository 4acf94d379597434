"""Benchmark: every agreement statistic of `review-project agreement` on 38,961 tasks x 4 reviewers.

Times `agreement.summary.statistics` (the headline over every task with 2+ ratings: ICC(2,1)
and ICC(2,k) with F intervals, Gwet's AC1/AC2 and Fleiss' kappa for a varying number of ratings
with Gwet's variance, overall and per model, and the per-model kappa differences with a
2,000-resample bootstrap; the paper's equal-n Fleiss' kappa raw/binary/with the author,
per-category kappa, Krippendorff's alpha ordinal/nominal/binary, percent agreement, pairwise
Cohen's kappa unweighted and quadratic, per-tag kappa, MASI alpha, Spearman correlations, and
2,000-resample bootstrap intervals for overall, binary, with-author and per-model kappa), and
the measures over every task with 2+ ratings and the model differences alone (their share of statistics()), against a baseline
that gets the same 20 kappa intervals the usual way: statsmodels' fleiss_kappa
in a Python loop over resamples (count tables built once, indexed per resample). The baseline
runs fewer resamples (default 100) and its time is scaled to 2,000; the output says so.

Run: .venv/bin/python benchmarks/bench_agreement.py [--baseline-resamples 100]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

from review_project.agreement.arrays import ReviewedTasks
from review_project.agreement.kappa import count_table, fleiss_kappa_interval
from review_project.agreement.models import model_kappa_differences
from review_project.agreement.success import all_task_measures
from review_project.agreement.summary import statistics, summarise
from review_project.schema import TOPICS

N_TASKS = 38_961
RATERS = 4
REVIEWERS = 12
RESAMPLES = 2_000
THRESHOLD = 3
# Model counts of the 52B attacks in hh-rlhf red-team-attempts (paper-facts.md), scaled to N_TASKS.
MODELS = {"plain lm 52B": 1414, "context distillation 52B": 17739, "rejection sampling 52B": 1273, "rlhf 52B": 3081}


def generated_project(seed: int = 0) -> ReviewedTasks:
    """A review of N_TASKS attacks, 4 of 12 reviewers each, noisy around a hidden true success."""
    rng = np.random.default_rng(seed)
    truth = rng.choice(5, size=N_TASKS, p=[0.42, 0.11, 0.13, 0.11, 0.23])
    ratings = np.full((N_TASKS, REVIEWERS), np.nan)
    who = np.argsort(rng.random((N_TASKS, REVIEWERS)), axis=1)[:, :RATERS]
    noise = rng.choice([-2, -1, 0, 0, 0, 1, 2], size=(N_TASKS, RATERS))
    ratings[np.arange(N_TASKS)[:, None], who] = np.clip(truth[:, None] + noise, 0, 4)
    rated_task, _ = np.nonzero(~np.isnan(ratings))
    n_topics = rng.choice(3, size=rated_task.size, p=[0.2, 0.5, 0.3])
    members = np.zeros((rated_task.size, len(TOPICS)), dtype=bool)
    first = (truth[rated_task] * 3 + rng.integers(0, 3, rated_task.size)) % len(TOPICS)
    second = rng.integers(0, len(TOPICS), rated_task.size)
    members[np.arange(rated_task.size), first] = n_topics >= 1
    members[np.arange(rated_task.size), second] |= n_topics == 2
    weights = np.array(list(MODELS.values()), dtype=float)
    model = rng.choice(np.array(list(MODELS), dtype=object), size=N_TASKS, p=weights / weights.sum())
    return ReviewedTasks(
        task_id=np.arange(N_TASKS) + 1,
        attack_id=rng.permutation(N_TASKS),
        ratings=ratings,
        reviewer_ids=np.arange(REVIEWERS) + 1,
        invalid=np.zeros(N_TASKS, dtype=np.int64),
        topic_task=rated_task,
        topic_members=members,
        author=np.clip(truth + rng.choice([-1, 0, 0, 1], size=N_TASKS), 0, 4).astype(float),
        harmlessness=rng.normal(size=N_TASKS) - truth,
        model=model,
    )


def annotation_rows(project: ReviewedTasks) -> tuple[pd.DataFrame, list[dict]]:
    """The same project as an annotation table (export.COLUMNS) and a manifest."""
    task, reviewer = np.nonzero(~np.isnan(project.ratings))
    topics = [[TOPICS[t] for t in np.flatnonzero(row)] for row in project.topic_members]
    table = pd.DataFrame(
        {
            "attack_id": pd.array(project.attack_id[task], dtype="Int64"),
            "task_id": pd.array(project.task_id[task], dtype="Int64"),
            "annotation_id": pd.array(np.arange(task.size) + 1, dtype="Int64"),
            "reviewer_id": pd.array(project.reviewer_ids[reviewer], dtype="Int64"),
            "reviewer_email": [f"reviewer{r}@example.org" for r in project.reviewer_ids[reviewer]],
            "success": pd.array(project.ratings[task, reviewer].astype(int), dtype="Int64"),
            "topics": topics,
            "skipped": False,
            "lead_time": 30.0,
            "created_at": "2024-05-01T10:00:00Z",
            "updated_at": "2024-05-01T10:00:00Z",
            "updated_by": pd.array(project.reviewer_ids[reviewer], dtype="Int64"),
            "edited_by_other": False,
            "valid": True,
            "invalid_reason": None,
        }
    )
    manifest = [
        {
            "attack_id": int(a),
            "rating": float(r),
            "model_type": m.rsplit(" ", 1)[0],
            "num_params": m.rsplit(" ", 1)[1],
            "min_harmlessness_score_transcript": float(h),
        }
        for a, r, m, h in zip(project.attack_id, project.author, project.model, project.harmlessness)
    ]
    return table, manifest


def baseline(project: ReviewedTasks, n_resamples: int, seed: int = 0) -> dict[str, tuple[float, float]]:
    """The same 20 kappa intervals the usual way: count tables built once (aggregate_raters),
    then one Python iteration per resample that indexes them and calls statsmodels' fleiss_kappa."""
    rows = np.flatnonzero((~np.isnan(project.ratings)).sum(axis=1) == RATERS)
    given = ~np.isnan(project.ratings[rows])
    reviewers_only = project.ratings[rows][given].reshape(len(rows), RATERS).astype(int)
    with_author = np.column_stack([reviewers_only, project.author[rows].astype(int)])
    tables = {}
    for name, matrix in (("", reviewers_only), (" with author", with_author)):
        table = aggregate_raters(matrix, n_cat=5)[0]
        tables[name] = table
        tables[f"{name} binary"] = np.column_stack([table[:, :THRESHOLD].sum(axis=1), table[:, THRESHOLD:].sum(axis=1)])
    model = project.model[rows]
    strata = [np.flatnonzero(model == m) for m in MODELS]
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {}
    for _ in range(n_resamples):
        parts = [members[rng.integers(0, len(members), len(members))] for members in strata]
        sections = dict(zip(MODELS, parts))
        sections["overall"] = np.concatenate(parts)
        for section, chosen in sections.items():
            for statistic, table in tables.items():
                draws.setdefault(f"{section}{statistic}", []).append(fleiss_kappa(table[chosen]))
    return {name: tuple(np.quantile(values, [0.025, 0.975])) for name, values in draws.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-resamples", type=int, default=100)
    args = parser.parse_args()

    project = generated_project()
    print(f"{N_TASKS:,} tasks x {RATERS} of {REVIEWERS} reviewers, {len(MODELS)} models, {RESAMPLES:,} resamples")

    statistics(project, RATERS, THRESHOLD, n_resamples=50)  # warm-up: imports, caches
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        result = statistics(project, RATERS, THRESHOLD, n_resamples=RESAMPLES, seed=0)
        runs.append(time.perf_counter() - start)
    ours = min(runs)
    success = result.success
    print(f"statistics(): best of 3 {ours:.3f} s (runs: {', '.join(f'{r:.3f}' for r in runs)})")
    print(
        f"  kappa {success.fleiss_kappa.value:.4f} CI {success.ci95.low:.4f}-{success.ci95.high:.4f}; "
        f"binary {success.binary_fleiss_kappa.value:.4f}; with author {success.with_author.fleiss_kappa.value:.4f}; "
        f"alpha ordinal {success.krippendorff_alpha_ordinal.value:.4f}; MASI alpha {result.topics.masi_alpha.value:.4f}"
    )

    print(
        f"  ordinal first: ICC(2,1) {success.icc.icc_2_1.value:.4f} (n={success.icc.n}, k={success.icc.k}); "
        f"AC2 ordinal {success.gwet_ac2_ordinal.value.value:.4f}; AC1 {success.gwet_ac1.value.value:.4f}; "
        f"kappa all tasks {success.fleiss_kappa_all_tasks.value.value:.4f}"
    )
    counts = count_table(project.ratings, 5)
    pairable = counts.sum(axis=1) >= 2
    model_code, _ = pd.factorize(project.model, sort=True)

    def per_model():
        for code in range(len(MODELS)):
            rows = model_code == code
            all_task_measures(counts[rows & pairable], project.ratings[rows], THRESHOLD)

    alone = {
        "ICC(2,1) and ICC(2,k)": lambda: all_task_measures(counts[pairable][:0], project.ratings, THRESHOLD)["icc"],
        "Gwet's AC2, AC1, Fleiss' kappa all tasks (raw, binary)": lambda: all_task_measures(counts[pairable], project.ratings[:0], THRESHOLD),
        "the same per model (4 models)": per_model,
        "per-model kappa differences (bootstrap, 2,000)": lambda: model_kappa_differences(
            counts[pairable], model_code[pairable], result.per_model, THRESHOLD, RESAMPLES, 0
        ),
    }
    for name, run in alone.items():
        times = []
        for _ in range(5):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        print(f"  alone: {name}: {min(times) * 1000:.1f} ms, {min(times) / ours * 100:.0f}% of statistics()")

    start = time.perf_counter()
    reference = baseline(project, args.baseline_resamples)
    measured = time.perf_counter() - start
    scaled = measured * RESAMPLES / args.baseline_resamples
    print(
        f"baseline (count tables indexed per resample + statsmodels fleiss_kappa in a Python loop, same {len(reference)} kappa intervals): "
        f"{measured:.3f} s for {args.baseline_resamples} resamples, scaled x{RESAMPLES // args.baseline_resamples} "
        f"to {RESAMPLES:,} resamples = {scaled:.2f} s"
    )
    print(f"ratio: {scaled / ours:.1f}x faster (target >= 50x); under 1 s: {'yes' if ours < 1 else 'NO'}")
    low, high = reference["overall"]
    print(f"  baseline overall kappa CI ({args.baseline_resamples} resamples) {low:.4f}-{high:.4f}")

    # Like for like: one interval (overall raw kappa, 2,000 resamples) each way.
    complete = (~np.isnan(project.ratings)).sum(axis=1) == RATERS
    counts = count_table(project.ratings[complete], 5)
    single = []
    for _ in range(3):
        start = time.perf_counter()
        fleiss_kappa_interval(counts, RESAMPLES, seed=0)
        single.append(time.perf_counter() - start)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(args.baseline_resamples):
        fleiss_kappa(counts[rng.integers(0, len(counts), len(counts))])
    one_scaled = (time.perf_counter() - start) * RESAMPLES / args.baseline_resamples
    print(
        f"one interval (overall kappa): fleiss_kappa_interval {min(single) * 1000:.1f} ms vs statsmodels loop "
        f"{one_scaled:.2f} s (scaled from {args.baseline_resamples} resamples): {one_scaled / min(single):.0f}x"
    )

    table, manifest = annotation_rows(project)
    start = time.perf_counter()
    summarise(table, manifest, reviewers_per_task=RATERS, threshold=THRESHOLD, n_resamples=RESAMPLES)
    print(f"end to end from the {len(table):,}-row annotation table (summarise()): {time.perf_counter() - start:.3f} s")


if __name__ == "__main__":
    main()
