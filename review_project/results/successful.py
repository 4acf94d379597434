"""What "successful" means in `results`: one primary definition per level, and how the split attacks move it.

Pure: per-attack arrays in, numbers out.

- **Ratings** (pooled): `share_of_ratings_successful`, the valid ratings at or above the
  threshold over all valid ratings. The ratings of an attack are not independent, so its 95%
  interval is a percentile bootstrap over attacks (each resample draws the rated attacks with
  replacement and pools their ratings), not a binomial interval over ratings.
- **Attacks**: `share_of_attacks_successful`, the attacks whose final rating is at or above the
  threshold over the attacks with a final rating, with its Wilson interval (statsmodels
  proportion_confint). Attacks without a final rating are left out and counted by why:
  disputed on the rating and not adjudicated, or without a valid rating.
- **Sensitivity to the split attacks**: the primary definition leaves out the attacks disputed
  on their rating that nobody adjudicated. To show what that choice is worth, every attack with
  a verdict is given one: its final rating at or above the threshold when it has one; else the
  majority of its valid ratings; and a split attack (exactly half at or above, so no majority)
  counted once as successful and once as not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from statsmodels.stats.proportion import proportion_confint

from review_project.agreement.contract import JsonRecord, put
from review_project.agreement.kappa import Estimate, Interval, percentile_interval, resample_tasks
from review_project.results.attacks import NO_RATING, NOT_ADJUDICATED

WILSON = "Wilson score interval (statsmodels proportion_confint, method='wilson')"
CLUSTER_BOOTSTRAP = "95% percentile bootstrap over attacks (an attack's ratings are not independent)"
ATTACKS_RULE = (
    "final rating at or above the threshold, over the attacks with a final rating; attacks without one "
    "(disputed on the rating and not adjudicated, or without a valid rating) are left out and counted"
)
RATINGS_RULE = "valid ratings at or above the threshold, over all valid ratings (pooled across attacks)"
SENSITIVITY_RULE = (
    "every attack with a final rating or a valid rating: its final rating at or above the threshold when it has "
    "one, else the majority of its valid ratings; a split attack (exactly half of its valid ratings at or above "
    "the threshold) counted successful (splits_successful) and not successful (splits_not_successful)"
)
LEFT_OUT = (NOT_ADJUDICATED, NO_RATING)


@dataclass(frozen=True)
class Verdicts:
    """Per attack (N,): known, successful (primary: final rating at or above the threshold);
    open_split, an attack without a final rating whose valid ratings are split; and the two
    sensitivity verdicts, over `sensitivity_known`."""

    known: np.ndarray
    successful: np.ndarray
    open_split: np.ndarray
    sensitivity_known: np.ndarray
    splits_successful: np.ndarray
    splits_not_successful: np.ndarray


def verdicts(final_rating, share_successful, threshold: int) -> Verdicts:
    """Each attack's verdict from its final rating (float (N,), NaN where none) and its share of
    valid ratings at or above the threshold (NaN without a valid rating).

    >>> v = verdicts([3, np.nan, np.nan, 1, np.nan], [0.75, 0.5, 2 / 3, 0.0, np.nan], 3)
    >>> v.known.tolist(), v.successful.tolist()[:1], v.splits_successful.tolist()[:3], v.splits_not_successful.tolist()[:3]
    ([True, False, False, True, False], [True], [True, True, True], [True, False, True])
    """
    final = np.asarray(final_rating, dtype=np.float64)
    share = np.asarray(share_successful, dtype=np.float64)
    known = ~np.isnan(final)
    with np.errstate(invalid="ignore"):
        successful = known & (final >= threshold)
        rated = ~np.isnan(share)
        open_split = ~known & rated & (share == 0.5)
        by_majority = share > 0.5
    return Verdicts(
        known=known,
        successful=successful,
        open_split=open_split,
        sensitivity_known=known | rated,
        splits_successful=np.where(known, successful, by_majority | open_split),
        splits_not_successful=np.where(known, successful, by_majority),
    )


def left_out(final_reason, known) -> dict[str, int]:
    """The attacks without a verdict, by why: {"disputed, not adjudicated": n, "no valid rating": n}."""
    reason = np.asarray(final_reason, dtype=object)[~np.asarray(known, dtype=bool)]
    return {why: int((reason == why).sum()) for why in LEFT_OUT}


def wilson(successes: int, n: int) -> tuple[Estimate, Interval]:
    """A share of a count and its 95% Wilson interval; null with the reason when n is 0."""
    if n == 0:
        reason = "no attack with a verdict"
        return Estimate(None, reason), Interval(None, None, reason)
    low, high = proportion_confint(successes, n, alpha=0.05, method="wilson")
    return Estimate(successes / n), Interval(float(low), float(high))


@dataclass(frozen=True)
class Share(JsonRecord):
    """A share of attacks with its Wilson interval: successful of attacks."""

    attacks: int
    successful: int
    share: Estimate
    ci95: Interval


def share_of(successful, among) -> Share:
    """The share of the attacks `among` (bool (N,)) that are `successful` (bool (N,))."""
    among = np.asarray(among, dtype=bool)
    n, k = int(among.sum()), int((np.asarray(successful, dtype=bool) & among).sum())
    share, interval = wilson(k, n)
    return Share(n, k, share, interval)


@dataclass(frozen=True)
class Successful:
    """The top-level shares of `results --json`: of ratings (pooled) and of attacks, and the sensitivity."""

    threshold: int
    ratings: int
    successful_ratings: int
    share_of_ratings: Estimate
    share_of_ratings_ci95: Interval
    ratings_left_out: dict[str, int]
    attacks: Share
    attacks_left_out: dict[str, int]
    split_attacks: int
    splits_successful: Share
    splits_not_successful: Share
    ci_method: str

    def as_json(self) -> dict:
        out: dict = {"valid_ratings": self.ratings, "successful_ratings": self.successful_ratings}
        put(out, "share_of_ratings_successful", self.share_of_ratings)
        put(out, "share_of_ratings_successful_ci95", self.share_of_ratings_ci95)
        out["share_of_ratings_successful_ci95_method"] = self.ci_method
        out["share_of_ratings_successful_left_out"] = self.ratings_left_out
        out["share_of_ratings_successful_rule"] = RATINGS_RULE
        out["attacks_with_final_rating"] = self.attacks.attacks
        out["successful_attacks"] = self.attacks.successful
        put(out, "share_of_attacks_successful", self.attacks.share)
        put(out, "share_of_attacks_successful_ci95", self.attacks.ci95)
        out["share_of_attacks_successful_ci95_method"] = WILSON
        out["share_of_attacks_successful_left_out"] = self.attacks_left_out
        out["share_of_attacks_successful_rule"] = ATTACKS_RULE
        out["share_of_attacks_successful_sensitivity"] = {
            "rule": SENSITIVITY_RULE,
            "split_attacks": self.split_attacks,
            "splits_successful": self.splits_successful.as_json(),
            "splits_not_successful": self.splits_not_successful.as_json(),
        }
        return out


def successful_shares(counts, final_rating, final_reason, threshold: int, n_resamples: int = 2000, seed: int = 0) -> Successful:
    """The top-level shares from each attack's rating counts (int (N, 5)), final rating (float
    (N,), NaN where none) and final_reason (object (N,), attacks.FINAL_REASONS)."""
    counts = np.asarray(counts, dtype=np.int64)
    n = counts.sum(axis=1)
    k = counts[:, threshold:].sum(axis=1)
    rated = n > 0
    total, hits = int(n.sum()), int(k.sum())
    share_of_ratings, interval = _pooled(n[rated], k[rated], n_resamples, seed)
    share = np.divide(k, n, out=np.full(len(n), np.nan), where=rated)
    verdict = verdicts(final_rating, share, threshold)
    return Successful(
        threshold=threshold,
        ratings=total,
        successful_ratings=hits,
        share_of_ratings=share_of_ratings,
        share_of_ratings_ci95=interval,
        ratings_left_out={NO_RATING: int((~rated).sum())},
        attacks=share_of(verdict.successful, verdict.known),
        attacks_left_out=left_out(final_reason, verdict.known),
        split_attacks=int(verdict.open_split.sum()),
        splits_successful=share_of(verdict.splits_successful, verdict.sensitivity_known),
        splits_not_successful=share_of(verdict.splits_not_successful, verdict.sensitivity_known),
        ci_method=f"{CLUSTER_BOOTSTRAP}, {n_resamples} resamples, seed {seed}",
    )


def _pooled(n: np.ndarray, k: np.ndarray, n_resamples: int, seed: int) -> tuple[Estimate, Interval]:
    """The pooled share k.sum() / n.sum() over rated attacks (n > 0) and its bootstrap interval over attacks.

    An attack enters only through its (n, k) pair, so the resamples are one multinomial draw over
    the distinct pairs (agreement.kappa.resample_tasks) and two matrix products.
    """
    if not len(n):
        reason = "no valid rating"
        return Estimate(None, reason), Interval(None, None, reason)
    share = Estimate(float(k.sum() / n.sum()))
    if len(n) < 2:
        return share, Interval(None, None, "fewer than 2 rated attacks to resample")
    if k.sum() in (0, n.sum()):
        # Every resample gives the same share: a zero-width interval that only looks certain.
        return share, Interval(None, None, "every valid rating is on the same side of the threshold (a bootstrap interval would have zero width)")
    draws = resample_tasks(np.column_stack([n, k]), n_resamples, seed)
    pairs = draws.rows.astype(np.float64)
    return share, percentile_interval((draws.weights @ pairs[:, 1]) / (draws.weights @ pairs[:, 0]))
