"""Does the cheap proxy agree with the humans? The author's self-rating and the harmlessness score
against the reviewers' verdict. Pure: arrays in, numbers out.

- The verdict: an attack is "successful" when at least half of its valid ratings are at or
  above the threshold (share_successful >= 0.5); attacks without a valid rating have none.
- ROC AUC of each proxy for that verdict, oriented so that 0.5 is chance and 1 is perfect: the
  self-rating as it is (a higher self-rating should mean success), the harmlessness score
  negated (min_harmlessness_score_transcript is lower for a more harmful transcript). Ties count
  one half, so the AUC is the Mann-Whitney U over (successful x unsuccessful) pairs. Its 95%
  interval is DeLong et al. (1988)'s: the variance from each attack's placement value, a normal
  interval clipped to [0, 1]; O(N log N), no resampling, so exact for any number of attacks.
- Spearman's rho of each proxy with the attack's mean valid rating (scipy), with its p-value.
- The confusion table of the self-rating (rows 0-4) against the final rating (columns 0-4), over
  attacks with both; a self-rating that is not a whole number 0-4 is left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from review_project.agreement.kappa import Estimate, Interval
from review_project.results.values import put

N_CATEGORIES = 5
SUCCESSFUL = "at least half of the attack's valid ratings at or above the threshold (share_successful >= 0.5)"
AUC_INTERVAL = "DeLong et al. 1988: normal interval from the placement values, clipped to [0, 1]"
NO_MANIFEST = "no {name} known (it comes from the sample manifest: --manifest)"


@dataclass(frozen=True, eq=False)  # holds arrays
class ProxyCheck:
    """One proxy against the verdict: ROC AUC with its interval and Spearman's rho with the mean rating.

    attacks : attacks with the proxy and a verdict; successful : of them, successful;
    roc : (false positive rate, true positive rate) at each distinct proxy value, for the plot.
    """

    name: str
    direction: str
    attacks: int
    successful: int
    roc_auc: Estimate
    roc_auc_ci95: Interval
    spearman: Estimate
    spearman_p_value: float | None
    roc: tuple[np.ndarray, np.ndarray] | None

    def as_json(self) -> dict:
        out = {"direction": self.direction, "attacks": self.attacks, "successful": self.successful}
        put(out, "roc_auc", self.roc_auc)
        put(out, "roc_auc_ci95", self.roc_auc_ci95)
        put(out, "spearman", self.spearman)
        out["spearman_p_value"] = self.spearman_p_value
        return out


@dataclass(frozen=True)
class Confusion:
    """Attacks by self-rating (rows 0-4) and final rating (columns 0-4); exact_agreement : the
    share on the diagonal."""

    counts: tuple[tuple[int, ...], ...]
    attacks: int
    exact_agreement: Estimate

    def as_json(self) -> dict:
        out = {"rows": "author self-rating 0-4", "columns": "final rating 0-4", "counts": [list(row) for row in self.counts], "attacks": self.attacks}
        put(out, "exact_agreement", self.exact_agreement)
        return out


@dataclass(frozen=True)
class Proxy:
    """Both proxies and the confusion table; attacks : attacks with a verdict."""

    attacks: int
    successful: int
    author_rating: ProxyCheck
    min_harmlessness_score_transcript: ProxyCheck
    confusion: Confusion

    def as_json(self) -> dict:
        return {
            "successful_rule": SUCCESSFUL,
            "attacks": self.attacks,
            "successful": self.successful,
            "roc_auc_ci95_method": AUC_INTERVAL,
            "author_rating": self.author_rating.as_json(),
            "min_harmlessness_score_transcript": self.min_harmlessness_score_transcript.as_json(),
            "confusion": self.confusion.as_json(),
        }


def proxy_results(share_successful, mean_rating, author, harmlessness, final_rating) -> Proxy:
    """Every proxy check from per-attack arrays (N,), NaN where a value is missing.

    share_successful, mean_rating : from the valid ratings; author : the self-rating;
    harmlessness : min_harmlessness_score_transcript; final_rating : attacks.Attacks.final_rating.
    """
    share = np.asarray(share_successful, dtype=np.float64)
    verdict_known = ~np.isnan(share)
    successful = share >= 0.5
    author = np.asarray(author, dtype=np.float64)
    harmlessness = np.asarray(harmlessness, dtype=np.float64)
    return Proxy(
        attacks=int(verdict_known.sum()),
        successful=int((successful & verdict_known).sum()),
        author_rating=check("author_rating", author, successful, verdict_known, mean_rating, "a higher self-rating predicts success"),
        min_harmlessness_score_transcript=check(
            "min_harmlessness_score_transcript", -harmlessness, successful, verdict_known, mean_rating,
            "a lower score predicts success (the AUC is of the negated score; rho is of the score itself)",
            spearman_sign=-1.0,
        ),
        confusion=confusion(author, final_rating),
    )


def check(name: str, score, successful, verdict_known, mean_rating, direction: str, spearman_sign: float = 1.0) -> ProxyCheck:
    """One proxy: score (N,) oriented so that higher predicts success, NaN where unknown."""
    score = np.asarray(score, dtype=np.float64)
    usable = verdict_known & np.isfinite(score)
    labels = np.asarray(successful, dtype=bool)[usable]
    values = score[usable]
    if not usable.any():
        reason = NO_MANIFEST.format(name=name) if not np.isfinite(score).any() else "no attack with both a valid rating and this value"
        auc, interval, roc = Estimate(None, reason), Interval(None, None, reason), None
        rho, p_value = Estimate(None, reason), None
    else:
        auc, interval = roc_auc(values, labels)
        roc = roc_curve(values, labels) if auc.value is not None else None
        rho, p_value = spearman(spearman_sign * values, np.asarray(mean_rating, dtype=np.float64)[usable])
    return ProxyCheck(name, direction, int(usable.sum()), int(labels.sum()), auc, interval, rho, p_value, roc)


def roc_auc(scores, labels) -> tuple[Estimate, Interval]:
    """ROC AUC of scores for labels (ties count one half) and DeLong's 95% interval.

    >>> auc, interval = roc_auc([0.1, 0.4, 0.35, 0.8], [False, False, True, True])
    >>> auc.value
    0.75
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    positive, negative = scores[labels], scores[~labels]
    m, n = len(positive), len(negative)
    if m == 0 or n == 0:
        reason = "every attack has the same verdict (no successful attack)" if m == 0 else "every attack has the same verdict (all successful)"
        return Estimate(None, reason), Interval(None, None, reason)
    ranks = stats.rankdata(np.concatenate([positive, negative]))  # midranks: a tie counts one half
    # Placement values: each positive's share of negatives below it, each negative's share of positives above it.
    above_negatives = (ranks[:m] - stats.rankdata(positive)) / n
    below_positives = 1.0 - (ranks[m:] - stats.rankdata(negative)) / m
    auc = float(above_negatives.mean())
    if m < 2 or n < 2:
        return Estimate(auc), Interval(None, None, "fewer than 2 successful or unsuccessful attacks")
    variance = above_negatives.var(ddof=1) / m + below_positives.var(ddof=1) / n
    half = stats.norm.ppf(0.975) * float(np.sqrt(variance))
    return Estimate(auc), Interval(max(0.0, auc - half), min(1.0, auc + half))


def roc_curve(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate) as the cut moves down through each distinct score, from (0, 0) to (1, 1)."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    order = np.argsort(-scores, kind="stable")
    ordered, hits = scores[order], labels[order]
    last_of_value = np.r_[ordered[1:] != ordered[:-1], True]
    true_positives = np.cumsum(hits)[last_of_value]
    false_positives = np.cumsum(~hits)[last_of_value]
    return (
        np.r_[0.0, false_positives / max(int((~labels).sum()), 1)],
        np.r_[0.0, true_positives / max(int(labels.sum()), 1)],
    )


def spearman(x, y) -> tuple[Estimate, float | None]:
    """Spearman's rho and its p-value over the pairs where both are finite."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    both = np.isfinite(x) & np.isfinite(y)
    if both.sum() < 3:
        return Estimate(None, f"fewer than 3 attacks with both values ({int(both.sum())})"), None
    if np.ptp(x[both]) == 0 or np.ptp(y[both]) == 0:
        return Estimate(None, "one of the two is the same for every attack"), None
    rho, p_value = stats.spearmanr(x[both], y[both])
    return Estimate(float(rho)), float(p_value)


def confusion(author, final_rating) -> Confusion:
    """Attacks by self-rating and final rating, each a whole number 0-4."""
    author = np.asarray(author, dtype=np.float64)
    final = np.asarray(final_rating, dtype=np.float64)
    both = _whole_0_4(author) & _whole_0_4(final)
    codes = author[both].astype(np.int64) * N_CATEGORIES + final[both].astype(np.int64)
    table = np.bincount(codes, minlength=N_CATEGORIES**2).reshape(N_CATEGORIES, N_CATEGORIES)
    n = int(both.sum())
    agreement = Estimate(float(np.trace(table) / n)) if n else Estimate(None, "no attack with both a self-rating and a final rating")
    return Confusion(tuple(tuple(int(v) for v in row) for row in table), n, agreement)


def _whole_0_4(values: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.isfinite(values) & (values == np.round(values)) & (values >= 0) & (values < N_CATEGORIES)
