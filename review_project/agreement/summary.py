"""The agreement summary a lead reads: every statistic, and how each task and annotation counted.

`summarise` returns a JSON-ready dict (no NaN anywhere: an undefined statistic is None beside a
`<name>_reason`); `statistics` is its numeric part over plain arrays (agreement.arrays), which
the benchmark times alone. Pure: no I/O.

Which ratings each statistic uses:
- Fleiss' kappa, its interval, per-tag kappa and the paper's view use only complete tasks
  (exactly `reviewers_per_task` valid ratings); Krippendorff's alpha, percent agreement on
  pairs and pairwise Cohen's kappa use every task with 2 or more valid ratings;
- every task is counted once in `items`: complete + excluded_incomplete + excluded_invalid
  (short of ratings because an annotation was invalid) + excluded_extra_ratings = total.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from review_project.agreement import arrays
from review_project.agreement import kappa as agreement
from review_project.agreement.arrays import ReviewedTasks
from review_project.schema import SUCCESS_VALUES, TOPICS

N_CATEGORIES = len(SUCCESS_VALUES)
N_AUTHOR = 1  # the red team member's own self-rating counts as one more rater

# Ganguli et al. 2022, section 3.5 (Fleiss' kappa, no intervals given).
PAPER = {
    "with_author_fleiss_kappa": 0.32,
    "with_author_binary_fleiss_kappa": 0.49,
    "reviewers_binary_fleiss_kappa": 0.55,
    "reviewers": 3,
    "source": "Ganguli et al. 2022, Red Teaming Language Models to Reduce Harms, section 3.5",
}


def _put(section: dict, name: str, estimate: agreement.Estimate) -> None:
    section[name] = estimate.value
    section[f"{name}_reason"] = estimate.reason


def _author_category(author: np.ndarray) -> np.ndarray:
    """Self-ratings as categories 0..4, -1 where unknown or not a whole number 0-4."""
    usable = np.isfinite(author) & (author == np.round(author)) & (author >= 0) & (author < N_CATEGORIES)
    return np.where(usable, np.nan_to_num(author), -1).astype(np.int64)


def _with_author(counts: np.ndarray, author: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts with the author's rating added, and which rows have one. counts (M, K), author (M,)."""
    known = author >= 0
    added = counts[known].copy()
    added[np.arange(known.sum()), author[known]] += 1
    return added, known


STATISTICS = ("raw", "binary", "with_author", "with_author_binary")
NO_AUTHOR = "no author self-rating for these tasks (it comes from the sample manifest: --manifest)"


def _kappa_section(counts, author, intervals: dict | None, threshold: int) -> dict:
    """Fleiss' kappa (raw, binary, with the author) of complete tasks, with their intervals.

    counts : (M, K) complete tasks; author : (M,) categories or -1; intervals : one
    agreement.Interval per name of STATISTICS, or None when there was no bootstrap.
    """
    section: dict = {"items": int(len(counts))}
    _put(section, "fleiss_kappa", agreement.fleiss_kappa(counts))
    section["landis_koch"] = agreement.landis_koch(section["fleiss_kappa"])
    _put(section, "binary_fleiss_kappa", agreement.fleiss_kappa(agreement.binarise(counts, threshold)))
    section["binary_landis_koch"] = agreement.landis_koch(section["binary_fleiss_kappa"])
    with_author, known = _with_author(counts, author)
    author_section: dict = {"items": int(known.sum()), "raters": int(counts[0].sum() + N_AUTHOR) if len(counts) else None}
    _put(author_section, "fleiss_kappa", agreement.fleiss_kappa(with_author))
    author_section["landis_koch"] = agreement.landis_koch(author_section["fleiss_kappa"])
    _put(author_section, "binary_fleiss_kappa", agreement.fleiss_kappa(agreement.binarise(with_author, threshold)))
    if len(counts) and not known.any():
        for name in ("fleiss_kappa", "binary_fleiss_kappa"):
            author_section[f"{name}_reason"] = NO_AUTHOR
    author_section["binary_landis_koch"] = agreement.landis_koch(author_section["binary_fleiss_kappa"])
    too_few = agreement.Interval(None, None, f"fewer than 2 tasks with complete ratings ({len(counts)})")
    intervals = intervals or dict.fromkeys(STATISTICS, too_few)
    for target, point, name, statistic in (
        (section, "fleiss_kappa", "ci95", "raw"),
        (section, "binary_fleiss_kappa", "binary_ci95", "binary"),
        (author_section, "fleiss_kappa", "ci95", "with_author"),
        (author_section, "binary_fleiss_kappa", "binary_ci95", "with_author_binary"),
    ):
        interval = intervals[statistic]
        if target[point] is None:
            interval = agreement.Interval(None, None, target[f"{point}_reason"])
        target[name] = interval.as_list()
        target[f"{name}_reason"] = interval.reason
    section["with_author"] = author_section
    return section


def _bootstrap_intervals(counts, author, model_code, n_models: int, threshold: int, n_resamples: int, seed: int) -> list[dict]:
    """Intervals of every STATISTICS for the whole sample (entry 0) and each model (1..n_models).

    counts : (M, K) complete tasks; author : (M,); model_code : (M,), n_models = unknown.
    One stratified resampling serves all; one matrix product gives every kappa of every resample.
    """
    keys = np.column_stack([counts, author])
    draws = agreement.resample_tasks(keys, n_resamples, seed, model_code if n_models else None)
    rows, known = draws.rows[:, :N_CATEGORIES], draws.rows[:, N_CATEGORIES] >= 0
    with_author = rows.copy()
    with_author[known, draws.rows[known, N_CATEGORIES]] += 1
    with_author[~known] = 0

    def padded(table):
        return np.pad(agreement.binarise(table, threshold), ((0, 0), (0, N_CATEGORIES - 2)))

    tables = np.stack([rows, padded(rows), with_author, padded(with_author)])  # (4, D, K)
    masks = [np.ones(len(rows), dtype=bool)] + [draws.stratum == code for code in range(n_models)]
    stacked = np.concatenate([tables * mask[None, :, None] for mask in masks])  # (4 * sections, D, K)
    kappas = agreement.fleiss_kappa_resampled(stacked, draws.weights).reshape(len(masks), len(STATISTICS), -1)
    return [
        {name: agreement.percentile_interval(section[i]) for i, name in enumerate(STATISTICS)}
        for section in kappas
    ]


def _spearman(x: np.ndarray, y: np.ndarray) -> dict:
    both = np.isfinite(x) & np.isfinite(y)
    x, y = x[both], y[both]
    result = {"n": int(both.sum()), "rho": None, "p_value": None, "rho_reason": None}
    if both.sum() < 3:
        result["rho_reason"] = f"fewer than 3 tasks with both values ({int(both.sum())})"
    elif np.ptp(x) == 0 or np.ptp(y) == 0:
        result["rho_reason"] = "one of the two is the same on every task"
    else:
        rho, p_value = stats.spearmanr(x, y)
        result["rho"], result["p_value"] = float(rho), float(p_value)
    return result


def _topic_section(tasks: ReviewedTasks, complete: np.ndarray, reviewers_per_task: int) -> dict:
    members = tasks.topic_members
    n_tasks, n_topics = len(tasks.task_id), members.shape[1]
    rated, tagged = np.nonzero(members)
    per_task = np.bincount(tasks.topic_task[rated] * n_topics + tagged, minlength=n_tasks * n_topics)
    present = per_task.reshape(n_tasks, n_topics)[complete]
    n_ratings = len(members)
    kappas = agreement.binary_fleiss_kappas(present, reviewers_per_task) if reviewers_per_task >= 2 else []
    prevalence = members.sum(axis=0) / n_ratings if n_ratings else np.zeros(n_topics)
    per_tag = {}
    for index, topic in enumerate(TOPICS):
        entry = {"prevalence": float(prevalence[index]), "uses": int(members[:, index].sum())}
        _put(entry, "fleiss_kappa", kappas[index] if kappas else agreement.Estimate(None, "fewer than 2 reviewers per task"))
        per_tag[topic] = entry
    section: dict = {"ratings": int(n_ratings), "no_topic_share": float((members.sum(axis=1) == 0).mean()) if n_ratings else None}
    section["per_tag"] = per_tag
    _put(section, "masi_alpha", agreement.masi_alpha(tasks.topic_task, members))
    return section


def _pair_section(tasks: ReviewedTasks) -> tuple[dict, dict]:
    """Reviewer-by-reviewer Cohen's kappa, and each reviewer's shared-task-weighted mean of it."""
    ids = [str(i) for i in tasks.reviewer_ids]
    pairs: dict = {"reviewers": ids}
    per_reviewer: dict = {}
    matrices = {}
    joint = agreement.pair_tables(tasks.ratings, N_CATEGORIES)
    for weights, name in (("none", "cohen_kappa"), ("quadratic", "quadratic_kappa")):
        # shared and reasons do not depend on the weights.
        kappa, shared, reasons = agreement.cohen_kappa_from_tables(joint, weights)
        matrices[name] = kappa
        pairs[name] = [[None if np.isnan(v) else float(v) for v in row] for row in kappa]
    pairs["shared_tasks"] = shared.tolist()
    pairs["reasons"] = reasons.tolist()
    for index, reviewer in enumerate(ids):
        entry = {}
        for name, kappa in matrices.items():
            row = kappa[index]
            weight = np.where(np.isnan(row), 0, shared[index])
            if weight.sum() == 0:
                entry[f"{name}_vs_others"] = None
                entry[f"{name}_vs_others_reason"] = "no other reviewer with a defined kappa on shared tasks"
            else:
                entry[f"{name}_vs_others"] = float(np.nansum(row * weight) / weight.sum())
                entry[f"{name}_vs_others_reason"] = None
        per_reviewer[reviewer] = entry
    return pairs, per_reviewer


def statistics(
    tasks: ReviewedTasks,
    reviewers_per_task: int = 4,
    threshold: int = 3,
    n_resamples: int = 2000,
    seed: int = 0,
    top_disagreements: int = 20,
) -> dict:
    """Every agreement statistic of the summary, from arrays (no pandas, no I/O)."""
    counts = agreement.count_table(tasks.ratings, N_CATEGORIES)
    n_valid = counts.sum(axis=1)
    complete = n_valid == reviewers_per_task
    author = _author_category(tasks.author)
    # factorize codes known models 0..; None becomes -1, mapped to its own stratum below.
    model_code, models = pd.factorize(tasks.model, sort=True)
    models = [str(m) for m in models]
    model_code = np.where(model_code < 0, len(models), model_code).astype(np.int64)

    items = {
        "total": int(len(n_valid)),
        "complete": int(complete.sum()),
        "excluded_incomplete": int(((n_valid < reviewers_per_task) & (tasks.invalid == 0)).sum()),
        "excluded_invalid": int(((n_valid < reviewers_per_task) & (tasks.invalid > 0)).sum()),
        "excluded_extra_ratings": int((n_valid > reviewers_per_task).sum()),
        "with_two_or_more_ratings": int((n_valid >= 2).sum()),
        "reviewers_per_task": reviewers_per_task,
    }

    # One stratified bootstrap (by model when known: the sample's design) serves every interval.
    intervals = None
    if complete.sum() >= 2:
        intervals = _bootstrap_intervals(
            counts[complete], author[complete], model_code[complete], len(models), threshold, n_resamples, seed
        )
    success = _kappa_section(counts[complete], author[complete], intervals[0] if intervals else None, threshold)
    success.pop("items")
    success["per_category_kappa"] = {}
    for value, estimate in zip(SUCCESS_VALUES, agreement.fleiss_kappa_per_category(counts[complete])):
        success["per_category_kappa"][value] = estimate.value
        success["per_category_kappa"][f"{value}_reason"] = estimate.reason
    _put(success, "percent_agreement", agreement.percent_agreement(counts[complete]))
    _put(success, "binary_percent_agreement", agreement.percent_agreement(agreement.binarise(counts[complete], threshold)))
    for level in ("ordinal", "nominal"):
        _put(success, f"krippendorff_alpha_{level}", agreement.krippendorff_alpha(counts, level))
    _put(success, "krippendorff_alpha_binary", agreement.krippendorff_alpha(agreement.binarise(counts, threshold), "nominal"))
    success["distribution"] = dict(zip(SUCCESS_VALUES, counts.sum(axis=0).tolist()))
    success["threshold"] = threshold
    success["paper"] = dict(PAPER)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_success = np.where(n_valid > 0, (counts @ np.arange(N_CATEGORIES)) / np.maximum(n_valid, 1), np.nan)
    success["spearman"] = {
        "author_rating": _spearman(mean_success, np.where(author >= 0, author, np.nan).astype(float)),
        "min_harmlessness_score_transcript": _spearman(mean_success, tasks.harmlessness),
    }
    success["ci_method"] = (
        f"percentile bootstrap over complete tasks, {n_resamples} resamples, seed {seed}"
        + (", stratified by model" if models else "")
    )

    per_model = {}
    for code, model in enumerate(models):
        in_model = model_code == code
        mask = complete & in_model
        section = _kappa_section(counts[mask], author[mask], intervals[code + 1] if intervals else None, threshold)
        section["items"] = int(in_model.sum())
        section["complete"] = int(mask.sum())
        _put(section, "krippendorff_alpha_ordinal", agreement.krippendorff_alpha(counts[in_model], "ordinal"))
        rated = in_model & (n_valid > 0)
        section["mean_success"] = float(np.mean(mean_success[rated])) if rated.any() else None
        known = in_model & (author >= 0)
        section["mean_author_rating"] = float(np.mean(author[known])) if known.any() else None
        per_model[model] = section

    pairs, reviewer_kappas = _pair_section(tasks)
    reviewers = {}
    given = ~np.isnan(tasks.ratings)
    for index, reviewer in enumerate(str(i) for i in tasks.reviewer_ids):
        column = tasks.ratings[given[:, index], index].astype(np.int64)
        reviewers[reviewer] = {
            "n": int(column.size),
            "mean_success": float(column.mean()) if column.size else None,
            "success_counts": dict(zip(SUCCESS_VALUES, np.bincount(column, minlength=N_CATEGORIES).tolist())),
            **reviewer_kappas[reviewer],
        }

    return {
        "items": items,
        "success": success,
        "per_model": per_model,
        "per_model_reason": None if models else "no manifest given (models come from the sample manifest)",
        "topics": _topic_section(tasks, complete, reviewers_per_task),
        "reviewers": reviewers,
        "reviewer_pairs": pairs,
        "disagreement": _most_disagreement(tasks, counts, author, top_disagreements),
    }


def _most_disagreement(tasks: ReviewedTasks, counts: np.ndarray, author: np.ndarray, top: int) -> list[dict]:
    """The tasks whose reviewers disagree most: mean squared difference over rating pairs."""
    sizes = counts.sum(axis=1)
    grid = np.arange(N_CATEGORIES)
    squared = (grid[:, None] - grid[None, :]) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        spread = np.einsum("ic,ck,ik->i", counts, squared, counts) / (sizes * (sizes - 1))
    spread = np.where(sizes >= 2, spread, -1.0)
    # Highest spread first; ties by attack_id so the list is stable between runs.
    order = np.lexsort((tasks.attack_id, -spread))
    chosen = [i for i in order[:top] if spread[i] > 0]
    result = []
    for i in chosen:
        rated = np.flatnonzero(~np.isnan(tasks.ratings[i]))
        result.append(
            {
                "attack_id": int(tasks.attack_id[i]),
                "task_id": int(tasks.task_id[i]),
                "disagreement": float(spread[i]),
                "ratings": {str(tasks.reviewer_ids[r]): int(tasks.ratings[i, r]) for r in rated},
                "author_rating": int(author[i]) if author[i] >= 0 else None,
                "model": tasks.model[i],
            }
        )
    return result


def summarise(
    table: pd.DataFrame,
    manifest: list[dict] | None = None,
    tasks: pd.DataFrame | None = None,
    reviewers_per_task: int = 4,
    threshold: int = 3,
    n_resamples: int = 2000,
    seed: int = 0,
    top_disagreements: int = 20,
    texts: dict[int, str] | None = None,
) -> dict:
    """The agreement summary of an annotation table (export.annotation_table's columns).

    tasks : optional DataFrame (task_id, attack_id) of every task in the project, so tasks
    nobody annotated still count in items.total; texts : attack_id -> transcript text, put
    beside the most disputed tasks only when the lead asks for it (--include-text).
    """
    if reviewers_per_task < 2:
        raise ValueError(f"reviewers_per_task must be at least 2, got {reviewers_per_task}")
    reviewed = arrays.reviews(table, manifest, tasks)
    latest, all_tasks = reviewed.latest, reviewed.all_tasks
    summary = statistics(reviewed.arrays, reviewers_per_task, threshold, n_resamples, seed, top_disagreements)

    summary["annotations"] = {
        "total": reviewed.annotations,
        "replaced_by_later": reviewed.replaced,
        "without_reviewer": reviewed.without_reviewer,
        "skipped": int(latest["skipped"].sum()),
        "invalid": int(latest["invalid"].sum()),
        "ratings": int(latest["rating"].sum()),
        "edited_by_other": int(latest["edited_by_other"].astype(bool).sum()),
    }
    by_reviewer = latest.groupby(latest["reviewer_id"].astype(np.int64))
    counts = pd.DataFrame(
        {
            "annotations": by_reviewer.size(),
            "skipped": by_reviewer["skipped"].sum(),
            "invalid": by_reviewer["invalid"].sum(),
            "median_lead_time": by_reviewer["lead_time"].median(),
        }
    )
    emails = latest.dropna(subset=["reviewer_email"]).groupby(latest["reviewer_id"].astype(np.int64))["reviewer_email"].last()
    for reviewer, entry in summary["reviewers"].items():
        row = counts.loc[int(reviewer)]
        entry["email"] = emails.get(int(reviewer))
        entry["annotations"] = int(row["annotations"])
        entry["skipped"] = int(row["skipped"])
        entry["invalid"] = int(row["invalid"])
        entry["skip_rate"] = float(row["skipped"] / row["annotations"])
        lead = row["median_lead_time"]
        entry["median_lead_time"] = None if pd.isna(lead) else float(lead)

    invalid = latest[latest["invalid"]].sort_values(["task_id", "reviewer_id"])
    summary["invalid_annotations"] = [
        {
            "task_id": int(r.task_id),
            "attack_id": None if pd.isna(r.attack_id) else int(r.attack_id),
            "annotation_id": None if pd.isna(r.annotation_id) else int(r.annotation_id),
            "reviewer": int(r.reviewer_id),
            "reviewer_email": r.reviewer_email,
            "reason": r.invalid_reason or "invalid",
        }
        for r in invalid.itertuples()
    ]
    summary["manifest"] = _manifest_section(all_tasks, manifest)
    if texts is not None:
        for entry in summary["disagreement"]:
            entry["text"] = texts.get(entry["attack_id"])
    summary["settings"] = {
        "reviewers_per_task": reviewers_per_task,
        "threshold": threshold,
        "n_resamples": n_resamples,
        "seed": seed,
        "manifest": manifest is not None,
    }
    return summary


def _manifest_section(all_tasks: pd.DataFrame, manifest: list[dict] | None) -> dict | None:
    if manifest is None:
        return None
    in_manifest = {r["attack_id"] for r in manifest}
    in_project = set(all_tasks["attack_id"].astype(np.int64).tolist())
    return {
        "attacks": len(in_manifest),
        "tasks_not_in_manifest": int(len(in_project - in_manifest)),
        "attacks_not_in_project": int(len(in_manifest - in_project)),
        "duplicate_attack_ids_in_project": int(all_tasks["attack_id"].duplicated().sum()),
    }
