"""The well-being survey of the paper (appendix A.2): its items, scale, published means, and
how a submitted modal is read back into scores.

Pure: no Slack calls here; messages.py builds the Block Kit from these names.
"""

from __future__ import annotations

from dataclasses import dataclass

PROMPT = "Please think about the task(s) you just completed, to what extent did it make you feel:"
ITEMS = ("Upset", "Hostile", "Alert", "Ashamed", "Inspired", "Nervous", "Determined", "Attentive", "Afraid", "Active")
NEGATIVE_ITEMS = ("Upset", "Hostile", "Ashamed", "Nervous", "Afraid")
SCALE = (0, 1, 2, 3, 4)
SCALE_LABELS = {0: "not at all", 4: "very"}
# A negative item at or above this asks the lead to check in on the reviewer.
LEAD_ALERT_AT = 3
MAX_COMMENT_CHARS = 3000

# Mean responses reported in the paper (49 responses from 15 people).
PAPER_MEANS = {
    "Upset": 0.31,
    "Hostile": 0.16,
    "Alert": 1.02,
    "Ashamed": 0.24,
    "Inspired": 0.92,
    "Nervous": 0.24,
    "Determined": 0.98,
    "Attentive": 1.73,
    "Afraid": 0.24,
    "Active": 1.33,
}

COMMENT_BLOCK = "comment"


class SurveyError(ValueError):
    """A submitted survey that does not fit the form; `block` is the form block to show it on."""

    def __init__(self, message: str, block: str):
        super().__init__(message)
        self.block = block


@dataclass(frozen=True)
class SurveyAnswer:
    """One reviewer's answer to one check-in: scores[item] is 0..4 or None when left blank."""

    scores: dict[str, int | None]
    comment: str | None

    def needs_lead_attention(self) -> bool:
        """True when any negative-affect item is at LEAD_ALERT_AT or above."""
        return any((self.scores.get(item) or 0) >= LEAD_ALERT_AT for item in NEGATIVE_ITEMS)


def column(item: str) -> str:
    """The store's column for an item ("Upset" -> "upset")."""
    return item.lower()


def block_id(item: str) -> str:
    """The modal block holding an item's select."""
    return f"item_{column(item)}"


def _dig(value, *keys):
    # A client may send any JSON shape: a missing or non-object level reads as None.
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def read_submission(state_values: dict) -> SurveyAnswer:
    """Read a view_submission's `view.state.values` into a SurveyAnswer; every item is optional."""
    if not isinstance(state_values, dict):
        raise SurveyError("view.state.values is not an object", block_id(ITEMS[0]))
    scores: dict[str, int | None] = {}
    for item in ITEMS:
        selected = _dig(state_values, block_id(item), "score", "selected_option")
        if not selected:
            scores[item] = None
            continue
        raw = selected.get("value") if isinstance(selected, dict) else None
        if raw not in {str(v) for v in SCALE}:
            raise SurveyError(f"{item}: value {str(raw)[:10]!r} is not one of 0-4", block_id(item))
        scores[item] = int(raw)
    comment = _dig(state_values, COMMENT_BLOCK, "text", "value")
    if comment is not None and not isinstance(comment, str):
        raise SurveyError("comment is not text", COMMENT_BLOCK)
    comment = (comment or "").strip()[:MAX_COMMENT_CHARS] or None
    return SurveyAnswer(scores=scores, comment=comment)
