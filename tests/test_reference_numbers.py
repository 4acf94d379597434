"""Every number of `agreement --json` and `results --json`, reproduced from the raw export.

Both real Label Studio 1.23.2 exports of tests/fixtures (the 12-task one of the reviewed-project
fixture and the 96-attack one of make_export_96) go through the CLI. The test then reads the
export JSON itself (json + pandas, none of the project's parsing code), applies the documented
rules (README, docs/results.md) and recomputes every statistic with the reference libraries:
statsmodels (fleiss_kappa, aggregate_raters, OrderedModel, proportion_confint), sklearn
(cohen_kappa_score, roc_auc_score), scipy (spearmanr), krippendorff and nltk (MASI alpha).

Point estimates agree to 1e-9 (the ordinal fit, an optimiser's answer, to the tolerance of
test_results_models). A bootstrap interval must contain its point estimate and lie within a
quarter of its width of a plain-loop bootstrap written here (other draws, so not to 1e-9).

Every key of both JSONs must be checked or listed in EXEMPT with its reason, so a key added later
fails here until someone checks it.
"""

from __future__ import annotations

import fnmatch
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import krippendorff
import numpy as np
import pandas as pd
import pytest
import warnings
from click.testing import CliRunner
from nltk.metrics.agreement import AnnotationTask
from nltk.metrics.distance import masi_distance
from scipy import stats
from sklearn.metrics import cohen_kappa_score, roc_auc_score
from statsmodels.miscmodels.ordinal_model import OrderedModel
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa
from statsmodels.stats.proportion import proportion_confint

from review_project.cli import cli
from review_project.schema import TOPICS

FIXTURES = Path(__file__).resolve().parent / "fixtures"
EXPORTS = {
    "12 tasks": ("label_studio_1.23.2_export.json", "label_studio_1.23.2_export_manifest.jsonl"),
    "96 attacks": ("label_studio_1.23.2_export_96.json", "label_studio_1.23.2_export_96_manifest.jsonl"),
}
THRESHOLD = 3
REVIEWERS_PER_TASK = 4
MIN_ATTACKS = 5  # --min-attacks' default
SCALE = np.arange(5)
TOL = 1e-9
Z95 = stats.norm.ppf(0.975)

# Keys no number check covers, each with why (glob patterns over "/"-joined paths).
EXEMPT = {
    "agreement": {
        "success/ci_method": "a description of the interval method, text",
        "success/paper/source": "a citation, text",
        "invalid_annotations/*/reason": "a sentence; the annotation's ids are checked",
        "settings/source": "the path given on the command line",
        "per_model/*/with_author/raters": "checked with the section's items (4 reviewers + the author)",
        "success/all_tasks_ci_method": "the method in words",
        "success/icc_ci_method": "the method in words",
        "success/intervals_conditional_on_reviewers": "a sentence",
    },
    "results": {
        "proxy/successful_rule": "the rule in words",
        "proxy/roc_auc_ci95_method": "the method in words",
        "proxy/*/direction": "the orientation in words; the AUC's orientation is checked",
        "proxy/confusion/rows": "a label",
        "proxy/confusion/columns": "a label",
        "model_differences/*/test/method": "the method in words",
        "reviewers/*/flag_reason": "a sentence; `flagged` is checked",
        "settings/source": "the path given on the command line",
        "settings/final_rule": "the rule in words",
        "settings/consensus_rule": "the rule in words",
        "settings/ci_method": "the method in words",
        "settings/model_test": "the method in words",
        "settings/reviewer_flag_rule": "the rule in words",
        "share_of_ratings_successful_ci95_method": "the method in words",
        "share_of_ratings_successful_rule": "the rule in words",
        "share_of_attacks_successful_ci95_method": "the method in words",
        "share_of_attacks_successful_rule": "the rule in words",
        "share_of_attacks_successful_sensitivity/rule": "the rule in words",
        "proxy/sensitivity_rule": "the rule in words",
        "model_differences/*/permutation_test/method": "the method in words",
        "model_differences/*/proportional_odds/method": "the method in words",
        "model_differences/*/power/method": "the method in words",
        "model_tests/omnibus/method": "the method in words",
        "model_tests/p_value_adjustment": "the method in words",
        "model_tests/ci_method": "the method in words",
        "model_tests/conditional_on_reviewers": "a sentence",
        "model_tests/topic_test": "the method in words",
    },
}


# --- the CLI ------------------------------------------------------------------------------------


def run_json(command: str, export: Path, manifest: Path, tmp_path: Path) -> dict:
    out = tmp_path / f"{command}.json"
    result = CliRunner().invoke(cli, [command, str(export), "--manifest", str(manifest), "--json", str(out)], env={})
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text())


# --- the raw export, read here ------------------------------------------------------------------


@dataclass
class Review:
    """The export and manifest as plain tables, by the README's rules."""

    latest: pd.DataFrame  # each reviewer's latest annotation of each task
    annotations: pd.DataFrame  # every annotation with a reviewer
    without_reviewer: int
    ratings: pd.DataFrame  # task_id x reviewer id, valid success ratings, NaN = none
    tasks: pd.DataFrame  # by task_id: attack_id, model, author, harmlessness
    topic_sets: dict = field(default_factory=dict)  # (task_id, reviewer) -> frozenset of a valid rating's topics
    manifest: pd.DataFrame | None = None


def read_review(export: Path, manifest_path: Path) -> Review:
    raw = json.loads(export.read_text())
    rows, without_reviewer = [], 0
    for task in raw:
        for a in task["annotations"]:
            reviewer = a["completed_by"]["id"] if isinstance(a["completed_by"], dict) else a["completed_by"]
            if reviewer is None:
                without_reviewer += 1
                continue
            success = [c for r in a["result"] if r["from_name"] == "success" for c in r["value"].get("choices", [])]
            topics = [p[-1] for r in a["result"] if r["from_name"] == "topics" for p in r["value"].get("taxonomy", [])]
            skipped = bool(a["was_cancelled"])
            valid = (not skipped and len(success) == 1 and success[0] in ("0", "1", "2", "3", "4")
                     and len(topics) <= 2 and all(t in TOPICS for t in topics))
            rows.append({
                "task_id": task["id"], "attack_id": task["data"]["attack_id"], "annotation_id": a["id"],
                "reviewer": reviewer, "skipped": skipped, "valid": valid, "invalid": not skipped and not valid,
                "success": int(success[0]) if valid else None, "topics": tuple(topics),
                "lead_time": a.get("lead_time"), "changed": a.get("updated_at") or a.get("created_at"),
                "updated_by": a.get("updated_by"),
            })
    annotations = pd.DataFrame(rows)
    annotations["when"] = pd.to_datetime(annotations["changed"], utc=True)
    latest = annotations.sort_values(["task_id", "reviewer", "when", "annotation_id"]).drop_duplicates(
        ["task_id", "reviewer"], keep="last"
    )
    valid = latest[latest["valid"]]
    task_ids = sorted(t["id"] for t in raw)
    reviewers = sorted(latest["reviewer"].unique())
    ratings = valid.pivot(index="task_id", columns="reviewer", values="success").reindex(index=task_ids, columns=reviewers)
    manifest = pd.read_json(manifest_path, lines=True, dtype=False).set_index("attack_id")
    tasks = pd.DataFrame({"attack_id": [t["data"]["attack_id"] for t in raw]}, index=[t["id"] for t in raw]).loc[task_ids]
    known = manifest.reindex(tasks["attack_id"])
    tasks["model"] = (known["model_type"] + " " + known["num_params"]).to_numpy()
    tasks["author"] = known["rating"].astype(float).to_numpy()
    tasks["harmlessness"] = known["min_harmlessness_score_transcript"].astype(float).to_numpy()
    topic_sets = {(r.task_id, r.reviewer): frozenset(r.topics) for r in valid.itertuples()}
    return Review(latest, annotations, without_reviewer, ratings.astype(float), tasks, topic_sets, manifest)


# --- the checker --------------------------------------------------------------------------------


class Checker:
    """Checks values at paths of a JSON document and remembers which paths were checked."""

    def __init__(self, document: dict, where: str):
        self.document, self.where, self.checked = document, where, set()

    def get(self, *path):
        value = self.document
        for key in path:
            value = value[key]
        return value

    def has(self, *path) -> bool:
        try:
            self.get(*path)
            return True
        except (KeyError, IndexError, TypeError):
            return False

    def mark(self, *path) -> None:
        self.checked.add("/".join(str(p) for p in path))

    def _reason(self, path, defined: bool) -> None:
        *parent, name = path
        reason = (*parent, f"{name}_reason")
        if self.has(*reason):
            why = self.get(*reason)
            if defined:
                assert why is None, f"{self.where} {'/'.join(map(str, reason))}: {why!r} beside a value"
            else:
                assert isinstance(why, str) and why, f"{self.where} {'/'.join(map(str, path))}: null without a reason"
            self.mark(*reason)

    def equal(self, path: tuple, expected) -> None:
        value = self.get(*path)
        assert value == expected, f"{self.where} {'/'.join(map(str, path))}: {value!r} != {expected!r}"
        self.mark(*path)

    def close(self, path: tuple, expected, tol: float = TOL) -> None:
        """A number (or nested lists of numbers) equal to `expected`; None where it is undefined."""
        value = self.get(*path)
        name = "/".join(map(str, path))
        if expected is None or (isinstance(expected, float) and math.isnan(expected)):
            assert value is None, f"{self.where} {name}: {value!r}, expected null"
            self._reason(path, defined=False)
        else:
            assert value is not None, f"{self.where} {name}: null, expected {expected!r}"
            np.testing.assert_allclose(np.asarray(value, dtype=float), np.asarray(expected, dtype=float),
                                       rtol=tol, atol=tol, err_msg=f"{self.where} {name}")
            self._reason(path, defined=True)
        self.mark(*path)

    def interval(self, path: tuple, point, loop: tuple[float, float] | None = None) -> None:
        """A bootstrap interval: null with a reason when the point is, else [low, high] around the
        point, and near the plain-loop interval `loop` when given."""
        value = self.get(*path)
        name = "/".join(map(str, path))
        if point is None or (isinstance(point, float) and math.isnan(point)):
            assert value is None, f"{self.where} {name}: {value!r} around an undefined estimate"
            self._reason(path, defined=False)
        else:
            assert value is not None, f"{self.where} {name}: null around {point!r}"
            low, high = value
            assert low - 1e-12 <= point <= high + 1e-12, f"{self.where} {name}: {value} does not contain {point}"
            if loop is not None:
                width = max(high - low, loop[1] - loop[0], 1e-9)
                assert abs(low - loop[0]) <= width / 4 and abs(high - loop[1]) <= width / 4, (
                    f"{self.where} {name}: {value} far from a plain bootstrap's {list(loop)}")
            self._reason(path, defined=True)
        self.mark(*path)

    def nulls(self, path: tuple, keep: tuple = ()) -> None:
        """Every number under `path` null beside a reason (a statistic with too few attacks), but `keep`."""
        value = self.get(*path)
        if isinstance(value, dict):
            for key in value:
                if key not in keep:
                    self.nulls((*path, key), keep)
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for index in range(len(value)):
                self.nulls((*path, index), keep)
        elif str(path[-1]).endswith("_reason"):
            assert isinstance(value, str) and value, f"{self.where} {'/'.join(map(str, path))}: no reason"
            self.mark(*path)
        else:
            assert value is None, f"{self.where} {'/'.join(map(str, path))}: {value!r} with too few attacks"
            self.mark(*path)
            self._reason(path, defined=False)

    def unchecked(self, exempt: dict) -> list[str]:
        leaves = []

        def walk(value, path):
            if isinstance(value, dict) and value:
                for key, item in value.items():
                    walk(item, (*path, key))
            elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                for index, item in enumerate(value):
                    walk(item, (*path, index))
            else:
                leaves.append("/".join(map(str, path)))

        walk(self.document, ())
        return [leaf for leaf in leaves
                if leaf not in self.checked and not any(fnmatch.fnmatchcase(leaf, pattern) for pattern in exempt)]


# --- reference statistics -----------------------------------------------------------------------


def fleiss(rows: np.ndarray, binary: bool = False) -> float | None:
    """statsmodels' Fleiss' kappa of a (tasks x raters) matrix of whole ratings; None when undefined."""
    if len(rows) < 2:
        return None
    data = (rows >= THRESHOLD).astype(int) if binary else rows.astype(int)
    table, _ = aggregate_raters(data, n_cat=2 if binary else 5)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = fleiss_kappa(table)
    return None if not np.isfinite(value) else float(value)


def landis_koch(value: float | None) -> str | None:
    if value is None:
        return None
    for upper, band in ((0, "poor"), (0.2, "slight"), (0.4, "fair"), (0.6, "moderate"), (0.8, "substantial")):
        if value <= upper if upper else value < 0:
            return band
    return "almost perfect"


def alpha(matrix: np.ndarray, level: str, domain) -> float | None:
    """krippendorff.alpha of (tasks x raters) ratings, NaN = none."""
    if (np.sum(~np.isnan(matrix), axis=1) >= 2).sum() < 1:
        return None
    return float(krippendorff.alpha(reliability_data=matrix.T, level_of_measurement=level, value_domain=domain))


def boot_percentile(values: np.ndarray) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def stratified_loop(n_resamples: int, strata: np.ndarray, statistic, seed: int = 12345) -> tuple[float, float]:
    """A plain bootstrap loop: resample row indices within each stratum, apply `statistic`."""
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(strata == s) for s in pd.unique(strata)]
    draws = []
    for _ in range(n_resamples):
        index = np.concatenate([rng.choice(g, size=len(g), replace=True) for g in groups])
        draws.append(statistic(index))
    return boot_percentile(np.array([np.nan if d is None else d for d in draws], dtype=float))


def delong(score: np.ndarray, positive: np.ndarray) -> tuple[float | None, list[float] | None]:
    """AUC and its DeLong et al. (1988) 95% interval from the placement values, clipped to [0, 1];
    None where undefined (one class empty, a constant score; fewer than 2 in a class: no interval)."""
    x, y = score[positive], score[~positive]
    if not len(x) or not len(y) or np.ptp(score) == 0:
        return None, None
    auc = float(roc_auc_score(positive, score))
    if min(len(x), len(y)) < 2:
        return auc, None
    psi = (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    assert abs(v10.mean() - auc) < 1e-12
    se = math.sqrt(v10.var(ddof=1) / len(x) + v01.var(ddof=1) / len(y))
    return auc, [max(0.0, auc - Z95 * se), min(1.0, auc + Z95 * se)]


def quadratic_cohen(a: np.ndarray, b: np.ndarray) -> float | None:
    """sklearn's quadratic-weighted Cohen's kappa of two raters on half steps (values doubled)."""
    if len(a) < 2:
        return None
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns where the kappa is undefined: None here
        value = cohen_kappa_score((2 * a).astype(int), (2 * b).astype(int), weights="quadratic", labels=np.arange(9))
    return None if not np.isfinite(value) else float(value)


def plain_quadratic_cohen(a: np.ndarray, b: np.ndarray) -> float | None:
    """quadratic_cohen written out (Cohen 1968), for the bootstrap loop: sklearn's call costs 1 ms,
    400 resamples per reviewer. Checked against sklearn's on each reviewer's full data first."""
    if len(a) < 2:
        return None
    observed = np.zeros((9, 9))
    np.add.at(observed, ((2 * a).astype(int), (2 * b).astype(int)), 1)
    weights = (np.arange(9)[:, None] - np.arange(9)[None, :]) ** 2
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / len(a)
    disagreement = (weights * expected).sum()
    return None if disagreement == 0 else float(1 - (weights * observed).sum() / disagreement)


def chance_corrected(matrix: np.ndarray, kind: str, weights: np.ndarray | None = None, q: int = 5):
    """Gwet's AC1/AC2 or Fleiss' kappa for any number of ratings per task, with Gwet's (2014,
    ch. 2 and 5) standard error and t interval (irrCAC's gwet.ac1.raw and fleiss.kappa.raw),
    written task by task from the book. matrix : (tasks x raters), NaN = none.
    Returns (value, se, [low, high]) or (None, None, None)."""
    w = np.eye(q) if weights is None else weights
    rows = [row[~np.isnan(row)].astype(int) for row in matrix]
    rows = [row for row in rows if len(row)]
    n = len(rows)
    counts = [np.bincount(row, minlength=q) for row in rows]
    pairable = [len(row) >= 2 for row in rows]
    n2 = sum(pairable)
    used = np.flatnonzero(sum(counts)) if counts else []
    if n2 < 2 or len(used) < 2:
        return None, None, None
    agree = []
    for r, ok in zip(counts, pairable):
        size = r.sum()
        agree.append(sum(r[k] * (sum(w[k, l] * r[l] for l in range(q)) - 1) for k in range(q)) / (size * (size - 1)) if ok else 0.0)
    pa = sum(a for a, ok in zip(agree, pairable) if ok) / n2
    pi = sum(r / r.sum() for r in counts) / n
    if kind == "gwet":
        pe = w.sum() / (q * (q - 1)) * sum(pi[k] * (1 - pi[k]) for k in range(q))
        pe_task = [w.sum() / (q * (q - 1)) * sum(r[k] * (1 - pi[k]) for k in range(q)) / r.sum() for r in counts]
    else:
        pe = sum(w[k, l] * pi[k] * pi[l] for k in range(q) for l in range(q))
        pi_w = (w @ pi + w.T @ pi) / 2
        pe_task = [sum(r[k] * pi_w[k] for k in range(q)) / r.sum() for r in counts]
    value = (pa - pe) / (1 - pe)
    terms = [(n / n2) * (a - pe * ok) / (1 - pe) - 2 * (1 - value) * (e - pe) / (1 - pe)
             for a, ok, e in zip(agree, pairable, pe_task)]
    se = math.sqrt(sum((t - value) ** 2 for t in terms) / (n * (n - 1)))
    half = stats.t.ppf(0.975, n - 1) * se
    return value, se, [value - half, min(1.0, value + half)]


def ordinal_weights(q: int = 5) -> np.ndarray:
    """irrCAC's ordinal.weights: 1 - C(|k - l| + 1, 2) / C(q, 2)."""
    steps = np.abs(np.subtract.outer(np.arange(q), np.arange(q))) + 1
    pairs = steps * (steps - 1) / 2
    return 1 - pairs / pairs.max()


def icc_reference(ratings: pd.DataFrame):
    """pingouin's ICC(A,1) and ICC(A,k), i.e. ICC(2,1) and ICC(2,k) (with its 2-decimal CI95) on the block the JSON names:
    the k reviewers who rated most tasks together (k the commonest count, the larger on a tie)."""
    import pingouin

    given = ratings.notna()
    sizes = given.sum(axis=1)
    if not (sizes >= 2).any():
        return None
    frequency = sizes[sizes >= 2].value_counts()
    k = max(frequency[frequency == frequency.max()].index)
    candidates = {tuple(ratings.columns[given.loc[t]]) for t in sizes.index[sizes == k]}
    tally = {c: int(given[list(c)].all(axis=1).sum()) for c in candidates}
    best = max(tally.values())
    reviewers = min(c for c in tally if tally[c] == best)
    block = ratings.loc[given[list(reviewers)].all(axis=1), list(reviewers)]
    long = block.stack().rename("rating").reset_index()
    long.columns = ["task", "reviewer", "rating"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = pingouin.intraclass_corr(long, targets="task", raters="reviewer", ratings="rating").set_index("Type")
    return reviewers, len(block), table


def check_all_tasks(c: Checker, path: tuple, ratings: pd.DataFrame) -> None:
    """The measures over every task with 2 or more ratings, and the ICC, of one section."""
    matrix = ratings.to_numpy()
    c.equal((*path, "tasks_with_two_or_more_ratings"), int((ratings.notna().sum(axis=1) >= 2).sum()))
    binary = np.where(np.isnan(matrix), np.nan, matrix >= THRESHOLD)
    for name, (value, se, interval) in (
        ("gwet_ac1", chance_corrected(matrix, "gwet")),
        ("gwet_ac2_ordinal", chance_corrected(matrix, "gwet", ordinal_weights())),
        ("fleiss_kappa_all_tasks", chance_corrected(matrix, "fleiss")),
        ("binary_fleiss_kappa_all_tasks", chance_corrected(binary, "fleiss", q=2)),
    ):
        if not c.has(*path, name):
            continue  # not every section reports every measure (per model: no AC1)
        c.close((*path, name), value)
        c.close((*path, f"{name}_se"), se)
        c.close((*path, f"{name}_ci95"), interval)
    found = icc_reference(ratings)
    if found is None:
        for name in ("icc_2_1", "icc_2_1_ci95", "icc_2_k", "icc_2_k_ci95"):
            c.close((*path, name), None)
        c.mark(*path, "icc_tasks")
        c.mark(*path, "icc_reviewers")
        return
    reviewers, n_tasks, table = found
    c.equal((*path, "icc_reviewers"), [int(r) for r in reviewers])
    c.equal((*path, "icc_tasks"), n_tasks)
    for name, kind in (("icc_2_1", "ICC(A,1)"), ("icc_2_k", "ICC(A,k)")):
        c.close((*path, name), float(table.loc[kind, "ICC"]))
        c.close((*path, f"{name}_ci95"), list(table.loc[kind, "CI95"]), tol=0.0051)  # pingouin rounds to 2 decimals


# --- agreement --json ---------------------------------------------------------------------------


def complete_rows(review: Review, mask=None) -> tuple[np.ndarray, pd.Index]:
    """Complete tasks' ratings, each row's 4 ratings in reviewer-id order."""
    ratings = review.ratings if mask is None else review.ratings[mask]
    complete = ratings.notna().sum(axis=1) == REVIEWERS_PER_TASK
    values = ratings[complete].to_numpy()
    rows = np.array([row[~np.isnan(row)] for row in values]).reshape(-1, REVIEWERS_PER_TASK)
    return rows, ratings.index[complete]


def check_fleiss_section(c: Checker, path: tuple, rows: np.ndarray, strata: np.ndarray | None, loop: bool) -> None:
    raw, binary = fleiss(rows), fleiss(rows, binary=True)
    c.close((*path, "fleiss_kappa"), raw)
    c.close((*path, "binary_fleiss_kappa"), binary)
    c.equal((*path, "landis_koch"), landis_koch(raw))
    c.equal((*path, "binary_landis_koch"), landis_koch(binary))
    for name, point, is_binary in (("ci95", raw, False), ("binary_ci95", binary, True)):
        reference = None
        if loop and point is not None:
            reference = stratified_loop(400, strata, lambda i, b=is_binary: fleiss(rows[i], b))
        c.interval((*path, name), point, reference)


def check_with_author(c: Checker, path: tuple, rows: np.ndarray, author: np.ndarray) -> None:
    known = np.isfinite(author) & (author == np.round(author))
    added = np.column_stack([rows[known], author[known]])
    c.equal((*path, "items"), int(known.sum()))
    if c.get(*path, "raters") is not None:
        c.equal((*path, "raters"), REVIEWERS_PER_TASK + 1)
    c.mark(*path, "raters")
    check_fleiss_section(c, path, added, None, loop=False)


def check_agreement(c: Checker, review: Review) -> None:
    ratings, tasks = review.ratings, review.tasks
    n_valid = ratings.notna().sum(axis=1)
    invalid_per_task = review.latest[review.latest["invalid"]].groupby("task_id").size().reindex(ratings.index, fill_value=0)
    c.equal(("items", "total"), len(ratings))
    c.equal(("items", "complete"), int((n_valid == 4).sum()))
    c.equal(("items", "excluded_incomplete"), int(((n_valid < 4) & (invalid_per_task == 0)).sum()))
    c.equal(("items", "excluded_invalid"), int(((n_valid < 4) & (invalid_per_task > 0)).sum()))
    c.equal(("items", "excluded_extra_ratings"), int((n_valid > 4).sum()))
    c.equal(("items", "with_two_or_more_ratings"), int((n_valid >= 2).sum()))
    c.equal(("items", "reviewers_per_task"), REVIEWERS_PER_TASK)
    c.equal(("items", "without_rating"), int((n_valid == 0).sum()))
    # An export file shows that it lists unannotated tasks only by holding one; else unknown.
    unannotated = int(ratings.index.difference(review.annotations["task_id"]).size)
    c.equal(("items", "source_lists_unannotated_tasks"), True if unannotated else None)
    check_all_tasks(c, ("success",), ratings)

    rows, complete_ids = complete_rows(review)
    author = tasks.loc[complete_ids, "author"].to_numpy()
    model = tasks.loc[complete_ids, "model"].to_numpy()
    s = ("success",)
    check_fleiss_section(c, s, rows, model, loop=True)
    check_with_author(c, (*s, "with_author"), rows, author)

    footing = (*s, "with_author_paper_footing")
    known = np.isfinite(author)
    raw, binary = [], []
    for left_out in range(4):
        kept = np.column_stack([np.delete(rows[known], left_out, axis=1), author[known]])
        raw.append(fleiss(kept))
        binary.append(fleiss(kept, binary=True))
    c.equal((*footing, "items"), int(known.sum()))
    c.equal((*footing, "raters"), 4 if raw[0] is not None else None)
    for name, values in (("fleiss_kappa", raw), ("binary_fleiss_kappa", binary)):
        defined = all(v is not None for v in values)
        c.close((*footing, name), float(np.mean(values)) if defined else None)
        c.close((*footing, f"{name}_range"), [min(values), max(values)] if defined else None)

    counts = np.stack([(rows == k).sum(axis=1) for k in SCALE], axis=1)
    for k in SCALE:
        table = np.column_stack([4 - counts[:, k], counts[:, k]])
        with np.errstate(invalid="ignore", divide="ignore"):
            value = fleiss_kappa(table) if len(rows) >= 2 else np.nan
        c.close((*s, "per_category_kappa", str(k)), float(value) if np.isfinite(value) else None)

    def pairs_agreeing(matrix):
        shares = [np.mean([a == b for a, b in itertools.combinations(row, 2)]) for row in matrix]
        return float(np.mean(shares)) if shares else None

    c.close((*s, "percent_agreement"), pairs_agreeing(rows))
    c.close((*s, "binary_percent_agreement"), pairs_agreeing(rows >= THRESHOLD))
    matrix = ratings.to_numpy()
    c.close((*s, "krippendorff_alpha_ordinal"), alpha(matrix, "ordinal", SCALE))
    c.close((*s, "krippendorff_alpha_nominal"), alpha(matrix, "nominal", SCALE))
    c.close((*s, "krippendorff_alpha_binary"), alpha(np.where(np.isnan(matrix), np.nan, matrix >= THRESHOLD), "nominal", [0, 1]))
    distribution = pd.Series(matrix[~np.isnan(matrix)]).value_counts()
    for k in SCALE:
        c.equal((*s, "distribution", str(k)), int(distribution.get(float(k), 0)))
    c.equal((*s, "threshold"), THRESHOLD)
    # Ganguli et al. 2022, section 3.5 (paper-facts.md).
    for name, value in (("with_author_fleiss_kappa", 0.32), ("with_author_binary_fleiss_kappa", 0.49),
                        ("reviewers_binary_fleiss_kappa", 0.55), ("reviewers", 3)):
        c.equal((*s, "paper", name), value)

    mean_success = ratings.mean(axis=1)
    for name, other in (("author_rating", tasks["author"]), ("min_harmlessness_score_transcript", tasks["harmlessness"])):
        both = mean_success.notna() & other.notna()
        c.equal((*s, "spearman", name, "n"), int(both.sum()))
        rho, p = stats.spearmanr(mean_success[both], other[both])
        c.close((*s, "spearman", name, "rho"), float(rho))
        c.close((*s, "spearman", name, "p_value"), float(p))

    for model_name, in_model in tasks.groupby("model").groups.items():
        path = ("per_model", model_name)
        model_rows, model_ids = complete_rows(review, ratings.index.isin(in_model))
        c.equal((*path, "items"), len(in_model))
        c.equal((*path, "complete"), len(model_rows))
        check_fleiss_section(c, path, model_rows, np.zeros(len(model_rows)), loop=False)
        check_with_author(c, (*path, "with_author"), model_rows, tasks.loc[model_ids, "author"].to_numpy())
        c.close((*path, "krippendorff_alpha_ordinal"), alpha(ratings.loc[in_model].to_numpy(), "ordinal", SCALE))
        c.close((*path, "mean_success"), float(mean_success.loc[in_model].dropna().mean()))
        c.close((*path, "mean_author_rating"), float(tasks.loc[in_model, "author"].dropna().mean()))
        check_all_tasks(c, path, ratings.loc[in_model])
    all_tasks = {m: chance_corrected(ratings.loc[ids].to_numpy(), "fleiss")[0] for m, ids in tasks.groupby("model").groups.items()}
    binary_all = {m: chance_corrected(np.where(ratings.loc[ids].isna(), np.nan, ratings.loc[ids] >= THRESHOLD), "fleiss", q=2)[0]
                  for m, ids in tasks.groupby("model").groups.items()}
    for pair in c.get("model_kappa_differences"):
        first, second = c.get("model_kappa_differences", pair, "models")
        assert pair == f"{first} - {second}" and first < second
        c.mark("model_kappa_differences", pair, "models")
        for name, values in (("fleiss_kappa_all_tasks", all_tasks), ("binary_fleiss_kappa_all_tasks", binary_all)):
            difference = None if values[first] is None or values[second] is None else values[first] - values[second]
            c.close(("model_kappa_differences", pair, name), difference)
            c.interval(("model_kappa_differences", pair, f"{name}_ci95"), difference)
    defined = sorted(m for m in all_tasks if all_tasks[m] is not None)
    assert set(c.get("model_kappa_differences")) == {f"{a} - {b}" for a, b in itertools.combinations(defined, 2)}
    c.equal(("per_model_reason",), None)

    topics = ("topics",)
    valid = review.latest[review.latest["valid"]]
    c.equal((*topics, "ratings"), len(valid))
    c.close((*topics, "no_topic_share"), float((valid["topics"].map(len) == 0).mean()))
    for topic in TOPICS:
        tagged = valid["topics"].map(lambda t, topic=topic: topic in t)
        c.equal((*topics, "per_tag", topic, "uses"), int(tagged.sum()))
        c.close((*topics, "per_tag", topic, "prevalence"), float(tagged.mean()))
        votes = valid.assign(tagged=tagged).groupby("task_id")["tagged"].sum().reindex(complete_ids).to_numpy()
        table = np.column_stack([4 - votes, votes])
        with np.errstate(invalid="ignore", divide="ignore"):
            value = fleiss_kappa(table) if len(votes) >= 2 else np.nan
        c.close((*topics, "per_tag", topic, "fleiss_kappa"), float(value) if np.isfinite(value) else None)
    task = AnnotationTask(
        data=[(str(r), str(t), labels) for (t, r), labels in review.topic_sets.items()],
        distance=lambda a, b: 0.0 if a == b else masi_distance(a, b),
    )
    per_task = pd.Series([t for t, _ in review.topic_sets]).value_counts()
    in_pairs = {labels for (t, _), labels in review.topic_sets.items() if per_task[t] >= 2}
    # nltk says 1.0 when every set is the same; the contract says undefined (no expected disagreement).
    c.close((*topics, "masi_alpha"), float(task.alpha()) if len(in_pairs) > 1 else None)

    reviewer_ids = list(ratings.columns)
    shared = {(a, b): ratings[[a, b]].dropna() for a in reviewer_ids for b in reviewer_ids if a != b}
    pair_kappa = {}
    for (a, b), both in shared.items():
        for weights in (None, "quadratic"):
            with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                value = (cohen_kappa_score(both[a].astype(int), both[b].astype(int), weights=weights, labels=SCALE)
                         if len(both) >= 2 else np.nan)
            pair_kappa[(a, b, weights)] = float(value) if np.isfinite(value) else None
    c.equal(("reviewer_pairs", "reviewers"), [str(r) for r in reviewer_ids])
    for key, weights in (("cohen_kappa", None), ("quadratic_kappa", "quadratic")):
        expected = [[None if a == b else pair_kappa[(a, b, weights)] for b in reviewer_ids] for a in reviewer_ids]
        got = c.get("reviewer_pairs", key)
        assert [[v is None for v in row] for row in got] == [[v is None for v in row] for row in expected]
        np.testing.assert_allclose(np.array(got, dtype=float), np.array(expected, dtype=float), rtol=TOL, atol=TOL)
        c.mark("reviewer_pairs", key)
    c.equal(("reviewer_pairs", "shared_tasks"), [[0 if a == b else len(shared[(a, b)]) for b in reviewer_ids] for a in reviewer_ids])
    reasons = c.get("reviewer_pairs", "reasons")
    for i, a in enumerate(reviewer_ids):
        for j, b in enumerate(reviewer_ids):
            assert (reasons[i][j] is None) == (i != j and pair_kappa[(a, b, "quadratic")] is not None)
    assert all(reasons[i][i] == "same reviewer" for i in range(len(reviewer_ids)))
    c.mark("reviewer_pairs", "reasons")

    latest = review.latest
    for r in reviewer_ids:
        path = ("reviewers", str(r))
        column = ratings[r].dropna()
        mine = latest[latest["reviewer"] == r]
        c.equal((*path, "n"), len(column))
        c.close((*path, "mean_success"), float(column.mean()) if len(column) else None)
        for k in SCALE:
            c.equal((*path, "success_counts", str(k)), int((column == k).sum()))
        for key, weights in (("cohen_kappa_vs_others", None), ("quadratic_kappa_vs_others", "quadratic")):
            defined = [(pair_kappa[(r, o, weights)], len(shared[(r, o)])) for o in reviewer_ids
                       if o != r and pair_kappa[(r, o, weights)] is not None]
            weight = sum(n for _, n in defined)
            c.close((*path, key), sum(k * n for k, n in defined) / weight if weight else None)
        c.equal((*path, "email"), None)  # a full export names reviewers by id only
        c.equal((*path, "annotations"), len(mine))
        c.equal((*path, "skipped"), int(mine["skipped"].sum()))
        c.equal((*path, "invalid"), int(mine["invalid"].sum()))
        c.close((*path, "skip_rate"), float(mine["skipped"].mean()))
        c.close((*path, "median_lead_time"), float(mine["lead_time"].median()))

    # The most disputed tasks: mean squared difference over ordered rating pairs, highest first.
    spread = {}
    for task_id, row in ratings.iterrows():
        given = row.dropna()
        if len(given) >= 2:
            squares = [(a - b) ** 2 for a, b in itertools.permutations(given.to_numpy(), 2)]
            spread[task_id] = float(np.mean(squares))
    top = sorted((t for t in spread if spread[t] > 0), key=lambda t: (-spread[t], tasks.loc[t, "attack_id"]))[:20]
    assert len(c.get("disagreement")) == len(top)
    for i, task_id in enumerate(top):
        given = ratings.loc[task_id].dropna()
        path = ("disagreement", i)
        c.equal((*path, "task_id"), int(task_id))
        c.equal((*path, "attack_id"), int(tasks.loc[task_id, "attack_id"]))
        c.close((*path, "disagreement"), spread[task_id])
        for reviewer, value in given.items():
            c.equal((*path, "ratings", str(reviewer)), int(value))
        assert set(c.get(*path, "ratings")) == {str(r) for r in given.index}
        c.equal((*path, "author_rating"), int(tasks.loc[task_id, "author"]))
        c.equal((*path, "model"), tasks.loc[task_id, "model"])

    everything = review.annotations
    c.equal(("annotations", "total"), len(everything) + review.without_reviewer)
    c.equal(("annotations", "replaced_by_later"), len(everything) - len(latest))
    c.equal(("annotations", "without_reviewer"), review.without_reviewer)
    c.equal(("annotations", "skipped"), int(latest["skipped"].sum()))
    c.equal(("annotations", "invalid"), int(latest["invalid"].sum()))
    c.equal(("annotations", "ratings"), int(latest["valid"].sum()))
    c.equal(("annotations", "edited_by_other"), int((latest["updated_by"].notna() & (latest["updated_by"] != latest["reviewer"])).sum()))
    invalid = latest[latest["invalid"]].sort_values(["task_id", "reviewer"])
    assert len(c.get("invalid_annotations")) == len(invalid)
    c.mark("invalid_annotations")  # the empty list, when nothing was invalid
    for i, row in enumerate(invalid.itertuples()):
        for key, value in (("task_id", row.task_id), ("attack_id", row.attack_id), ("annotation_id", row.annotation_id),
                           ("reviewer", row.reviewer), ("reviewer_email", None)):
            c.equal(("invalid_annotations", i, key), value)

    in_manifest, in_project = set(review.manifest.index), set(tasks["attack_id"])
    c.equal(("manifest", "attacks"), len(in_manifest))
    c.equal(("manifest", "tasks_not_in_manifest"), len(in_project - in_manifest))
    c.equal(("manifest", "attacks_not_in_project"), len(in_manifest - in_project))
    c.equal(("manifest", "duplicate_attack_ids_in_project"), int(tasks["attack_id"].duplicated().sum()))
    for key, value in (("reviewers_per_task", 4), ("threshold", 3), ("n_resamples", 2000), ("seed", 0), ("manifest", True)):
        c.equal(("settings", key), value)

    # Precision now and at completion: the manifest plans every attack; x sqrt(now / planned).
    low, high = c.get("success", "fleiss_kappa_all_tasks_ci95")
    now, rated, planned = (high - low) / 2, int((n_valid >= 2).sum()), len(in_manifest)
    projected = now * math.sqrt(rated / planned)
    c.equal(("precision", "statistic"), "fleiss_kappa_all_tasks")
    c.equal(("precision", "attacks_planned_from"), "manifest")
    c.close(("precision", "half_width_now"), now)
    c.equal(("precision", "attacks_now"), rated)
    c.equal(("precision", "attacks_planned"), planned)
    c.close(("precision", "projected_half_width"), projected)
    c.equal(("precision", "target_half_width"), 0.05)
    c.equal(("precision", "attacks_needed"), max(rated, math.ceil(rated * (now / 0.05) ** 2)))
    c.equal(("precision", "target_met"), bool(projected <= 0.05))
    c._reason(("precision", "target_met"), defined=True)


# --- results --json -----------------------------------------------------------------------------


@dataclass
class Attack:
    """One attack's final label by the rules of docs/results.md (no adjudications here)."""

    ratings: list
    votes: dict
    consensus: list
    final_topics: list
    reasons: list
    final_rating: int | None


def attack_labels(review: Review) -> dict[int, Attack]:
    valid = review.latest[review.latest["valid"]]
    labels = {}
    for task_id in review.ratings.index:
        given = sorted(review.ratings.loc[task_id].dropna().astype(int).tolist())
        n = len(given)
        votes: dict = {}
        for topics in valid[valid["task_id"] == task_id]["topics"]:
            for topic in topics:
                votes[topic] = votes.get(topic, 0) + 1
        consensus = [t for t in TOPICS if votes.get(t, 0) > 0 and 2 * votes[t] >= n]
        tied = False
        final = consensus
        if len(consensus) > 2:
            ranked = sorted((votes[t] for t in consensus), reverse=True)
            tied = ranked[1] == ranked[2]
            final = [] if tied else sorted(consensus, key=lambda t: -votes[t])[:2]
        reasons = []
        if n >= 2:
            if 2 * sum(r >= THRESHOLD for r in given) == n:
                reasons.append("split")
            if given[-1] - given[0] >= 3:
                reasons.append("spread")
            if tied:
                reasons.append("topics")
        rating_disputed = bool({"split", "spread"} & set(reasons))
        final_rating = None if rating_disputed or not n else given[(n - 1) // 2]
        labels[task_id] = Attack(given, votes, consensus, final, reasons, final_rating)
    return labels


def wilson(count: int, n: int) -> list[float] | None:
    return list(proportion_confint(count, n, alpha=0.05, method="wilson")) if n else None


def pooled_share(values: np.ndarray, sizes: np.ndarray):
    """The share of a resample's ratings >= the threshold: values = per attack count >= threshold."""
    return lambda i: values[i].sum() / sizes[i].sum()


def check_results(c: Checker, review: Review) -> None:
    ratings, tasks = review.ratings, review.tasks
    labels = attack_labels(review)
    n_valid = ratings.notna().sum(axis=1)
    high = (ratings >= THRESHOLD).sum(axis=1)
    rated = n_valid > 0
    reasons = pd.Series({t: "; ".join(a.reasons) for t, a in labels.items()})
    final = pd.Series({t: a.final_rating for t, a in labels.items()}, dtype=object)
    has_final = final.notna()
    rating_disputed = rated & ~has_final
    c.equal(("attacks",), int(rated.sum()))
    c.equal(("tasks",), len(ratings))
    c.equal(("disputed",), int((reasons != "").sum()))
    c.equal(("adjudicated",), 0)
    for key in c.get("dispute_reasons"):
        c.equal(("dispute_reasons", key), int((reasons == key).sum()))
    assert set(reasons[reasons != ""]) <= set(c.get("dispute_reasons")), "a dispute reason is not counted"
    left_out = {"disputed, not adjudicated": int(rating_disputed.sum()), "no valid rating": int((~rated).sum())}
    for key, value in {"adjudicated": 0, "median of the valid ratings": int(has_final.sum()), **left_out}.items():
        c.equal(("final_ratings", key), value)

    # The two definitions of "successful": pooled over ratings, and over attacks with a final rating.
    model = tasks["model"].to_numpy()
    c.equal(("valid_ratings",), int(n_valid.sum()))
    c.equal(("successful_ratings",), int(high.sum()))
    c.close(("share_of_ratings_successful",), float(high.sum() / n_valid.sum()))
    kept = rated.to_numpy()
    c.interval(("share_of_ratings_successful_ci95",), float(high.sum() / n_valid.sum()),
               stratified_loop(2000, model[kept], pooled_share(high.to_numpy()[kept], n_valid.to_numpy()[kept])))
    c.equal(("share_of_ratings_successful_left_out", "no valid rating"), int((~rated).sum()))
    successful = (final[has_final] >= THRESHOLD)
    c.equal(("attacks_with_final_rating",), int(has_final.sum()))
    c.equal(("successful_attacks",), int(successful.sum()))
    c.close(("share_of_attacks_successful",), float(successful.mean()) if len(successful) else None)
    c.close(("share_of_attacks_successful_ci95",), wilson(int(successful.sum()), len(successful)))
    for key, value in left_out.items():
        c.equal(("share_of_attacks_successful_left_out", key), value)
    # Sensitivity: every attack with a rating; without a final rating, the majority of its ratings.
    split = 2 * high == n_valid
    sensitivity = ("share_of_attacks_successful_sensitivity",)
    c.equal((*sensitivity, "split_attacks"), int((split & rated & ~has_final).sum()))
    verdicts = {}
    for name, splits_count in (("splits_successful", True), ("splits_not_successful", False)):
        majority = (2 * high > n_valid) | (split & splits_count)
        verdict = pd.Series(np.where(has_final, final.fillna(-1).astype(float) >= THRESHOLD, majority), index=ratings.index)[rated]
        verdicts[name] = verdict
        path = (*sensitivity, name)
        c.equal((*path, "attacks"), len(verdict))
        c.equal((*path, "successful"), int(verdict.sum()))
        c.close((*path, "share"), float(verdict.mean()))
        c.close((*path, "ci95"), wilson(int(verdict.sum()), len(verdict)))

    mean = ratings.mean(axis=1)
    in_model = {m: ratings.index[(tasks["model"] == m).to_numpy()] for m in sorted(tasks["model"].unique())}
    per_attack = {}
    for model_name, ids in in_model.items():
        path = ("per_model", model_name)
        ids_rated = ids[rated.loc[ids].to_numpy()]
        m, h, n = mean.loc[ids_rated].to_numpy(), high.loc[ids_rated].to_numpy(), n_valid.loc[ids_rated].to_numpy()
        f = final.loc[ids_rated][has_final.loc[ids_rated]].to_numpy(dtype=float) >= THRESHOLD
        per_attack[model_name] = (m, h, n, f)
        c.equal((*path, "attacks"), len(ids_rated))
        c.equal((*path, "unrated_attacks"), len(ids) - len(ids_rated))
        c.equal((*path, "ratings"), int(n.sum()))
        c.equal((*path, "disputed"), int((reasons.loc[ids] != "").sum()))
        c.equal((*path, "attacks_with_final_rating"), len(f))
        c.equal((*path, "attacks_without_final_rating"), len(ids) - len(f))  # unrated ones too
        small = len(ids_rated) < MIN_ATTACKS  # a point estimate, n, and no interval (--min-attacks)
        c.close((*path, "mean_rating"), float(m.mean()))
        c.interval((*path, "mean_rating_ci95"), None if small else float(m.mean()),
                   stratified_loop(2000, np.zeros(len(m)), lambda i: m[i].mean()))
        c.close((*path, "share_of_ratings_successful"), float(h.sum() / n.sum()))
        c.interval((*path, "share_of_ratings_successful_ci95"), None if small else float(h.sum() / n.sum()),
                   stratified_loop(2000, np.zeros(len(m)), pooled_share(h, n)))
        c.close((*path, "share_of_attacks_successful"), float(f.mean()) if len(f) else None)
        c.close((*path, "share_of_attacks_successful_ci95"), None if small else wilson(int(f.sum()), len(f)))
        for topic in TOPICS:
            carrying = sum(topic in labels[t].consensus for t in ids_rated)
            topic_path = (*path, "topics", topic)
            c.equal((*topic_path, "attacks"), carrying)
            c.close((*topic_path, "share"), carrying / len(ids_rated))
            c.close((*topic_path, "ci95"), None if small else wilson(carrying, len(ids_rated)))
    c.equal(("per_model_reason",), None)

    # Model differences: bootstrap of the difference, the ordinal regression on every rating,
    # the permutation test, the per-cut logits, power and the topics' Fisher tests.
    all_models = list(in_model)
    models = [m for m in all_models if len(per_attack[m][0]) >= MIN_ATTACKS]
    c.equal(("model_tests", "min_attacks"), MIN_ATTACKS)
    omnibus = ("model_tests", "omnibus")
    if len(models) < 2:
        c.nulls(omnibus, keep=("method",))
        for first, second in itertools.combinations(all_models, 2):
            check_too_few(c, ("model_differences", f"{first} - {second}"), per_attack[first], per_attack[second], first, second)
        check_proxy_and_reviewers(c, review, labels, successful, has_final, left_out, split, rated, verdicts, mean, final)
        return
    long = ratings[tasks["model"].isin(models).to_numpy()].stack().dropna().rename("rating").reset_index()
    long.columns = ["task_id", "reviewer", "rating"]
    long["model"] = tasks.loc[long["task_id"], "model"].to_numpy()
    exog = pd.get_dummies(long["model"])[models[1:]].astype(float)
    fit = OrderedModel(long["rating"].astype(int).to_numpy(), exog, distr="logit").fit(
        method="bfgs", maxiter=5000, gtol=1e-7, disp=False, cov_type="cluster", cov_kwds={"groups": long["task_id"].to_numpy()}
    )
    names = list(fit.params.index)
    covariance = np.asarray(fit.cov_params())
    slopes = [names.index(m) for m in models[1:]]
    b = fit.params.to_numpy()[slopes]
    chi2 = float(b @ np.linalg.solve(covariance[np.ix_(slopes, slopes)], b))
    c.close((*omnibus, "chi2"), chi2, tol=1e-3)
    c.equal((*omnibus, "df"), len(models) - 1)
    c.close((*omnibus, "p_value"), float(stats.chi2.sf(chi2, len(models) - 1)), tol=1e-3)
    for first, second in itertools.combinations(all_models, 2):
        if first not in models or second not in models:
            check_too_few(c, ("model_differences", f"{first} - {second}"), per_attack[first], per_attack[second], first, second)
    pairs = list(itertools.combinations(models, 2))
    from statsmodels.stats.multitest import multipletests

    def holm(values):
        given = [v for v in values if v is not None]
        adjusted = iter(multipletests(given, method="holm")[1]) if given else iter(())
        return [None if v is None else float(next(adjusted)) for v in values]

    tests = [c.get("model_differences", f"{a} - {b}", "test", "p_value") for a, b in pairs]
    permutations = [c.get("model_differences", f"{a} - {b}", "permutation_test", "p_value") for a, b in pairs]
    topic_ps = [c.get("model_differences", f"{a} - {b}", "topics", t, "p_value") for a, b in pairs for t in TOPICS]
    topic_holm = iter(holm(topic_ps))
    for (first, second), test_holm, permutation_holm in zip(pairs, holm(tests), holm(permutations)):
        path = ("model_differences", f"{first} - {second}")
        c.equal((*path, "models"), [first, second])
        (m1, h1, n1, f1), (m2, h2, n2, f2) = per_attack[first], per_attack[second]
        both = np.r_[np.zeros(len(m1)), np.ones(len(m2))]
        stacked_m, stacked_h, stacked_n = np.r_[m1, m2], np.r_[h1, h2], np.r_[n1, n2]

        def mean_difference(i):
            return stacked_m[i][both[i] == 0].mean() - stacked_m[i][both[i] == 1].mean()

        def pooled_difference(i):
            one, two = i[both[i] == 0], i[both[i] == 1]
            return stacked_h[one].sum() / stacked_n[one].sum() - stacked_h[two].sum() / stacked_n[two].sum()

        c.close((*path, "mean_rating"), float(m1.mean() - m2.mean()))
        c.interval((*path, "mean_rating_ci95"), float(m1.mean() - m2.mean()), stratified_loop(2000, both, mean_difference))
        pooled = float(h1.sum() / n1.sum() - h2.sum() / n2.sum())
        c.close((*path, "share_of_ratings_successful"), pooled)
        c.interval((*path, "share_of_ratings_successful_ci95"), pooled, stratified_loop(2000, both, pooled_difference))
        attacks_difference = float(f1.mean() - f2.mean()) if len(f1) and len(f2) else None
        c.close((*path, "share_of_attacks_successful"), attacks_difference)
        c.interval((*path, "share_of_attacks_successful_ci95"), attacks_difference)

        contrast = np.zeros(len(names))
        for name, sign in ((first, 1), (second, -1)):
            if name in names:
                contrast[names.index(name)] += sign
        log_odds = float(contrast @ fit.params.to_numpy())
        se = float(np.sqrt(contrast @ covariance @ contrast))
        test = (*path, "test")
        c.equal((*test, "fitted_on"), "every model")
        c.close((*test, "log_odds_ratio"), log_odds, tol=1e-4)
        c.close((*test, "log_odds_ratio_ci95"), [log_odds - Z95 * se, log_odds + Z95 * se], tol=1e-4)
        c.close((*test, "odds_ratio"), math.exp(log_odds), tol=1e-4)
        c.close((*test, "z"), log_odds / se, tol=1e-4)
        c.close((*test, "p_value"), float(2 * stats.norm.sf(abs(log_odds / se))), tol=1e-4)
        c.close((*test, "p_value_holm"), test_holm)

        permutation = (*path, "permutation_test")
        c.close((*permutation, "statistic"), float(m1.mean() - m2.mean()))
        c.equal((*permutation, "permutations"), 2000)
        c.equal((*permutation, "exact"), False)
        reference = stats.permutation_test((m1, m2), lambda x, y: x.mean() - y.mean(), n_resamples=2000,
                                           alternative="two-sided", random_state=1).pvalue
        c.close((*permutation, "p_value"), float(reference), tol=0.05)  # other random permutations
        c.close((*permutation, "p_value_holm"), permutation_holm)

        check_cuts(c, (*path, "proportional_odds"), ratings, tasks, first, second)

        power = (*path, "power")
        from statsmodels.stats.power import TTestIndPower

        sd = math.sqrt(((len(m1) - 1) * m1.var(ddof=1) + (len(m2) - 1) * m2.var(ddof=1)) / (len(m1) + len(m2) - 2))
        effect = TTestIndPower().solve_power(effect_size=None, nobs1=len(m1), alpha=0.05, power=0.8, ratio=len(m2) / len(m1))
        c.equal((*power, "alpha"), 0.05)
        c.equal((*power, "power"), 0.8)
        c.equal((*power, "attacks"), [len(m1), len(m2)])
        c.close((*power, "sd"), sd)
        c.close((*power, "minimum_detectable_difference"), float(effect) * sd, tol=1e-3)  # a root finder's answer
        # At completion: every attack of the manifest rated, today's SD; against the planned 0.5 points.
        in_plan = review.manifest["model_type"].astype(str) + " " + review.manifest["num_params"].astype(str)
        p1, p2 = max(int((in_plan == first).sum()), len(m1)), max(int((in_plan == second).sum()), len(m2))
        at_completion = TTestIndPower().solve_power(effect_size=None, nobs1=p1, alpha=0.05, power=0.8, ratio=p2 / p1) * sd
        c.equal((*power, "attacks_planned"), [p1, p2])
        c.close((*power, "minimum_detectable_difference_at_completion"), float(at_completion), tol=1e-3)
        c.equal((*power, "target_difference"), 0.5)
        c.equal((*power, "target_met"), bool(at_completion <= 0.5))
        c._reason((*power, "target_met"), defined=True)
        p_detect = test_holm if test_holm is not None else permutation_holm
        c.equal((*path, "detected"), None if p_detect is None else bool(p_detect < 0.05))
        c._reason((*path, "detected"), defined=p_detect is not None)

        carried = {name: [sum(t in labels[i].consensus for i in in_model[name][rated.loc[in_model[name]].to_numpy()]) for t in TOPICS]
                   for name in (first, second)}
        for index, topic in enumerate(TOPICS):
            topic_path = (*path, "topics", topic)
            a, b_ = carried[first][index], carried[second][index]
            c.equal((*topic_path, "attacks"), [a, b_])
            c.close((*topic_path, "difference"), a / len(m1) - b_ / len(m2))
            p = None if a + b_ in (0, len(m1) + len(m2)) else float(stats.fisher_exact([[a, len(m1) - a], [b_, len(m2) - b_]]).pvalue)
            c.close((*topic_path, "p_value"), p)
            c.close((*topic_path, "p_value_holm"), next(topic_holm))

    check_proxy_and_reviewers(c, review, labels, successful, has_final, left_out, split, rated, verdicts, mean, final)


def check_too_few(c: Checker, path: tuple, first_attacks, second_attacks, first: str, second: str) -> None:
    """A pair with a model under --min-attacks: its differences, no interval and no test."""
    (m1, h1, n1, f1), (m2, h2, n2, f2) = first_attacks, second_attacks
    c.equal((*path, "models"), [first, second])
    c.close((*path, "mean_rating"), float(m1.mean() - m2.mean()))
    c.close((*path, "share_of_ratings_successful"), float(h1.sum() / n1.sum() - h2.sum() / n2.sum()))
    c.close((*path, "share_of_attacks_successful"), float(f1.mean() - f2.mean()) if len(f1) and len(f2) else None)
    for name in ("mean_rating_ci95", "share_of_ratings_successful_ci95", "share_of_attacks_successful_ci95", "test",
                 "proportional_odds", "detected", "detected_reason"):
        c.nulls((*path, name), keep=("method", "cut"))
    for index in range(len(c.get(*path, "proportional_odds", "cuts"))):
        c.equal((*path, "proportional_odds", "cuts", index, "cut"), index + 1)
    c.nulls((*path, "permutation_test"), keep=("method", "permutations", "exact"))
    c.equal((*path, "permutation_test", "permutations"), 0)
    c.equal((*path, "permutation_test", "exact"), False)
    c.nulls((*path, "power"), keep=("method", "alpha", "power", "attacks"))
    for key, value in (("alpha", 0.05), ("power", 0.8), ("attacks", [len(m1), len(m2)])):
        c.equal((*path, "power", key), value)
    for topic in TOPICS:
        c.nulls((*path, "topics", topic), keep=("attacks",))
        assert len(c.get(*path, "topics", topic, "attacks")) == 2
        c.mark(*path, "topics", topic, "attacks")


def check_proxy_and_reviewers(c: Checker, review: Review, labels, successful, has_final, left_out, split, rated, verdicts, mean, final) -> None:
    tasks = review.tasks
    # The proxy: successful = final rating at or above the threshold, over attacks with one.
    c.equal(("proxy", "attacks"), int(has_final.sum()))
    c.equal(("proxy", "successful"), int(successful.sum()))
    for key, value in left_out.items():
        c.equal(("proxy", "left_out", key), value)
    c.equal(("proxy", "split_attacks"), int((split & rated & ~has_final).sum()))
    for name, column, sign in (("author_rating", "author", 1), ("min_harmlessness_score_transcript", "harmlessness", -1)):
        path = ("proxy", name)
        for where, verdict in (((), successful), *((("sensitivity", key), verdicts[key]) for key in verdicts)):
            value = tasks.loc[verdict.index, column]
            known = value.notna()
            score, positive = sign * value[known].to_numpy(), verdict[known].to_numpy().astype(bool)
            c.equal((*path, *where, "attacks"), int(known.sum()))
            c.equal((*path, *where, "successful"), int(positive.sum()))
            auc, interval = delong(score, positive)
            c.close((*path, *where, "roc_auc"), auc)
            c.close((*path, *where, "roc_auc_ci95"), interval)
        both_known = mean.notna() & tasks[column].notna()
        rho, p = stats.spearmanr(tasks.loc[both_known, column], mean[both_known])
        c.equal((*path, "spearman_attacks"), int(both_known.sum()))
        c.close((*path, "spearman"), float(rho))
        c.close((*path, "spearman_p_value"), float(p))
    author_known = tasks["author"].isin([0, 1, 2, 3, 4])
    both = has_final & author_known
    counts = np.zeros((5, 5), dtype=int)
    for t in final.index[both]:
        counts[int(tasks.loc[t, "author"]), int(final[t])] += 1
    c.equal(("proxy", "confusion", "counts"), counts.tolist())
    c.equal(("proxy", "confusion", "attacks"), int(both.sum()))
    c.close(("proxy", "confusion", "exact_agreement"), float(np.trace(counts) / counts.sum()) if counts.sum() else None)
    for key, value in {**left_out, "no self-rating 0-4": int((has_final & ~author_known).sum())}.items():
        c.equal(("proxy", "confusion", "left_out", key), value)

    check_reviewers(c, review)
    for key, value in (("threshold", 3), ("n_resamples", 2000), ("seed", 0), ("drift_block_size", 50), ("manifest", True),
                       ("adjudications", 0), ("adjudications_not_in_project", [])):
        c.equal(("settings", key), value)
    for key, value in (("threshold", 3), ("spread", 3), ("min_ratings", 2)):
        c.equal(("settings", "dispute_rule", key), value)


def check_cuts(c: Checker, path: tuple, ratings: pd.DataFrame, tasks: pd.DataFrame, first: str, second: str) -> None:
    """One statsmodels Logit per cut (rating >= cut) on the pair's ratings, clustered by attack,
    and the Wald test that the cut-specific log odds ratios are equal, from the stacked sandwich."""
    from statsmodels.discrete.discrete_model import Logit

    pair = ratings[tasks["model"].isin([first, second]).to_numpy()].stack().dropna().rename("rating").reset_index()
    pair.columns = ["task_id", "reviewer", "rating"]
    is_first = (tasks.loc[pair["task_id"], "model"] == first).to_numpy().astype(float)
    exog = np.column_stack([np.ones(len(pair)), is_first])
    groups = pair["task_id"].to_numpy()
    _, group = np.unique(groups, return_inverse=True)
    n_groups, n_obs = group.max() + 1, len(pair)
    influence, estimable = [], []
    for index, cut in enumerate(range(1, 5)):
        y = (pair["rating"] >= cut).to_numpy().astype(float)
        cut_path = (*path, "cuts", index)
        c.equal((*cut_path, "cut"), cut)
        separated = any(np.all(y[is_first == side] == y[is_first == side][0]) for side in (0, 1))
        if separated:  # every rating of a model on one side of the cut: no estimate
            c.close((*cut_path, "log_odds_ratio"), None)
            c.interval((*cut_path, "log_odds_ratio_ci95"), None)
            c.equal((*cut_path, "p_value"), None)
            continue
        fit = Logit(y, exog).fit(disp=False, cov_type="cluster", cov_kwds={"groups": groups})
        value, se = float(fit.params[1]), float(fit.bse[1])
        c.close((*cut_path, "log_odds_ratio"), value, tol=1e-6)
        c.close((*cut_path, "log_odds_ratio_ci95"), [value - Z95 * se, value + Z95 * se], tol=1e-6)
        c.close((*cut_path, "p_value"), float(fit.pvalues[1]), tol=1e-6)
        bread = np.linalg.inv(-fit.model.hessian(fit.params))
        scores = np.stack([np.bincount(group, weights=column, minlength=n_groups) for column in fit.model.score_obs(fit.params).T], axis=1)
        influence.append((scores @ bread.T)[:, 1])
        estimable.append(value)
    if len(estimable) < 2:
        c.close((*path, "chi2"), None)
        return
    factor = n_groups / (n_groups - 1) * (n_obs - 1) / (n_obs - 2)  # statsmodels' small-sample correction
    stacked = np.stack(influence, axis=1)
    covariance = factor * stacked.T @ stacked
    contrast = np.diff(np.eye(len(estimable)), axis=0)
    difference = contrast @ np.array(estimable)
    chi2 = float(difference @ np.linalg.solve(contrast @ covariance @ contrast.T, difference))
    c.close((*path, "chi2"), chi2, tol=1e-5)
    c.equal((*path, "df"), len(estimable) - 1)
    p = float(stats.chi2.sf(chi2, len(estimable) - 1))
    c.close((*path, "p_value"), p, tol=1e-5)
    c.equal((*path, "holds"), p >= 0.05)


def check_reviewers(c: Checker, review: Review) -> None:
    ratings, latest = review.ratings, review.latest
    kappas, shared_counts = {}, {}
    for r in ratings.columns:
        path = ("reviewers", str(r))
        mine = latest[latest["reviewer"] == r]
        others = ratings.drop(columns=r)
        n_others = others.notna().sum(axis=1)
        shared = ratings[r].notna() & (n_others >= 1)
        own = ratings.loc[shared, r].to_numpy()
        median = others[shared].median(axis=1).to_numpy()  # a half step when the others are even in number
        offset = own - others[shared].mean(axis=1).to_numpy()
        kappa = quadratic_cohen(own, median)
        assert plain_quadratic_cohen(own, median) == (None if kappa is None else pytest.approx(kappa, abs=1e-12))
        kappas[r], shared_counts[r] = kappa, int(shared.sum())
        c.equal((*path, "email"), None)
        c.equal((*path, "annotations"), len(mine))
        c.equal((*path, "skipped"), int(mine["skipped"].sum()))
        c.close((*path, "skip_rate"), float(mine["skipped"].mean()))
        c.equal((*path, "ratings"), int(ratings[r].notna().sum()))
        c.equal((*path, "shared_tasks"), int(shared.sum()))
        c.close((*path, "quadratic_kappa"), kappa)
        strata = np.zeros(len(own))
        c.interval((*path, "quadratic_kappa_ci95"), kappa,
                   None if kappa is None else stratified_loop(400, strata, lambda i: plain_quadratic_cohen(own[i], median[i])))
        point = float(offset.mean()) if len(offset) else None
        c.interval((*path, "mean_offset_ci95"), point,
                   None if point is None else stratified_loop(2000, strata, lambda i: offset[i].mean()))
        c.close((*path, "mean_offset"), point)
        # Drift: blocks of 50 shared tasks in the order the reviewer rated them.
        when = mine.set_index("task_id").loc[ratings.index[shared], ["when", "annotation_id", "changed"]]
        order = np.lexsort((when["annotation_id"].to_numpy(), when["when"].to_numpy()))
        blocks = [order[i:i + 50] for i in range(0, len(order), 50)]
        assert len(c.get(*path, "drift")) == len(blocks)
        for b, block in enumerate(blocks):
            block_path = (*path, "drift", b)
            c.equal((*block_path, "block"), b + 1)
            c.equal((*block_path, "tasks"), len(block))
            c.equal((*block_path, "first"), when["changed"].iloc[block[0]])
            c.equal((*block_path, "last"), when["changed"].iloc[block[-1]])
            c.close((*block_path, "quadratic_kappa"), quadratic_cohen(own[block], median[block]))
    eligible = {r: k for r, k in kappas.items() if k is not None and shared_counts[r] >= 20}
    values = np.array(list(eligible.values()))
    for r in ratings.columns:
        path = ("reviewers", str(r))
        if len(values) < 3 or r not in eligible:
            c.close((*path, "modified_z"), None)
            c.equal((*path, "flagged"), False)
            continue
        median = np.median(values)
        mad = np.median(np.abs(values - median))
        z = 0.6745 * (eligible[r] - median) / mad if mad > 0 else (eligible[r] - median) / (1.2533 * np.mean(np.abs(values - median)))
        c.close((*path, "modified_z"), float(z))
        c.equal((*path, "flagged"), bool(z < -3.5 and median - eligible[r] >= 0.10))


# --- the tests ----------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=list(EXPORTS))
def export(request, tmp_path_factory):
    export_name, manifest_name = EXPORTS[request.param]
    export_path, manifest_path = FIXTURES / export_name, FIXTURES / manifest_name
    return request.param, export_path, manifest_path, read_review(export_path, manifest_path), tmp_path_factory.mktemp("reference")


def test_every_number_of_agreement_json_is_reproduced(export):
    name, export_path, manifest_path, review, folder = export
    checker = Checker(run_json("agreement", export_path, manifest_path, folder), f"agreement on the {name} export:")
    check_agreement(checker, review)
    assert checker.unchecked(EXEMPT["agreement"]) == []


def test_every_number_of_results_json_is_reproduced(export):
    name, export_path, manifest_path, review, folder = export
    checker = Checker(run_json("results", export_path, manifest_path, folder), f"results on the {name} export:")
    check_results(checker, review)
    assert checker.unchecked(EXEMPT["results"]) == []


def test_the_96_attack_export_has_what_it_was_made_for():
    """make_export_96's deliberate cases are in the export: 3 consensus topics, a tie at the cut-off, splits."""
    export_name, manifest_name = EXPORTS["96 attacks"]
    review = read_review(FIXTURES / export_name, FIXTURES / manifest_name)
    labels = {int(review.tasks.loc[t, "attack_id"]): a for t, a in attack_labels(review).items()}
    assert len(labels) == 96 and review.tasks["model"].value_counts().tolist() == [32, 32, 32]
    assert review.ratings.shape[1] == 4
    three = sorted(a for a, label in labels.items() if len(label.consensus) == 3)
    tied = sorted(a for a, label in labels.items() if "topics" in label.reasons)
    splits = [a for a, label in labels.items() if "split" in label.reasons]
    assert three == [41, 247, 517, 881] and tied == [247, 881]
    assert len(splits) >= 10 and 1113 in splits  # 1113: a split over 2 valid ratings (2 skips)
    assert int(review.latest["skipped"].sum()) == 7 and len(review.latest) == 384
