"""The agreement summary's old home, kept for callers not moved yet: use review_project.agreement.

`summarise` here returns the JSON dict, as it always did.
"""

from __future__ import annotations

from review_project.agreement import summary


def summarise(*args, **kwargs) -> dict:
    """summary.summarise(...), as the dict `agreement --json` writes."""
    return summary.summarise(*args, **kwargs).as_json()
