"""The inbox: webhooks the worker has answered, kept as committed facts until they are applied.

A webhook is answered once its event is committed to the inbox (store.inbox.receive: a table on
PostgreSQL, a file of its own beside a SQLite store), and nothing else: counting, the ledger,
pacing and check-ins are applied from the inbox afterwards, by the worker's background process
(workers/background.py), in arrival order and in one transaction per batch that also takes what
it applied out of the inbox, so an event is applied exactly once even across a crash. Why: every reviewer's submit in Label Studio waits on the webhook's answer, and the work
of applying it does not need to be in that wait (docs/worker.md, "How a submit becomes a check-in").

Pure: an event becomes a line of JSON and back, carrying only what webhook.py keeps (ids, the
skip flag, times, the ledger's rating and topics), never a transcript, an email or a token.
"""

from __future__ import annotations

import json

from review_project.schema import AnnotationRecord, Rating
from workers.webhook import AnnotationsDeleted, AnnotationSeen


def encode(event: AnnotationSeen | AnnotationsDeleted) -> str:
    """One event as the inbox keeps it (a JSON object)."""
    if isinstance(event, AnnotationsDeleted):
        return json.dumps({"deleted": list(event.annotation_ids), "project": event.project})
    record = event.record
    return json.dumps({
        "project": event.project, "annotation_id": event.annotation_id, "task": event.task,
        "reviewer": event.reviewer, "skipped": event.skipped, "updated_at": event.updated_at,
        "action": event.action, "record": None if record is None else _record(record),
    }, ensure_ascii=False)


def decode(text: str) -> AnnotationSeen | AnnotationsDeleted:
    """The event `encode` made."""
    fields = json.loads(text)
    if "deleted" in fields:
        return AnnotationsDeleted(project=fields["project"], annotation_ids=tuple(fields["deleted"]))
    record = fields.pop("record")
    return AnnotationSeen(**fields, record=None if record is None else _unrecord(record))


def _record(record: AnnotationRecord) -> dict:
    rating = record.rating
    # The reviewer's email (which some servers nest in completed_by) is left out: the store keeps ids.
    return {
        "annotation_id": record.annotation_id, "task_id": record.task_id, "attack_id": record.attack_id,
        "reviewer_id": record.reviewer_id, "success": rating.success, "topics": list(rating.topics),
        "skipped": rating.skipped, "invalid_reason": rating.invalid_reason, "lead_time": record.lead_time,
        "created_at": record.created_at, "updated_at": record.updated_at, "updated_by": record.updated_by,
    }


def _unrecord(fields: dict) -> AnnotationRecord:
    rating = Rating(
        success=fields.pop("success"), topics=tuple(fields.pop("topics")), skipped=fields.pop("skipped"),
        invalid_reason=fields.pop("invalid_reason"),
    )
    return AnnotationRecord(**fields, rating=rating)
