"""The contracts of design.md: task data, label control names, and what makes an annotation valid.

Every other module reads these names from here, so a change to the contract is a change here.
"""

from __future__ import annotations

from dataclasses import dataclass

from review_project.shared import ExportError

SUCCESS = "success"
TOPICS_CONTROL = "topics"
DIALOGUE = "dialogue"

SUCCESS_VALUES = ("0", "1", "2", "3", "4")
MAX_TOPICS = 2

# The 20 tags exactly as they appear in the released hh-rlhf data (paper-facts.md).
TOPICS = (
    "Discrimination & injustice",
    "Hate speech & offensive language",
    "Violence & incitement",
    "Non-violent unethical behavior (e.g. lying, cheating, etc.)",
    "Bullying & harassment",
    "Theft",
    "Soliciting personally identifiable information",
    "Conspiracy theories & misinformation",
    "Substance abuse & banned substances",
    "Fraud & deception",
    "Weapons",
    "Adult content",
    "Property crime & vandalism",
    "Animal abuse",
    "Terrorism & organized crime",
    "Sexual exploitation & human trafficking",
    "Self-harm",
    "Child abuse",
    "Other",
    "N/A - Invalid attempt",
)

# The manifest keeps these; Label Studio must never see them (they would bias reviewers).
HIDDEN_FROM_REVIEWERS = (
    "rating",
    "model_type",
    "num_params",
    "min_harmlessness_score_transcript",
    "task_descripton_harmlessness_score",
    "task_description_harmlessness_score",
    "red_team_member_id",
    "is_upworker",
    "tags",
)


def task_data(attack_id: int, dialogue: list[dict], task_description: str) -> dict:
    """The `data` of one Label Studio task: only what a reviewer should see."""
    return {"attack_id": attack_id, DIALOGUE: dialogue, "task_description": task_description}


@dataclass(frozen=True)
class Rating:
    """One reviewer's judgement of one attack, read from an annotation's `result`."""

    success: int | None
    topics: tuple[str, ...]
    skipped: bool
    invalid_reason: str | None = None

    @property
    def valid(self) -> bool:
        """A skip is valid (it is not a rating); anything else must pass the contract."""
        return self.invalid_reason is None


def read_rating(annotation: dict) -> Rating:
    """Parse a Label Studio annotation (full JSON export or webhook shape) into a Rating.

    The server does not validate results against the label config, so every rule of the
    contract is checked here: success one of "0".."4", at most 2 topics. A result of the wrong
    shape (not a list of regions, choices that are not a list) makes the rating invalid with a
    reason, never an exception; the reason never quotes the annotation's content.
    """
    cancelled = annotation.get("was_cancelled")
    if cancelled not in (None, True, False):
        return Rating(success=None, topics=(), skipped=False, invalid_reason="was_cancelled is not true or false")
    skipped = bool(cancelled)
    reasons: list[str] = []
    raw_success: list = []
    topics: list[str] = []
    result = annotation.get("result")
    if result is not None and not isinstance(result, list):
        reasons.append("result is not a list of regions")
        result = []
    for region in result or []:
        if not isinstance(region, dict) or not isinstance(region.get("value") or {}, dict):
            reasons.append("a result region is not an object with a value")
            continue
        value = region.get("value") or {}
        if region.get("from_name") == SUCCESS:
            choices = value.get("choices") or []
            if isinstance(choices, list):
                raw_success.extend(choices)
            else:
                reasons.append("success choices are not a list")
        elif region.get("from_name") == TOPICS_CONTROL:
            paths = value.get("taxonomy") or value.get("choices") or []
            if not isinstance(paths, list):
                reasons.append("topics are not a list")
                continue
            for path in paths:
                # Taxonomy paths are lists (["Theft"]); our tags are flat, so the leaf is the tag.
                leaf = path[-1] if isinstance(path, list) and path else path
                if isinstance(leaf, str):
                    topics.append(leaf)
                else:
                    reasons.append("a topic is not text")
    if skipped:
        return Rating(success=None, topics=tuple(topics), skipped=True)
    success = None
    if not raw_success:
        reasons.append("success missing")
    elif len(raw_success) > 1:
        reasons.append(f"{len(raw_success)} success values")
    elif not isinstance(raw_success[0], (str, int)) or str(raw_success[0]) not in SUCCESS_VALUES:
        shown = raw_success[0] if isinstance(raw_success[0], (str, int, float)) else type(raw_success[0]).__name__
        reasons.append(f"success {str(shown)[:10]!r} outside 0-4")
    else:
        success = int(raw_success[0])
    if len(topics) > MAX_TOPICS:
        reasons.append(f"{len(topics)} topics (at most {MAX_TOPICS})")
    unknown = [t for t in topics if t not in TOPICS]
    if unknown:
        reasons.append(f"{len(unknown)} unknown topic(s)")
    return Rating(
        success=success,
        topics=tuple(topics),
        skipped=False,
        invalid_reason="; ".join(dict.fromkeys(reasons)) or None,
    )


@dataclass(frozen=True)
class AnnotationRecord:
    """One annotation as every reader keeps it: a row of `export`'s table and an entry of the
    worker's ledger are both made from this, so the two always agree."""

    annotation_id: int
    task_id: int
    attack_id: int | None
    reviewer_id: int | None
    rating: Rating
    lead_time: float | None
    created_at: str | None
    updated_at: str | None
    updated_by: int | None
    # Only when the server nests the user as an object with an email.
    reviewer_email: str | None = None

    @property
    def edited_by_other(self) -> bool:
        """Last changed by someone other than its reviewer (Community lets any member edit)."""
        return self.updated_by is not None and self.reviewer_id is not None and self.updated_by != self.reviewer_id

    def as_row(self) -> dict:
        """The export table's columns (export.COLUMNS), reviewer_email as the annotation gave it."""
        return {
            "attack_id": self.attack_id,
            "task_id": self.task_id,
            "annotation_id": self.annotation_id,
            "reviewer_id": self.reviewer_id,
            "reviewer_email": self.reviewer_email,
            "success": self.rating.success,
            "topics": list(self.rating.topics),
            "skipped": self.rating.skipped,
            "lead_time": self.lead_time,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "updated_by": self.updated_by,
            "edited_by_other": self.edited_by_other,
            "valid": self.rating.valid,
            "invalid_reason": self.rating.invalid_reason,
        }


def read_annotation(annotation, *, task_id: int, attack_id: int | None, where: str, number: int = 1) -> AnnotationRecord:
    """Read one annotation (full export, API or webhook shape) of task `task_id`.

    An id that is not a whole number, a reviewer that is not a user id, or a time that is not
    text is an ExportError naming `where` (the source and task), the annotation and the field;
    a result of the wrong shape only makes the rating invalid (read_rating).
    """
    if not isinstance(annotation, dict):
        raise ExportError(f"{where}, annotation number {number}: not an object")
    annotation_id = whole_number(annotation.get("id"), f"{where}, annotation number {number}: id")
    where = f"{where}, annotation {annotation_id}"
    times = {name: annotation.get(name) for name in ("created_at", "updated_at")}
    for name, value in times.items():
        if value is not None and not isinstance(value, str):
            raise ExportError(f"{where}: {name} is not a time")
    lead_time = annotation.get("lead_time")
    completed_by = annotation.get("completed_by")
    email = completed_by.get("email") if isinstance(completed_by, dict) else None
    return AnnotationRecord(
        annotation_id=annotation_id,
        task_id=task_id,
        attack_id=attack_id,
        reviewer_id=_user_id(completed_by, f"{where}: completed_by"),
        rating=read_rating(annotation),
        lead_time=float(lead_time) if isinstance(lead_time, (int, float)) and not isinstance(lead_time, bool) else None,
        created_at=times["created_at"],
        updated_at=times["updated_at"],
        updated_by=_user_id(annotation.get("updated_by"), f"{where}: updated_by"),
        reviewer_email=email if isinstance(email, str) else None,
    )


LARGEST_ID = 2**63 - 1  # ids are 64-bit integers in every table and database


def whole_number(value, what: str) -> int:
    """A non-negative 64-bit integer id, or one ExportError line saying what is wrong (never the value's text)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= LARGEST_ID:
        shown = repr(value)[:20] if isinstance(value, (int, float)) else f"a {type(value).__name__}"
        raise ExportError(f"{what} is {shown}, not a whole number")
    return value


def _user_id(value, what: str) -> int | None:
    # The export gives a bare id; some server versions nest the user as an object.
    if isinstance(value, dict):
        value = value.get("id")
    return None if value is None else whole_number(value, f"{what} (a user id)")
