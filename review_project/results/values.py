"""How a statistic goes into the JSON of `results --json`: a value or null, and its reason.

The same convention as the agreement summary: an undefined statistic is null beside
`<name>_reason`, never NaN; an interval is [low, high] or null.
"""

from __future__ import annotations

import math

from review_project.agreement.kappa import Estimate, Interval


def put(out: dict, name: str, statistic: Estimate | Interval) -> None:
    """Add `name` (a value, [low, high], or null) and `name_reason` to out."""
    out[name] = statistic.as_list() if isinstance(statistic, Interval) else statistic.value
    out[f"{name}_reason"] = statistic.reason


def finite(value) -> float | None:
    """A float, or None for a missing or non-finite value."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def estimate(value, reason: str) -> Estimate:
    """An Estimate of a float, or None with `reason` when it is not finite."""
    value = finite(value)
    return Estimate(value) if value is not None else Estimate(None, reason)
