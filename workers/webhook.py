"""Validate a Label Studio webhook body and reduce it to the facts the worker keeps.

Pure: bytes in, events out, or a RequestRefused carrying the HTTP status and a one-line reason.
Nothing of the transcript or the project's token is kept: the ids, the skip flag, the
annotation's updated_at (which makes a repeated delivery recognisable) and, for the ledger, the
annotation as `export`'s table has it (schema.AnnotationRecord: rating, topics, validity, times)
with the task's attack_id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from review_project.schema import AnnotationRecord, read_annotation, whole_number
from review_project.shared import ANNOTATIONS_DELETED, WEBHOOK_ACTIONS, ExportError

MAX_BODY_BYTES = 1024 * 1024
# Ids are stored as 64-bit signed integers (SQLite INTEGER, PostgreSQL bigint); Label Studio's
# are positive. Anything outside is the sender's fault (422), not the store's (503).
MAX_ID = 2**63 - 1

# Not a Label Studio action: an annotation found by catch-up from the API.
CAUGHT_UP = "CAUGHT_UP"


class RequestRefused(Exception):
    """A request the worker refuses; `status` is the HTTP status, str(error) the reason."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class AnnotationSeen:
    """A reviewer submitted (or skipped) a task: one exposure, counted once per task."""

    project: int
    annotation_id: int
    task: int
    reviewer: int
    skipped: bool
    updated_at: str
    action: str
    # The ledger's entry; None only where a test builds an event by hand.
    record: AnnotationRecord | None = None


@dataclass(frozen=True)
class AnnotationsDeleted:
    """Annotations removed; kept for the record, they never un-count a task."""

    project: int
    annotation_ids: tuple[int, ...]


def _an_id(value, where: str) -> int:
    # Label Studio sends ids as ints; some serializers nest the user as {"id": N}.
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestRefused(422, f"{where} missing or not an integer id")
    if not 0 <= value <= MAX_ID:
        raise RequestRefused(422, f"{where} is out of range (ids are 0 to 2**63-1)")
    return value


def annotation_seen(project: int, annotation: dict, action: str, attack_id=None) -> AnnotationSeen:
    """One annotation (webhook or API shape) as an AnnotationSeen; RequestRefused names a missing field.

    attack_id : the task's data.attack_id, when known.
    """
    if not isinstance(annotation, dict):
        raise RequestRefused(422, "annotation is not an object")
    updated_at = annotation.get("updated_at") or annotation.get("created_at")
    if not isinstance(updated_at, str):
        raise RequestRefused(422, "annotation.updated_at missing")
    _an_id(annotation.get("id"), "annotation.id")
    task = _an_id(annotation.get("task"), "annotation.task")
    reviewer = _an_id(annotation.get("completed_by"), "annotation.completed_by")
    try:
        if attack_id is not None:
            attack_id = whole_number(attack_id, "task.data.attack_id")
        record = read_annotation(annotation, task_id=task, attack_id=attack_id, where=f"project {project}: task {task}")
    except ExportError as error:
        raise RequestRefused(422, str(error)) from None
    return AnnotationSeen(
        project=project,
        annotation_id=record.annotation_id,
        task=task,
        reviewer=reviewer,
        skipped=record.rating.skipped,
        updated_at=updated_at,
        action=action,
        record=record,
    )


def _attack_id(task) -> object:
    data = task.get("data") if isinstance(task, dict) else None
    return data.get("attack_id") if isinstance(data, dict) else None


def parse_webhook(body: bytes) -> AnnotationSeen | AnnotationsDeleted:
    """Validate one Label Studio webhook body (ANNOTATION_CREATED/UPDATED, ANNOTATIONS_DELETED)."""
    if len(body) > MAX_BODY_BYTES:
        raise RequestRefused(413, f"body of {len(body)} bytes is over the {MAX_BODY_BYTES} byte limit")
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RequestRefused(400, f"body is not valid JSON ({error.__class__.__name__} at position {getattr(error, 'pos', 0)})") from None
    except ValueError:
        # Python refuses to convert an integer of more than 4300 digits (sys.int_max_str_digits).
        raise RequestRefused(400, "body holds a number too long to read") from None
    except RecursionError:
        raise RequestRefused(400, "body is nested too deeply") from None
    if not isinstance(payload, dict):
        raise RequestRefused(400, "body is not a JSON object")
    action = payload.get("action")
    if action not in WEBHOOK_ACTIONS:
        shown = action if isinstance(action, str) else type(action).__name__
        raise RequestRefused(422, f"unsupported action {shown[:60]!r}; expected one of {', '.join(WEBHOOK_ACTIONS)}")
    project = payload.get("project")
    project_id = _an_id(project, "project.id")
    if action == ANNOTATIONS_DELETED:
        annotations = payload.get("annotations")
        if not isinstance(annotations, list) or not annotations:
            raise RequestRefused(422, "annotations missing or empty in ANNOTATIONS_DELETED")
        ids = tuple(_an_id(a, f"annotations[{i}].id") for i, a in enumerate(annotations))
        return AnnotationsDeleted(project=project_id, annotation_ids=ids)
    return annotation_seen(project_id, payload.get("annotation"), action, _attack_id(payload.get("task")))
