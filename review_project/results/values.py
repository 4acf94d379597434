"""How a statistic goes into the JSON of `results --json`: a value or null, and its reason.

The same convention as the agreement summary: an undefined statistic is null beside
`<name>_reason`, never NaN; an interval is [low, high] or null.
"""

from __future__ import annotations

from review_project.agreement.kappa import Estimate, Interval


def put(out: dict, name: str, statistic: Estimate | Interval) -> None:
    """Add `name` (a value, [low, high], or null) and `name_reason` to out."""
    out[name] = statistic.as_list() if isinstance(statistic, Interval) else statistic.value
    out[f"{name}_reason"] = statistic.reason
