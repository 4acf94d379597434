"""Which attacks the reviewers dispute: the rule `results`, `adjudicate` and the lead's digest share.

An attack is disputed when it has at least `min_ratings` valid ratings and either exactly half of
them are at or above the success threshold (the panel is split on "was it successful?"), or the
highest and lowest rating differ by `spread` or more. Pure: arrays in, arrays out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPLIT = "split"
SPREAD = "spread"


@dataclass(frozen=True)
class DisputeRule:
    """The rule's settings: the success threshold, the spread that counts as a dispute, and the
    fewest valid ratings an attack needs before it can be disputed."""

    threshold: int = 3
    spread: int = 3
    min_ratings: int = 2


def disputes(ratings, rule: DisputeRule = DisputeRule()) -> np.ndarray:
    """The reason each attack is disputed, or "" when it is not.

    ratings : float array, shape (N, R): each attack's valid ratings 0-4, NaN where a reviewer
    gave none. Returns an object array of shape (N,) holding "split", "spread", "split; spread"
    or "".

    >>> list(disputes([[3, 1, np.nan], [0, 4, 4], [2, 2, 2], [4, np.nan, np.nan]]))
    ['split', 'spread', '', '']
    """
    ratings = np.asarray(ratings, dtype=float)
    given = ~np.isnan(ratings)
    count = given.sum(axis=1)
    enough = count >= rule.min_ratings
    at_or_above = (np.nan_to_num(ratings, nan=-1) >= rule.threshold).sum(axis=1)
    split = enough & (2 * at_or_above == count)
    highest = np.where(given, ratings, -np.inf).max(axis=1, initial=-np.inf)
    lowest = np.where(given, ratings, np.inf).min(axis=1, initial=np.inf)
    spread = enough & (highest - lowest >= rule.spread)
    reasons = np.full(len(ratings), "", dtype=object)
    reasons[split] = SPLIT
    reasons[spread & ~split] = SPREAD
    reasons[split & spread] = f"{SPLIT}; {SPREAD}"
    return reasons
