"""The tests of a pair of models that need no ordinal model: the permutation test over attacks,
Fisher's exact test of topic shares, Wilson and Newcombe intervals, the minimum detectable
difference, and Holm's adjustment. Pure and vectorised; results.models puts them together."""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass

import numpy as np

from review_project.agreement.contract import JsonRecord, put
from review_project.agreement.kappa import Estimate, Interval
from review_project.schema import TOPICS

ALPHA, POWER = 0.05, 0.8
PERMUTATION_METHOD = (
    "permutation test over attacks: the pair's model labels shuffled across its rated attacks; statistic: "
    "the difference in mean rating (first - second, the mean over attacks of each attack's mean valid rating); "
    "two-sided p-value as scipy.stats.permutation_test gives it (twice the smaller one-sided p-value, at most 1)"
)
TOPIC_TEST = (
    "two-sided Fisher's exact test of the two models' shares of attacks carrying the topic (as scipy.stats.fisher_exact)"
)
POWER_METHOD = (
    "smallest difference in mean rating a two-sided two-sample t-test detects with 80% power at alpha 0.05, "
    "for these attacks (statsmodels TTestIndPower, through planning.minimum_detectable_difference); sd: the pooled "
    "standard deviation of the two models' attack mean ratings"
)


@dataclass(frozen=True)
class PermutationTest:
    """The difference in mean rating of a pair and its permutation p-value (None, with the reason,
    when there is no test); exact when every split of the attacks was enumerated."""

    statistic: float | None
    p_value: float | None
    permutations: int
    exact: bool
    reason: str | None = None
    p_value_holm: float | None = None

    def as_json(self) -> dict:
        return {
            "method": PERMUTATION_METHOD, "statistic": self.statistic, "permutations": self.permutations, "exact": self.exact,
            "p_value": self.p_value, "p_value_reason": self.reason, "p_value_holm": self.p_value_holm,
        }


def permutation_test(first, second, n_permutations: int, rng: np.random.Generator) -> PermutationTest:
    """Two-sided permutation test of the difference in means of first (n1,) and second (n2,).

    Shuffling the labels across the pooled attacks makes the first group a uniformly random
    n1-subset; the statistic depends only on how many of each distinct value it holds, a
    multivariate hypergeometric draw. So the P permutations are one draw of a (P, K) matrix of
    counts over the K distinct values and one matrix product, whatever the number of attacks.
    When there are no more splits than n_permutations, all of them are enumerated (exact), as
    scipy.stats.permutation_test does.
    """
    first, second = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    n1, n2 = len(first), len(second)
    pooled = np.concatenate([first, second])
    total = pooled.sum()
    observed = float(first.mean() - second.mean())
    splits = math.comb(n1 + n2, n1)
    exact = splits <= n_permutations
    if exact:
        chosen = np.array(list(itertools.combinations(range(n1 + n2), n1)))
        sums = pooled[chosen].sum(axis=1)
    else:
        values, multiplicity = np.unique(pooled, return_counts=True)
        sums = rng.multivariate_hypergeometric(multiplicity, n1, size=n_permutations) @ values
    null = sums / n1 - (total - sums) / n2
    # scipy's comparison: a relative tolerance, so that ties in floating point count as ties.
    gamma = abs(observed) * np.finfo(np.float64).eps * 100 + 1e-12
    adjustment = 0 if exact else 1
    less = (np.count_nonzero(null <= observed + gamma) + adjustment) / (len(null) + adjustment)
    greater = (np.count_nonzero(null >= observed - gamma) + adjustment) / (len(null) + adjustment)
    return PermutationTest(observed, float(min(1.0, 2 * min(less, greater))), int(len(null)), exact)


PLANNED_UNKNOWN = "the attacks planned per model are not known (give --manifest)"


@dataclass(frozen=True)
class Power:
    """What the pair's attacks could have detected: the minimum detectable difference in mean rating,
    and, for a review in progress, what the attacks planned will detect, against the planned difference."""

    attacks: tuple[int, int]
    sd: float | None
    minimum_detectable_difference: Estimate
    attacks_planned: tuple[int, int] | None = None
    at_completion: Estimate = Estimate(None, PLANNED_UNKNOWN)
    target_difference: float | None = None
    target_met: Estimate = Estimate(None, "no planned difference given")

    def as_json(self) -> dict:
        out = {"method": POWER_METHOD, "alpha": ALPHA, "power": POWER, "attacks": list(self.attacks), "sd": self.sd}
        put(out, "minimum_detectable_difference", self.minimum_detectable_difference)
        out["attacks_planned"] = None if self.attacks_planned is None else list(self.attacks_planned)
        put(out, "minimum_detectable_difference_at_completion", self.at_completion)
        out["target_difference"] = self.target_difference
        put(out, "target_met", self.target_met)
        return out


@dataclass(frozen=True)
class TopicDifference(JsonRecord):
    """One topic in a pair: attacks carrying it in each model, the difference of shares, Fisher's p."""

    topic: str
    attacks: tuple[int, int]
    difference: Estimate
    p_value: Estimate
    p_value_holm: float | None = None

    json_leaves_out = ("topic",)  # ModelDifference.as_json keys each topic by it


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment of p-values (m,), as statsmodels multipletests(method="holm")
    gives it (which costs a gc.collect() per call: 0.17 s at full size)."""
    p_values = np.asarray(p_values, dtype=np.float64)
    m = len(p_values)
    order = np.argsort(p_values, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p_values[order]))
    out = np.empty(m)
    out[order] = adjusted
    return out


def wilson(count, n) -> Interval:
    from statsmodels.stats.proportion import proportion_confint

    low, high = _exact_ends(count, n, *proportion_confint(count, n, alpha=ALPHA, method="wilson"))
    return Interval(float(low), float(high))


def _exact_ends(count, n, low, high):
    """Wilson's interval starts at exactly 0 for 0 of n and ends at 1 for n of n (statsmodels leaves ~1e-18)."""
    return np.where(np.equal(count, 0), 0.0, low), np.where(np.equal(count, n), 1.0, high)


def newcombe(successful: np.ndarray, n: np.ndarray, no_final: str) -> Interval:
    if not n.all():
        return Interval(None, None, no_final)
    from statsmodels.stats.proportion import confint_proportions_2indep

    low, high = confint_proportions_2indep(successful[0], n[0], successful[1], n[1], method="newcomb", compare="diff", alpha=ALPHA)
    return Interval(float(low), float(high))


def topic_differences(carried: np.ndarray, n: np.ndarray) -> tuple[TopicDifference, ...]:
    """Fisher's exact test of each topic's share in two models: carried (2, T), n (2,)."""
    a, b = carried
    informative = (a + b > 0) & (a + b < n.sum())
    p_values = np.full(len(a), np.nan)
    p_values[informative] = fisher_exact(a[informative], n[0], b[informative], n[1])
    out = []
    for t, topic in enumerate(TOPICS):
        if a[t] + b[t] == 0:
            p = Estimate(None, "no attack of either model carries this topic")
        elif a[t] + b[t] == n.sum():
            p = Estimate(None, "every attack of both models carries this topic")
        else:
            p = Estimate(float(p_values[t]))
        out.append(TopicDifference(topic, (int(a[t]), int(b[t])), Estimate(float(a[t] / n[0] - b[t] / n[1])), p))
    return tuple(out)


def fisher_exact(first, n_first: int, second, n_second: int) -> np.ndarray:
    """Two-sided Fisher's exact p-values of first/n_first against second/n_second, (k,) tables at once.

    Given the margins, the first model's count is hypergeometric; the p-value sums the
    probabilities of every count no more likely than the one observed (relative tolerance 1e-7,
    as R's fisher.test; scipy.stats.fisher_exact gives the same), over one flat array of every
    table's support, so the 20 topics x pairs cost one gammaln call instead of a scipy call each.
    """
    from scipy.special import gammaln

    first, second = np.asarray(first, dtype=np.int64), np.asarray(second, dtype=np.int64)
    total, n = first + second, n_first + n_second
    low, high = np.maximum(0, total - n_second), np.minimum(total, n_first)
    sizes = high - low + 1
    table = np.repeat(np.arange(len(first)), sizes)
    x = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes) + low[table]

    def log_choose(a, b):
        return gammaln(a + 1) - gammaln(b + 1) - gammaln(a - b + 1)

    def log_pmf(x, k):
        return log_choose(k, x) + log_choose(n - k, n_first - x) - log_choose(n, n_first)

    observed = log_pmf(first, total)
    probability = np.exp(log_pmf(x, total[table]))
    extreme = probability <= np.exp(observed)[table] * (1 + 1e-7)
    return np.minimum(1.0, np.bincount(table, weights=probability * extreme, minlength=len(first)))


def power_analyses(pairs, target: float | None = None) -> list[Power]:
    """Each pair's minimum detectable difference in mean rating for its attacks, [(first, second,
    planned)]; with `planned` attacks per model, also at completion (today's SD), against the
    `target` difference. Every difference is solved in one call of planning's vectorised solver."""
    found = [_power_now(first, second) for first, second, _ in pairs]
    solvable = [i for i, power in enumerate(found) if power.sd is not None and power.sd > 0]
    completion = {i: (max(pairs[i][2][0], found[i].attacks[0]), max(pairs[i][2][1], found[i].attacks[1]))
                  for i in solvable if pairs[i][2] is not None}
    groups = [found[i].attacks for i in solvable] + list(completion.values())
    sds = [found[i].sd for i in solvable] + [found[i].sd for i in completion]
    solved = iter(_detectable(groups, sds))
    now = {i: next(solved) for i in solvable}
    later = {i: next(solved) for i in completion}
    out = []
    for i, ((_, _, planned), power) in enumerate(zip(pairs, found)):
        if i in now:
            power = dataclasses.replace(power, minimum_detectable_difference=now[i])
        if i not in later:
            reason = power.minimum_detectable_difference.reason or PLANNED_UNKNOWN
            out.append(dataclasses.replace(power, attacks_planned=planned, at_completion=Estimate(None, reason),
                                           target_difference=target, target_met=Estimate(None, reason)))
            continue
        at_completion = later[i]
        met = (Estimate(None, "no planned difference given") if target is None else
               Estimate(None, at_completion.reason) if at_completion.value is None else
               Estimate(bool(at_completion.value <= target)))
        out.append(dataclasses.replace(power, attacks_planned=completion[i], at_completion=at_completion,
                                       target_difference=target, target_met=met))
    return out


def _detectable(groups: list[tuple[int, int]], sds: list[float]) -> list[Estimate]:
    from review_project.planning import minimum_detectable_differences

    if not groups:
        return []
    n_first, n_second = np.array(groups, dtype=np.float64).T
    try:
        found = minimum_detectable_differences(n_first, n_second, np.array(sds), alpha=ALPHA, power=POWER)
    except ValueError as error:
        return [Estimate(None, f"the power computation failed ({error})")] * len(groups)
    failed = "the power computation failed (the t-test's power could not be computed for these groups)"
    return [Estimate(float(d)) if np.isfinite(d) else Estimate(None, failed) for d in found]


def _power_now(first: np.ndarray, second: np.ndarray) -> Power:
    """The pair's attacks and the pooled SD of their mean ratings; its minimum detectable
    difference is left for power_analyses to solve with every other pair's."""
    n1, n2 = len(first), len(second)
    if min(n1, n2) < 2:
        return Power((n1, n2), None, Estimate(None, "fewer than 2 rated attacks in a model of the pair"))
    sd = float(np.sqrt(((n1 - 1) * first.var(ddof=1) + (n2 - 1) * second.var(ddof=1)) / (n1 + n2 - 2)))
    if not sd > 0:
        return Power((n1, n2), sd, Estimate(None, "every attack of the pair has the same mean rating"))
    return Power((n1, n2), sd, Estimate(None, "not solved yet"))
