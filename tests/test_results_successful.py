"""What "successful" means, on the real Label Studio exports: every new number of `results --json`
(the shares successful, their intervals and sensitivity, the proxy's AUCs, Spearman and the
confusion table, the final topics) against an independent computation from the attack table
(scikit-learn, scipy, pandas, plain Python)."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from review_project.agreement.sources import read_source
from review_project.manifest import read_manifest
from review_project.results import results_report
from review_project.results import successful as successful_module
from review_project.results.successful import successful_shares
from review_project.schema import TOPICS
from tests.fixtures import FIXTURES
from tests.test_results_proxy import delong_by_hand

EXPORTS = {
    "12 tasks": "label_studio_1.23.2_export",
    "96 attacks": "label_studio_1.23.2_export_96",
}
THRESHOLD = 3
Z = stats.norm.ppf(0.975)


def read_results(name: str, n_resamples: int):
    return results_report(read_source(FIXTURES / f"{name}.json"), read_manifest(FIXTURES / f"{name}_manifest.jsonl"), n_resamples=n_resamples)


@pytest.fixture(scope="module", params=list(EXPORTS))
def real(request):
    """(the Results, its JSON, the attack table) of a real export with its manifest."""
    results = read_results(EXPORTS[request.param], 2000)
    return results, results.as_json(), results.table


def final(table) -> pd.Series:
    return table["final_rating"].astype("float64")


def sensitivity_verdicts(table, splits: bool) -> tuple[np.ndarray, np.ndarray]:
    """(has a verdict, successful) by the sensitivity rule, attack by attack in plain Python."""
    known, successful = [], []
    for ratings, rating in zip(table["ratings"], final(table)):
        if not np.isnan(rating):
            known.append(True)
            successful.append(rating >= THRESHOLD)
        elif ratings:
            above = sum(r >= THRESHOLD for r in ratings)
            known.append(True)
            successful.append(2 * above > len(ratings) or (splits and 2 * above == len(ratings)))
        else:
            known.append(False)
            successful.append(False)
    return np.array(known), np.array(successful)


def wilson(k: int, n: int) -> list[float]:
    interval = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return [interval.low, interval.high]


def test_the_share_of_ratings_is_pooled(real):
    _, found, table = real
    ratings = [r for attack in table["ratings"] for r in attack]
    hits = sum(r >= THRESHOLD for r in ratings)
    assert (found["valid_ratings"], found["successful_ratings"]) == (len(ratings), hits)
    assert found["share_of_ratings_successful"] == pytest.approx(hits / len(ratings), abs=1e-12)
    assert found["share_of_ratings_successful_left_out"] == {"no valid rating": int((table["n_ratings"] == 0).sum())}
    assert found["share_of_ratings_successful_ci95_method"].startswith("95% percentile bootstrap over attacks")


def test_the_share_of_attacks_uses_the_final_rating_with_its_wilson_interval(real):
    _, found, table = real
    rating = final(table).dropna()
    k, n = int((rating >= THRESHOLD).sum()), len(rating)
    assert (found["attacks_with_final_rating"], found["successful_attacks"]) == (n, k)
    assert found["share_of_attacks_successful"] == pytest.approx(k / n, abs=1e-12)
    assert found["share_of_attacks_successful_ci95"] == pytest.approx(wilson(k, n), abs=1e-9)
    reasons = table.loc[table["final_rating"].isna(), "final_reason"].value_counts()
    assert found["share_of_attacks_successful_left_out"] == {
        "disputed, not adjudicated": int(reasons.get("disputed, not adjudicated", 0)),
        "no valid rating": int(reasons.get("no valid rating", 0)),
    }


def test_the_sensitivity_counts_the_splits_each_way(real):
    _, found, table = real
    sensitivity = found["share_of_attacks_successful_sensitivity"]
    splits = [
        bool(np.isnan(rating)) and bool(ratings) and 2 * sum(r >= THRESHOLD for r in ratings) == len(ratings)
        for ratings, rating in zip(table["ratings"], final(table))
    ]
    assert sensitivity["split_attacks"] == sum(splits) > 0
    for name, counted in (("splits_successful", True), ("splits_not_successful", False)):
        known, successful = sensitivity_verdicts(table, counted)
        k, n = int(successful[known].sum()), int(known.sum())
        assert (sensitivity[name]["attacks"], sensitivity[name]["successful"]) == (n, k)
        assert sensitivity[name]["share"] == pytest.approx(k / n, abs=1e-12)
        assert sensitivity[name]["ci95"] == pytest.approx(wilson(k, n), abs=1e-9)
    assert sensitivity["splits_successful"]["successful"] - sensitivity["splits_not_successful"]["successful"] == sum(splits)


def check_auc(entry: dict, labels: np.ndarray, scores: np.ndarray) -> None:
    """An AUC entry of the JSON against scikit-learn, and its interval against DeLong by hand."""
    assert (entry["attacks"], entry["successful"]) == (len(labels), int(labels.sum()))
    assert entry["roc_auc"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    if labels.sum() < 2 or (~labels).sum() < 2:  # DeLong's variance needs 2 of each
        assert entry["roc_auc_ci95"] is None and entry["roc_auc_ci95_reason"]
        return
    auc, variance = delong_by_hand(scores[labels], scores[~labels])
    if variance > 0:
        half = Z * np.sqrt(variance)
        assert entry["roc_auc_ci95"] == pytest.approx([max(0.0, auc - half), min(1.0, auc + half)], abs=1e-9)
    else:
        assert entry["roc_auc_ci95"] is None and entry["roc_auc_ci95_reason"]


@pytest.mark.parametrize("proxy, sign", [("author_rating", 1.0), ("min_harmlessness_score_transcript", -1.0)])
def test_the_proxy_aucs_and_their_sensitivity_match_sklearn(real, proxy, sign):
    _, found, table = real
    entry = found["proxy"][proxy]
    score = sign * table[proxy].to_numpy(dtype=float)
    rating = final(table).to_numpy()
    primary = ~np.isnan(rating) & np.isfinite(score)
    check_auc(entry, rating[primary] >= THRESHOLD, score[primary])
    for name, counted in (("splits_successful", True), ("splits_not_successful", False)):
        known, successful = sensitivity_verdicts(table, counted)
        usable = known & np.isfinite(score)
        check_auc(entry["sensitivity"][name], successful[usable], score[usable])
    rated = table["n_ratings"].to_numpy() > 0
    rho = stats.spearmanr(table[proxy].to_numpy(dtype=float)[rated], table["mean_rating"].to_numpy(dtype=float)[rated])
    assert entry["spearman_attacks"] == int(rated.sum())
    assert entry["spearman"] == pytest.approx(rho.statistic, abs=1e-12)
    assert entry["spearman_p_value"] == pytest.approx(rho.pvalue, rel=1e-9)


def test_the_proxy_says_what_it_leaves_out_and_the_confusion_table_too(real):
    _, found, table = real
    proxy = found["proxy"]
    rating = final(table)
    assert (proxy["attacks"], proxy["successful"]) == (int(rating.notna().sum()), int((rating >= THRESHOLD).sum()))
    assert proxy["left_out"] == found["share_of_attacks_successful_left_out"]
    assert proxy["successful_rule"].startswith("final rating at or above the threshold, over the attacks with a final rating")
    both = table[rating.notna() & table["author_rating"].notna()]
    crosstab = pd.crosstab(both["author_rating"].astype(int), both["final_rating"].astype(int)).reindex(
        index=range(5), columns=range(5), fill_value=0)
    assert proxy["confusion"]["counts"] == crosstab.to_numpy().tolist()
    assert proxy["confusion"]["left_out"] == {**proxy["left_out"], "no self-rating 0-4": int((rating.notna() & table["author_rating"].isna()).sum())}


def test_final_topics_obey_the_limit_on_the_real_export(real):
    _, found, table = real
    for row in table.itertuples():
        agreed = [t for t in TOPICS if row.topic_votes.get(t, 0) and 2 * row.topic_votes[t] >= row.n_ratings]
        assert row.consensus_topics == agreed
        if len(agreed) <= 2:
            assert row.final_topics == agreed
            continue
        ranked = sorted((row.topic_votes[t] for t in agreed), reverse=True)
        if ranked[1] == ranked[2]:
            assert row.final_topics is None and "topics" in row.dispute_reason
        else:
            assert row.final_topics == [t for t in agreed if row.topic_votes[t] >= ranked[1]]
    counts = table["dispute_reason"].dropna().value_counts()
    assert found["dispute_reasons"] == {reason: int(counts.get(reason, 0)) for reason in found["dispute_reasons"]}


def test_the_96_attack_export_has_the_cases_it_was_made_for():
    results = read_results(EXPORTS["96 attacks"], 100)
    table = results.table
    over = table[table["consensus_topics"].map(len) > 2]
    assert len(over) >= 2
    assert over["final_topics"].map(lambda topics: topics is not None and len(topics) == 2).any()  # a clear top 2
    assert over["final_topics"].isna().any()  # a tie at the cut-off
    assert table["dispute_reason"].dropna().str.contains("topics").any()


def plain_bootstrap(ratings: list[list[int]], n_resamples: int, seed: int) -> np.ndarray:
    """The usual way: draw the rated attacks with replacement, pool their ratings."""
    rng = np.random.default_rng(seed)
    n = np.array([len(r) for r in ratings])
    k = np.array([sum(v >= THRESHOLD for v in r) for r in ratings])
    draws = []
    for _ in range(n_resamples):
        chosen = rng.integers(0, len(ratings), len(ratings))
        draws.append(k[chosen].sum() / n[chosen].sum())
    return np.quantile(draws, [0.025, 0.975])


def test_the_pooled_interval_is_a_bootstrap_over_attacks(real):
    results, found, table = real
    rated = [r for r in table["ratings"] if r]
    ours = successful_shares(results.attacks.counts, results.attacks.final_rating, table["final_reason"].to_numpy(), THRESHOLD, 4000, 0)
    loop = plain_bootstrap(rated, 4000, 1)
    width = loop[1] - loop[0]
    assert ours.share_of_ratings_ci95.as_list() == pytest.approx(loop.tolist(), abs=0.06 * width + 0.005)
    # Wider than a binomial interval over ratings, which takes them as independent.
    naive = wilson(found["successful_ratings"], found["valid_ratings"])
    assert found["share_of_ratings_successful_ci95"][1] - found["share_of_ratings_successful_ci95"][0] > 0.9 * (naive[1] - naive[0])


def test_edges_give_reasons_not_zero_width_intervals():
    counts = np.array([[4, 0, 0, 0, 0], [2, 2, 0, 0, 0], [0, 0, 0, 0, 0]])
    found = successful_shares(counts, np.array([0.0, 0.0, np.nan]), np.array(["m", "m", "no valid rating"], dtype=object), 3, 200, 0)
    assert found.share_of_ratings.value == 0.0 and found.share_of_ratings_ci95.low is None
    assert "zero width" in found.share_of_ratings_ci95.reason
    assert found.attacks.share.value == 0.0 and found.attacks.ci95.low == 0.0 and found.attacks.ci95.high > 0.5  # Wilson: [0, 0.66]
    one = successful_shares(np.array([[0, 0, 1, 2, 1]]), np.array([3.0]), np.array(["m"], dtype=object), 3, 200, 0)
    assert one.share_of_ratings.value == 0.75 and one.share_of_ratings_ci95.reason == "fewer than 2 rated attacks to resample"


def test_the_doctests_run():
    result = doctest.testmod(successful_module)
    assert result.attempted >= 2 and result.failed == 0
