"""How a statistic goes into the JSON of `agreement --json` and `results --json`.

The contract: an undefined statistic is null beside `<name>_reason`, never NaN; an interval is
[low, high] or null, also beside `<name>_reason`. `put` writes one statistic so; `fields_json`
walks a dataclass's fields in order with the same rule, and `JsonRecord` gives a dataclass that
walk as its `as_json`. A record whose JSON does more than walk (renamed or derived keys, another
order) writes its own `as_json`. Pure: numpy alone, as kappa.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from review_project.agreement.kappa import Estimate, Interval


def put(out: dict, name: str, statistic: Estimate | Interval) -> None:
    """Add `name` (a value, [low, high], or null) and `name_reason` to out."""
    out[name] = statistic.as_list() if isinstance(statistic, Interval) else statistic.value
    out[f"{name}_reason"] = statistic.reason


def fields(instance) -> dict:
    """A dataclass's fields, one level deep (dataclasses.asdict would turn Estimates into dicts)."""
    return {field.name: getattr(instance, field.name) for field in dataclasses.fields(instance)}


def fields_json(record, leave_out: tuple[str, ...] = ()) -> dict:
    """A dataclass as JSON, field by field in order: an Estimate or Interval by `put`, a nested
    record by its `as_json` (or this walk), a tuple as a list; the names in leave_out are not written."""
    out: dict = {}
    for name, value in fields(record).items():
        if name in leave_out:
            continue
        if isinstance(value, (Estimate, Interval)):
            put(out, name, value)
        else:
            out[name] = _json_value(value)
    return out


def _json_value(value):
    if hasattr(value, "as_json"):
        return value.as_json()
    if dataclasses.is_dataclass(value):
        return fields_json(value)
    if isinstance(value, (tuple, list)):
        return [_json_value(item) for item in value]
    return value


class JsonRecord:
    """A dataclass whose JSON is its fields in order (`fields_json`), less those named in
    json_leaves_out (a field the parent uses as the record's key)."""

    json_leaves_out: ClassVar[tuple[str, ...]] = ()

    def as_json(self) -> dict:
        return fields_json(self, self.json_leaves_out)
