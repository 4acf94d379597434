"""When a check-in falls due: pure arithmetic on a reviewer's count of tasks seen.

A reviewer's count is the number of distinct tasks in a project where they submitted or skipped
an annotation; a check-in is due at each multiple of CHECKIN_EVERY.
"""

from __future__ import annotations


def milestones_crossed(before: int, after: int, every: int) -> list[int]:
    """Multiples of `every` in (before, after]: the milestones reached when the count goes from before to after.

    >>> milestones_crossed(9, 10, 10)
    [10]
    >>> milestones_crossed(10, 11, 10)
    []
    >>> milestones_crossed(8, 31, 10)
    [10, 20, 30]
    """
    if every <= 0:
        raise ValueError(f"every must be positive, got {every}")
    first = (before // every + 1) * every
    return list(range(first, after + 1, every))
