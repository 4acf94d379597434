"""Webhook validation against the real Label Studio 1.23.2 bodies, and every kind of bad input."""

import json

import pytest

from review_project.schema import AnnotationRecord, Rating
from review_project.shared import (
    ANNOTATION_CREATED,
    ANNOTATION_UPDATED,
    ANNOTATIONS_DELETED,
)
from tests.fixtures import real_webhook_bodies
from workers.webhook import (
    MAX_BODY_BYTES,
    AnnotationsDeleted,
    AnnotationSeen,
    RequestRefused,
    parse_webhook,
)


def test_real_bodies_reduce_to_ids_and_the_ledger_entry():
    events = [parse_webhook(json.dumps(entry["body"]).encode()) for entry in real_webhook_bodies()]
    assert [type(e).__name__ for e in events] == ["AnnotationSeen"] * 4 + ["AnnotationsDeleted"] * 2 + ["AnnotationSeen"] * 2
    first = events[0]
    # The capture's project used other topic names than ours: its rating is invalid, and says why.
    rating = Rating(success=2, topics=("fraud", "privacy"), skipped=False, invalid_reason="2 unknown topic(s)")
    assert first == AnnotationSeen(
        project=1, annotation_id=6, task=2, reviewer=1, skipped=False,
        updated_at="2026-11-28T03:11:25.160239Z", action=ANNOTATION_CREATED,
        record=AnnotationRecord(
            annotation_id=6, task_id=2, attack_id=None, reviewer_id=1, rating=rating, lead_time=30.0,
            created_at="2026-11-28T03:11:25.160211Z", updated_at="2026-11-28T03:11:25.160239Z", updated_by=1,
        ),
    )
    assert events[2].action == ANNOTATION_UPDATED and events[2].updated_at == "2026-11-28T03:11:26.276264Z"
    assert events[4] == AnnotationsDeleted(project=1, annotation_ids=(6,))
    # A repeated delivery is the same event, which is what makes it recognisable in the store.
    assert events[0] == events[1] and events[6] == events[7]


def test_the_ledger_entry_has_the_tasks_attack_id():
    body = real_webhook_bodies()[0]["body"]
    body["task"]["data"]["attack_id"] = 3141
    assert parse_webhook(json.dumps(body).encode()).record.attack_id == 3141
    body["task"]["data"]["attack_id"] = "3141"
    with pytest.raises(RequestRefused) as refused:
        parse_webhook(json.dumps(body).encode())
    assert (refused.value.status, str(refused.value)) == (422, "task.data.attack_id is a str, not a whole number")


def test_skip_is_an_exposure():
    body = real_webhook_bodies()[0]["body"]
    body["annotation"]["was_cancelled"] = True
    assert parse_webhook(json.dumps(body).encode()).skipped is True


@pytest.mark.parametrize(
    "body, status, reason",
    [
        (b"{not json", 400, "body is not valid JSON"),
        (b"\xff\xfe", 400, "body is not valid JSON"),
        (b"[1, 2]", 400, "body is not a JSON object"),
        (b'{"action": "PROJECT_CREATED", "project": {"id": 1}}', 422, "unsupported action 'PROJECT_CREATED'"),
        (b'{"project": {"id": 1}}', 422, "unsupported action 'NoneType'"),
        (b'{"action": "ANNOTATION_CREATED", "annotation": {"id": 1}}', 422, "project.id missing"),
        (b'{"action": "ANNOTATION_CREATED", "project": {"id": 1}}', 422, "annotation is not an object"),
        (b'{"action": "ANNOTATION_CREATED", "project": {"id": 1}, "annotation": {"id": 1, "task": 2, "updated_at": "t"}}',
         422, "annotation.completed_by missing"),
        (b'{"action": "ANNOTATION_CREATED", "project": {"id": 1}, "annotation": {"id": true, "task": 2, "completed_by": 3, "updated_at": "t"}}',
         422, "annotation.id missing or not an integer id"),
        (b'{"action": "ANNOTATION_UPDATED", "project": {"id": 1}, "annotation": {"id": 1, "task": 2, "completed_by": 3}}',
         422, "annotation.updated_at missing"),
        (b'{"action": "ANNOTATIONS_DELETED", "project": {"id": 1}, "annotations": []}', 422, "annotations missing or empty"),
        (b'{"action": "ANNOTATIONS_DELETED", "project": {"id": 1}, "annotations": [{"id": "x"}]}', 422, "annotations[0].id"),
    ],
)
def test_bad_bodies_are_refused_with_a_reason(body, status, reason):
    with pytest.raises(RequestRefused) as refused:
        parse_webhook(body)
    assert refused.value.status == status
    assert reason in str(refused.value)


def test_body_over_one_megabyte_is_refused():
    with pytest.raises(RequestRefused) as refused:
        parse_webhook(b" " * (MAX_BODY_BYTES + 1))
    assert refused.value.status == 413


def test_deleted_lists_every_id():
    body = b'{"action": "ANNOTATIONS_DELETED", "project": {"id": 3}, "annotations": [{"id": 5}, {"id": 6}]}'
    assert parse_webhook(body) == AnnotationsDeleted(project=3, annotation_ids=(5, 6))
    assert ANNOTATIONS_DELETED == "ANNOTATIONS_DELETED"
