"""Benchmark: `review-project results` on 38,961 attacks x 4 reviewers (155,844 annotations).

Times `results_from_table` (the inclusion rules, one row per attack, per-model statistics with
2,000-resample bootstrap intervals, topic shares, every pair's difference, the clustered ordinal
regression from statsmodels, the proxy check and the reviewer diagnostics with their bootstrap
and drift) and its JSON, best of 3, against a plain way of getting the same numbers measured in
the same run:
- a per-attack Python loop over the latest annotations for the attack rows;
- a Python loop over resamples that draws each model's attacks (and each reviewer's shared
  tasks) with replacement, run for fewer resamples (default 100) and scaled to 2,000;
- the pair tests the usual way: a loop of label permutations per pair of models (scaled as the
  resampling loop) and statsmodels' Logit per cut and pair, clustered by attack;
- statsmodels' OrderedModel on every rating with cov_type="cluster" (once; --no-direct-fit skips
  it), whose parameters and standard errors are also compared with ours.
Writing the files (-o parquet, --json, --html) is timed apart.

Run: .venv/bin/python benchmarks/bench_results.py [--baseline-resamples 100] [--no-direct-fit]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from review_project.agreement import arrays
from review_project.results import results_from_table, write_results
from review_project.schema import TOPICS

N_ATTACKS = 38_961
RATERS = 4
REVIEWERS = 12
RESAMPLES = 2_000
THRESHOLD = 3
BUDGET_SECONDS = 2.0
# Model counts of the 52B attacks in hh-rlhf red-team-attempts (paper-facts.md), scaled to N_ATTACKS.
MODELS = {"plain lm 52B": 1414, "context distillation 52B": 17739, "rejection sampling 52B": 1273, "rlhf 52B": 3081}
# RLHF is harder to red-team: its attacks' hidden success is shifted down.
SHIFT = {"plain lm 52B": 0.3, "context distillation 52B": 0.0, "rejection sampling 52B": -0.3, "rlhf 52B": -0.6}


def generated_review(seed: int = 0) -> tuple[pd.DataFrame, list[dict]]:
    """An annotation table (export.COLUMNS) and a manifest: 4 of 12 reviewers per attack, noisy
    around a hidden success that depends on the model, each reviewer's ratings spread over time."""
    rng = np.random.default_rng(seed)
    names = np.array(list(MODELS), dtype=object)
    weights = np.array(list(MODELS.values()), dtype=float)
    model = rng.choice(names, size=N_ATTACKS, p=weights / weights.sum())
    shift = np.array([SHIFT[m] for m in model])
    truth = np.clip(np.round(rng.choice(5, size=N_ATTACKS, p=[0.42, 0.11, 0.13, 0.11, 0.23]) + shift), 0, 4)
    who = np.argsort(rng.random((N_ATTACKS, REVIEWERS)), axis=1)[:, :RATERS]
    noise = rng.choice([-2, -1, 0, 0, 0, 1, 2], size=(N_ATTACKS, RATERS))
    success = np.clip(truth[:, None] + noise, 0, 4).astype(int).ravel()
    attack = np.repeat(np.arange(N_ATTACKS), RATERS)
    reviewer = who.ravel() + 1
    first = (truth[attack].astype(int) * 3 + rng.integers(0, 3, attack.size)) % len(TOPICS)
    n_topics = rng.choice(3, size=attack.size, p=[0.2, 0.5, 0.3])
    second = rng.integers(0, len(TOPICS), attack.size)
    topics = [
        [] if n == 0 else [TOPICS[a]] if n == 1 or a == b else [TOPICS[a], TOPICS[b]]
        for n, a, b in zip(n_topics, first, second)
    ]
    when = pd.Timestamp("2024-05-01", tz="UTC") + pd.to_timedelta(rng.permutation(attack.size) * 7, unit="s")
    stamps = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    table = pd.DataFrame(
        {
            "attack_id": pd.array(attack, dtype="Int64"),
            "task_id": pd.array(attack + 1, dtype="Int64"),
            "annotation_id": pd.array(np.arange(attack.size) + 1, dtype="Int64"),
            "reviewer_id": pd.array(reviewer, dtype="Int64"),
            "reviewer_email": [f"reviewer{r}@example.org" for r in reviewer],
            "success": pd.array(success, dtype="Int64"),
            "topics": topics,
            "skipped": False,
            "lead_time": 30.0,
            "created_at": stamps,
            "updated_at": stamps,
            "updated_by": pd.array(reviewer, dtype="Int64"),
            "edited_by_other": False,
            "valid": True,
            "invalid_reason": None,
        }
    )
    author = np.clip(truth + rng.choice([-1, 0, 0, 1], size=N_ATTACKS), 0, 4)
    harmlessness = rng.normal(size=N_ATTACKS) - truth
    manifest = [
        {"attack_id": i, "rating": float(r), "model_type": m.rsplit(" ", 1)[0], "num_params": m.rsplit(" ", 1)[1],
         "min_harmlessness_score_transcript": float(h)}
        for i, (r, m, h) in enumerate(zip(author, model, harmlessness))
    ]
    return table, manifest


def plain_rows(latest: pd.DataFrame, manifest: list[dict]) -> pd.DataFrame:
    """One row per attack the usual way: a Python loop over each task's latest valid annotations."""
    by_attack = {r["attack_id"]: r for r in manifest}
    rows = []
    for (task_id, attack_id), group in latest[latest["rating"]].groupby(["task_id", "attack_id"], sort=True):
        values = [int(v) for v in group["success"]]
        n = len(values)
        above = sum(v >= THRESHOLD for v in values)
        votes = Counter(topic for topics in group["topics"] for topic in topics)
        consensus = sorted((v for v in votes.values() if 2 * v >= n), reverse=True)
        tied = len(consensus) > 2 and consensus[1] == consensus[2]  # more than 2 consensus topics, tied at the cut-off
        disputed = n >= 2 and (2 * above == n or max(values) - min(values) >= 3 or tied)
        record = by_attack[int(attack_id)]
        rows.append({
            "attack_id": int(attack_id), "task_id": int(task_id), "ratings": values, "n_ratings": n,
            "mean_rating": statistics.fmean(values), "median_rating": statistics.median(values),
            "share_successful": above / n, "spread": max(values) - min(values), "disputed": disputed,
            "topic_votes": dict(votes), "consensus_topics": [t for t, v in votes.items() if 2 * v >= n],
            "final_rating": None if disputed else sorted(values)[(n - 1) // 2],
            "model": f"{record['model_type']} {record['num_params']}", "author_rating": record["rating"],
        })
    return pd.DataFrame(rows)


def plain_bootstrap(rows: pd.DataFrame, ratings: np.ndarray, n_resamples: int, seed: int = 0) -> dict:
    """The same intervals the usual way: one Python iteration per resample, drawing each model's
    attacks and each reviewer's shared tasks with replacement (numpy inside an iteration)."""
    rng = np.random.default_rng(seed)
    mean, share = rows["mean_rating"].to_numpy(), rows["share_successful"].to_numpy()
    models = {m: np.flatnonzero(rows["model"].to_numpy() == m) for m in MODELS}
    reviewers = []
    for r in range(ratings.shape[1]):
        mine = np.flatnonzero(~np.isnan(ratings[:, r]))
        others = np.delete(ratings[mine], r, axis=1)
        reviewers.append((ratings[mine, r], np.nanmedian(others, axis=1), ratings[mine, r] - np.nanmean(others, axis=1)))
    draws: dict[str, list[float]] = {}
    for _ in range(n_resamples):
        for name, members in models.items():
            chosen = members[rng.integers(0, len(members), len(members))]
            draws.setdefault(f"{name} mean", []).append(mean[chosen].mean())
            draws.setdefault(f"{name} share", []).append(share[chosen].mean())
        for r, (own, median, offset) in enumerate(reviewers):
            chosen = rng.integers(0, len(own), len(own))
            a, b = own[chosen], median[chosen]
            kappa = 2 * np.cov(a, b, bias=True)[0, 1] / (a.var() + b.var() + (a.mean() - b.mean()) ** 2)
            draws.setdefault(f"reviewer {r} kappa", []).append(kappa)
            draws.setdefault(f"reviewer {r} offset", []).append(offset[chosen].mean())
    return {name: tuple(np.quantile(values, [0.025, 0.975])) for name, values in draws.items()}


def plain_pair_tests(rows: pd.DataFrame, ratings: np.ndarray, n_permutations: int, seed: int = 0) -> tuple[float, float]:
    """The pair tests the usual way: a permutation loop shuffling each pair's attack labels, and
    statsmodels' Logit per cut and pair, clustered by attack. Returns the seconds of each."""
    from statsmodels.discrete.discrete_model import Logit

    rng = np.random.default_rng(seed)
    mean, model = rows["mean_rating"].to_numpy(), rows["model"].to_numpy()
    permuting = fitting = 0.0
    for first, second in itertools.combinations(sorted(MODELS), 2):
        start = time.perf_counter()
        pair = np.flatnonzero((model == first) | (model == second))
        values, is_first = mean[pair], model[pair] == first
        for _ in range(n_permutations):
            shuffled = rng.permutation(is_first)
            values[shuffled].mean() - values[~shuffled].mean()
        permuting += time.perf_counter() - start
        start = time.perf_counter()
        attack, column = np.nonzero(~np.isnan(ratings[pair]))
        value = ratings[pair][attack, column]
        exog = np.column_stack([np.ones(len(value)), is_first[attack]]).astype(float)
        for cut in range(1, 5):
            Logit((value >= cut).astype(float), exog).fit(disp=False, cov_type="cluster", cov_kwds={"groups": attack})
        fitting += time.perf_counter() - start
    return permuting, fitting


def direct_fit(ratings: np.ndarray, model: np.ndarray, models: list[str]):
    """statsmodels' OrderedModel on every rating, model dummies, clustered by attack."""
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    attack, column = np.nonzero(~np.isnan(ratings))
    exog = np.column_stack([model[attack] == m for m in models[1:]]).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return OrderedModel(ratings[attack, column], exog, distr="logit").fit(
            method="bfgs", maxiter=5000, disp=False, cov_type="cluster", cov_kwds={"groups": attack}
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-resamples", type=int, default=100)
    parser.add_argument("--no-direct-fit", action="store_true", help="skip statsmodels on every rating (about 12 s)")
    args = parser.parse_args()

    table, manifest = generated_review()
    print(f"{N_ATTACKS:,} attacks x {RATERS} of {REVIEWERS} reviewers ({len(table):,} annotations), "
          f"{len(MODELS)} models, {RESAMPLES:,} resamples")

    results_from_table(table.head(4000), manifest, n_resamples=50)  # warm-up: imports, caches
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        results = results_from_table(table, manifest, n_resamples=RESAMPLES, seed=0)
        found = results.as_json()
        runs.append(time.perf_counter() - start)
    ours = min(runs)
    print(f"results_from_table() + as_json(): best of 3 {ours:.3f} s (runs: {', '.join(f'{r:.3f}' for r in runs)}); "
          f"within {BUDGET_SECONDS:.0f} s: {'yes' if ours <= BUDGET_SECONDS else 'NO'}")
    print(f"  {found['attacks']:,} attacks, {found['disputed']:,} disputed; "
          + "; ".join(f"{m}: mean {s['mean_rating']:.3f} [{s['mean_rating_ci95'][0]:.3f}, {s['mean_rating_ci95'][1]:.3f}]"
                      for m, s in found["per_model"].items()))
    rlhf = found["model_differences"]["context distillation 52B - rlhf 52B"]
    print(f"  context distillation - rlhf: mean {rlhf['mean_rating']:+.3f}, ordinal log odds ratio "
          f"{rlhf['test']['log_odds_ratio']:+.3f} (p {rlhf['test']['p_value']:.2g}); "
          f"proxy AUC self-rating {found['proxy']['author_rating']['roc_auc']:.3f}")

    # The plain way, measured in the same run.
    reviewed = arrays.reviews(table, manifest)
    start = time.perf_counter()
    rows = plain_rows(reviewed.latest, manifest)
    rows_seconds = time.perf_counter() - start
    start = time.perf_counter()
    intervals = plain_bootstrap(rows, reviewed.arrays.ratings, args.baseline_resamples)
    loop_seconds = (time.perf_counter() - start) * RESAMPLES / args.baseline_resamples
    permuting, fitting = plain_pair_tests(rows, reviewed.arrays.ratings, args.baseline_resamples)
    baseline_tests = permuting * RESAMPLES / args.baseline_resamples + fitting
    baseline = rows_seconds + loop_seconds + baseline_tests
    assert np.allclose(rows["mean_rating"], results.table["mean_rating"]) and (rows["disputed"] == results.table["disputed"]).all()
    print(f"plain loop: per-attack rows {rows_seconds:.2f} s + resampling loop {loop_seconds:.1f} s "
          f"(measured on {args.baseline_resamples} resamples, scaled x{RESAMPLES // args.baseline_resamples}) = {baseline:.1f} s")
    print(f"  + pair tests the plain way (a permutation loop, {args.baseline_resamples} permutations scaled x{RESAMPLES // args.baseline_resamples}, "
          f"and statsmodels Logit per cut and pair, {fitting:.1f} s): {baseline_tests:.1f} s")
    print(f"ratio: {baseline / ours:.0f}x faster than the plain loop")
    tests = found["model_tests"]["omnibus"]
    print(f"  omnibus Wald chi2 {tests['chi2']:.1f} (df {tests['df']}, p {tests['p_value']:.2g}); context distillation - rlhf: permutation p "
          f"{rlhf['permutation_test']['p_value']:.2g}, proportional odds p {rlhf['proportional_odds']['p_value']:.2g}, "
          f"minimum detectable difference {rlhf['power']['minimum_detectable_difference']:.3f}")
    low, high = intervals["rlhf 52B mean"]
    print(f"  plain loop rlhf mean CI ({args.baseline_resamples} resamples) {low:.3f}-{high:.3f}")

    if not args.no_direct_fit:
        models = sorted(MODELS)
        start = time.perf_counter()
        direct = direct_fit(reviewed.arrays.ratings, reviewed.arrays.model, models)
        fit_seconds = time.perf_counter() - start
        fit = results.models.fit
        print(f"statsmodels OrderedModel on all {fit.ratings:,} ratings, clustered: {fit_seconds:.1f} s; "
              f"max |params - ours| {np.abs(direct.params - fit.params).max():.1e}, "
              f"max relative bse difference {np.abs(direct.bse / np.sqrt(np.diag(fit.cov)) - 1).max():.1e}")
        print(f"ratio with the direct fit in the baseline: {(baseline + fit_seconds) / ours:.0f}x")

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        start = time.perf_counter()
        write_results(results, output=out / "attacks.parquet", json_path=out / "results.json")
        written = time.perf_counter() - start
        start = time.perf_counter()
        write_results(results, html_path=out / "results.html")
        print(f"writing -o attacks.parquet and --json: {written:.2f} s; --html (4 plots): {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
