"""Catch-up: read the Label Studio API for annotations the worker has not seen, and record them
as if their webhooks had arrived.

Label Studio sends each webhook once, with no retry: anything sent while the worker was down,
slow or unreachable exists only in the API. Recording is idempotent (store.py), so catch-up and
a late webhook for the same annotation never count a task twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from workers.store import Store
from workers.webhook import CAUGHT_UP, RequestRefused, annotation_seen

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CatchUpReport:
    """What one pass found: annotations read from the API, new to the worker, and check-ins made due."""

    projects: tuple[int, ...]
    annotations_read: int
    annotations_new: int
    checkins_due: int


def projects_to_watch(store: Store, label_studio, webhook_secret: str) -> list[int]:
    """Projects the store has heard of, plus those whose webhook carries this worker's secret."""
    return sorted(set(store.known_projects()) | label_studio.watched_projects(webhook_secret))


def catch_up(store: Store, label_studio, projects: Iterable[int], every: int) -> CatchUpReport:
    """Record every annotation of `projects` missing from the store; LabelStudioUnavailable propagates."""
    projects = tuple(projects)
    read = new = due = 0
    for project in projects:
        seen = store.seen_annotation_ids(project)
        for annotation in label_studio.annotations(project):
            read += 1
            if annotation.get("id") in seen:
                continue
            try:
                event = annotation_seen(project, annotation, CAUGHT_UP)
            except RequestRefused as error:
                log.warning("project %s: an annotation from the API was not usable: %s", project, error)
                continue
            recorded = store.record_annotation(event, every)
            new += recorded.new_event
            due += len(recorded.milestones)
    return CatchUpReport(projects=projects, annotations_read=read, annotations_new=new, checkins_due=due)
