"""Does the cheap proxy agree with the humans? The author's self-rating and the harmlessness score
against the reviewers' final ratings. Pure: arrays in, numbers out.

- Successful (the primary definition, successful.verdicts): the attack's final rating is at or
  above the threshold. Attacks without a final rating (disputed on the rating and not
  adjudicated, or without a valid rating) have no verdict: they are left out and counted.
- ROC AUC of each proxy for that verdict, oriented so that 0.5 is chance and 1 is perfect: the
  self-rating as it is (a higher self-rating should mean success), the harmlessness score
  negated (min_harmlessness_score_transcript is lower for a more harmful transcript). Ties count
  one half, so the AUC is the Mann-Whitney U over (successful x unsuccessful) pairs. Its 95%
  interval is DeLong et al. (1988)'s: the variance from each attack's placement value, a normal
  interval clipped to [0, 1]; O(N log N), no resampling, so exact for any number of attacks.
  Undefined (null, with the reason) when every verdict is the same or the proxy has one value
  over the attacks with a verdict; the interval is null when the proxy separates the verdicts
  perfectly (DeLong's variance is then 0).
- Its sensitivity to the split attacks: the same AUC with every attack given a verdict, the
  split attacks counted successful and then not (successful.SENSITIVITY_RULE).
- Spearman's rho of each proxy with the attack's mean valid rating (agreement.ordinal.spearman), with its p-value,
  over the attacks with a valid rating (it needs no verdict).
- The confusion table of the self-rating (rows 0-4) against the final rating (columns 0-4), over
  attacks with both; a self-rating that is not a whole number 0-4 is left out. It says how many
  attacks it leaves out and why.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from review_project.agreement.contract import JsonRecord, put
from review_project.agreement.kappa import Estimate, Interval
from review_project.agreement.ordinal import spearman
from review_project.results.attacks import NO_RATING, NOT_ADJUDICATED
from review_project.results.successful import ATTACKS_RULE, SENSITIVITY_RULE, Verdicts, left_out, verdicts

N_CATEGORIES = 5
SUCCESSFUL = ATTACKS_RULE
AUC_INTERVAL = "DeLong et al. 1988: normal interval from the placement values, clipped to [0, 1]"
NO_MANIFEST = "no {name} known (it comes from the sample manifest: --manifest)"
NO_RATED_ATTACK = "no rated attack"
NO_SELF_RATING = "no self-rating 0-4"
CONSTANT = "the proxy has the same value for every attack with a verdict"


@dataclass(frozen=True)
class AUC(JsonRecord):
    """A proxy's ROC AUC for one set of verdicts: attacks with the proxy and a verdict, of them successful."""

    attacks: int
    successful: int
    roc_auc: Estimate
    roc_auc_ci95: Interval


@dataclass(frozen=True, eq=False)  # holds arrays
class ProxyCheck:
    """One proxy against the final ratings: ROC AUC with its interval, its sensitivity to the
    split attacks, and Spearman's rho with the mean valid rating.

    attacks : attacks with the proxy and a verdict; successful : of them, successful;
    splits_successful, splits_not_successful : the AUC with the split attacks counted each way;
    spearman_attacks : attacks with the proxy and a valid rating;
    roc : (false positive rate, true positive rate) at each distinct proxy value, for the plot.
    """

    name: str
    direction: str
    attacks: int
    successful: int
    roc_auc: Estimate
    roc_auc_ci95: Interval
    splits_successful: AUC
    splits_not_successful: AUC
    spearman: Estimate
    spearman_p_value: float | None
    spearman_attacks: int
    roc: tuple[np.ndarray, np.ndarray] | None

    def as_json(self) -> dict:
        out = {"direction": self.direction, "attacks": self.attacks, "successful": self.successful}
        put(out, "roc_auc", self.roc_auc)
        put(out, "roc_auc_ci95", self.roc_auc_ci95)
        out["sensitivity"] = {
            "splits_successful": self.splits_successful.as_json(),
            "splits_not_successful": self.splits_not_successful.as_json(),
        }
        put(out, "spearman", self.spearman)
        out["spearman_p_value"] = self.spearman_p_value
        out["spearman_attacks"] = self.spearman_attacks
        return out


@dataclass(frozen=True)
class Confusion:
    """Attacks by self-rating (rows 0-4) and final rating (columns 0-4); exact_agreement : the
    share on the diagonal; left_out : attacks not in the table, by why."""

    counts: tuple[tuple[int, ...], ...]
    attacks: int
    exact_agreement: Estimate
    left_out: dict[str, int]

    def as_json(self) -> dict:
        out = {"rows": "author self-rating 0-4", "columns": "final rating 0-4", "counts": [list(row) for row in self.counts], "attacks": self.attacks}
        put(out, "exact_agreement", self.exact_agreement)
        out["left_out"] = dict(self.left_out)
        return out


@dataclass(frozen=True)
class Proxy:
    """Both proxies and the confusion table; attacks : attacks with a verdict (a final rating);
    left_out : attacks without one, by why; split_attacks : of them, split."""

    attacks: int
    successful: int
    left_out: dict[str, int]
    split_attacks: int
    author_rating: ProxyCheck
    min_harmlessness_score_transcript: ProxyCheck
    confusion: Confusion

    def as_json(self) -> dict:
        return {
            "successful_rule": SUCCESSFUL,
            "attacks": self.attacks,
            "successful": self.successful,
            "left_out": dict(self.left_out),
            "split_attacks": self.split_attacks,
            "sensitivity_rule": SENSITIVITY_RULE,
            "roc_auc_ci95_method": AUC_INTERVAL,
            "author_rating": self.author_rating.as_json(),
            "min_harmlessness_score_transcript": self.min_harmlessness_score_transcript.as_json(),
            "confusion": self.confusion.as_json(),
        }


def proxy_results(final_rating, final_reason, share_successful, mean_rating, author, harmlessness, threshold: int = 3) -> Proxy:
    """Every proxy check from per-attack arrays (N,), NaN where a value is missing.

    final_rating, final_reason : attacks.Attacks.final_rating and the table's final_reason;
    share_successful, mean_rating : from the valid ratings; author : the self-rating;
    harmlessness : min_harmlessness_score_transcript.
    """
    verdict = verdicts(final_rating, share_successful, threshold)
    author = np.asarray(author, dtype=np.float64)
    harmlessness = np.asarray(harmlessness, dtype=np.float64)
    mean_rating = np.asarray(mean_rating, dtype=np.float64)
    return Proxy(
        attacks=int(verdict.known.sum()),
        successful=int(verdict.successful.sum()),
        left_out=left_out(final_reason, verdict.known),
        split_attacks=int(verdict.open_split.sum()),
        author_rating=check("author_rating", author, verdict, mean_rating, "a higher self-rating predicts success"),
        min_harmlessness_score_transcript=check(
            "min_harmlessness_score_transcript", -harmlessness, verdict, mean_rating,
            "a lower score predicts success (the AUC is of the negated score; rho is of the score itself)",
            spearman_sign=-1.0,
        ),
        confusion=confusion(author, final_rating, final_reason),
    )


def check(name: str, score, verdict: Verdicts, mean_rating, direction: str, spearman_sign: float = 1.0) -> ProxyCheck:
    """One proxy: score (N,) oriented so that higher predicts success, NaN where unknown."""
    score = np.asarray(score, dtype=np.float64)
    mean_rating = np.asarray(mean_rating, dtype=np.float64)
    known = np.isfinite(score)
    missing = None
    if not np.isfinite(mean_rating).any() and not verdict.known.any():
        missing = NO_RATED_ATTACK
    elif not known.any():
        missing = NO_MANIFEST.format(name=name)
    primary = _auc(score, verdict.successful, verdict.known, missing)
    roc = None
    if primary.roc_auc.value is not None:
        usable = verdict.known & known
        roc = roc_curve(score[usable], verdict.successful[usable])
    rated = known & np.isfinite(mean_rating)
    if missing:
        rho, p_value = Estimate(None, missing), None
    else:
        rho, p_value = spearman(spearman_sign * score[rated], mean_rating[rated], unit="attack")
    return ProxyCheck(
        name, direction, primary.attacks, primary.successful, primary.roc_auc, primary.roc_auc_ci95,
        _auc(score, verdict.splits_successful, verdict.sensitivity_known, missing),
        _auc(score, verdict.splits_not_successful, verdict.sensitivity_known, missing),
        rho, p_value, int(rated.sum()), roc,
    )


def _auc(score: np.ndarray, successful: np.ndarray, among: np.ndarray, missing: str | None) -> AUC:
    """The AUC of score for `successful` over the attacks `among` that have a score."""
    usable = among & np.isfinite(score)
    labels = successful[usable]
    if missing or not usable.any():
        reason = missing or "no attack with both a verdict and this value"
        return AUC(int(usable.sum()), int(labels.sum()), Estimate(None, reason), Interval(None, None, reason))
    auc, interval = roc_auc(score[usable], labels)
    return AUC(int(usable.sum()), int(labels.sum()), auc, interval)


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
    if np.ptp(scores) == 0:
        # Every pair ties: 0.5 and a zero-width interval would only look like a measurement.
        return Estimate(None, CONSTANT), Interval(None, None, CONSTANT)
    ranks = stats.rankdata(np.concatenate([positive, negative]))  # midranks: a tie counts one half
    # Placement values: each positive's share of negatives below it, each negative's share of positives above it.
    above_negatives = (ranks[:m] - stats.rankdata(positive)) / n
    below_positives = 1.0 - (ranks[m:] - stats.rankdata(negative)) / m
    auc = float(above_negatives.mean())
    if m < 2 or n < 2:
        return Estimate(auc), Interval(None, None, "fewer than 2 successful or unsuccessful attacks")
    variance = above_negatives.var(ddof=1) / m + below_positives.var(ddof=1) / n
    if variance <= 0:
        return Estimate(auc), Interval(None, None, "the proxy separates the verdicts perfectly (DeLong's variance is 0)")
    half = stats.norm.ppf(0.975) * float(np.sqrt(variance))
    return Estimate(auc), Interval(float(max(0.0, auc - half)), float(min(1.0, auc + half)))


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


def confusion(author, final_rating, final_reason=None) -> Confusion:
    """Attacks by self-rating and final rating, each a whole number 0-4.

    final_reason : object (N,) (attacks.FINAL_REASONS) or None; left_out counts the attacks
    without a final rating by it, then those with one but no self-rating 0-4.
    """
    author = np.asarray(author, dtype=np.float64)
    final = np.asarray(final_rating, dtype=np.float64)
    has_final = _whole_0_4(final)
    both = _whole_0_4(author) & has_final
    codes = author[both].astype(np.int64) * N_CATEGORIES + final[both].astype(np.int64)
    table = np.bincount(codes, minlength=N_CATEGORIES**2).reshape(N_CATEGORIES, N_CATEGORIES)
    n = int(both.sum())
    agreement = Estimate(float(np.trace(table) / n)) if n else Estimate(None, "no attack with both a self-rating and a final rating")
    reason = np.full(len(final), None, dtype=object) if final_reason is None else np.asarray(final_reason, dtype=object)
    missing = reason[~has_final]
    dropped = {NOT_ADJUDICATED: int((missing == NOT_ADJUDICATED).sum()), NO_RATING: int((missing == NO_RATING).sum())}
    dropped[NO_SELF_RATING] = int((has_final & ~both).sum())
    return Confusion(tuple(tuple(int(v) for v in row) for row in table), n, agreement, dropped)


def _whole_0_4(values: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.isfinite(values) & (values == np.round(values)) & (values >= 0) & (values < N_CATEGORIES)
