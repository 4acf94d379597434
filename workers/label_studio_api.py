"""What the worker reads from the Label Studio API: a reviewer's email, a project's tasks with
their annotations (for the ledger's catch-up), and which projects have a webhook registered for
this worker.

The task reads leave the transcripts out (the `include` list); only for a project imported
before setup put attack_id in each task's meta does the task data pass through memory, and it
is never stored or logged.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

from review_project.shared import WEBHOOK_SECRET_HEADER
from workers.store import Reviewer


PAGE_SIZE = 500
# The task fields the ledger needs; `include` also applies inside each annotation, which is what
# leaves the transcripts (task data) out: 70 s for the whole dataset instead of 135 s and 244 MB.
_TASK_FIELDS = "id,meta,updated_at,annotations,result,completed_by,updated_by,was_cancelled,created_at,lead_time,task"
_NO_RETRY = {"max_retries": 0}


@dataclass(frozen=True)
class LabelStudioTask:
    """One task as catch-up reads it: its id, attack_id, when it last changed, and its annotations."""

    id: int
    attack_id: object
    updated_at: str | None
    annotations: list[dict]


def _task(item) -> LabelStudioTask:
    meta = getattr(item, "meta", None) or {}
    data = getattr(item, "data", None) or {}
    attack_id = meta.get("attack_id") if isinstance(meta, dict) else None
    if attack_id is None and isinstance(data, dict):
        attack_id = data.get("attack_id")
    annotations = []
    for annotation in getattr(item, "annotations", None) or []:
        annotation = dict(annotation)
        annotation.setdefault("task", item.id)
        annotations.append(annotation)
    return LabelStudioTask(int(item.id), attack_id, time_filter_value(getattr(item, "updated_at", None)), annotations)


def time_filter_value(moment) -> str | None:
    """A time as the Data Manager's Datetime filter takes it: only %Y-%m-%dT%H:%M:%S.%fZ, in UTC
    (a value without microseconds, or with +00:00, makes Label Studio 1.23 answer 500)."""
    if moment is None:
        return None
    if isinstance(moment, (int, float)):
        moment = datetime.fromtimestamp(moment, timezone.utc)
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LabelStudioUnavailable(Exception):
    """Label Studio did not answer, or answered with a server error: try again later."""


class UnknownReviewer(Exception):
    """Label Studio has no user with this id (a permanent failure for that check-in)."""


class UnknownProject(Exception):
    """Label Studio has no project with this id (it was deleted): catch-up marks it gone and skips it."""


def _status(error: Exception) -> int | None:
    return getattr(error, "status_code", None)


class LabelStudioReader:
    """A thin, read-only view of one Label Studio server through label-studio-sdk."""

    def __init__(self, url: str, api_key: str, timeout: float = 30.0, client=None):
        if client is None:
            # Not review_project.label_studio.connect(): it checks the key with a request, and the
            # worker must start (and acknowledge webhooks) even while Label Studio is down.
            from label_studio_sdk import LabelStudio

            client = LabelStudio(base_url=url, api_key=api_key, timeout=timeout)
        self._client = client
        self.url = url

    def _call(self, what: str, function, *args, not_found: type[Exception] = UnknownReviewer, **kwargs):
        try:
            return function(*args, **kwargs)
        except Exception as error:
            status = _status(error)
            if status == 404:
                raise not_found(f"{what}: not found") from None
            # The SDK's error text can echo request headers; keep only the status and the type.
            raise LabelStudioUnavailable(f"{what}: {status or error.__class__.__name__}") from None

    def reviewer(self, user_id: int) -> Reviewer:
        """The Label Studio user behind an annotation's completed_by."""
        # No SDK retries: they sleep (up to a minute) in the delivery thread, which serves every
        # reviewer; a failure leaves the check-in pending with its own retry time instead.
        user = self._call(
            f"Label Studio user {user_id}", self._client.users.get, id=user_id, request_options={"max_retries": 0}
        )
        name = " ".join(part for part in (user.first_name, user.last_name) if part) or user.username or user.email
        return Reviewer(reviewer=user_id, email=(user.email or "").strip(), name=name or f"user {user_id}")

    def task_count(self, project: int) -> int:
        """How many tasks the project has (Label Studio keeps the count: one cheap request)."""
        found = self._call(
            f"project {project}", self._client.projects.get, id=project, request_options=_NO_RETRY, not_found=UnknownProject
        )
        return int(found.task_number or 0)

    def tasks(
        self, project: int, *, after_task: int = 0, changed_after: str | None = None, page_size: int = PAGE_SIZE
    ) -> Iterator[list[LabelStudioTask]]:
        """Pages of the project's tasks in id order, from the one after `after_task`, each with its
        annotations (results included) and attack_id, and no transcript.

        changed_after : only tasks Label Studio changed after this time (time_filter_value);
        creating, updating, skipping or deleting an annotation all move a task's updated_at.
        """
        while True:
            page = self._page(project, after_task, changed_after, page_size, with_data=False)
            if any(task.attack_id is None for task in page):
                # Imported before setup put attack_id in the task's meta: only the data has it.
                page = self._page(project, after_task, changed_after, page_size, with_data=True)
            if not page:
                return
            yield page
            if len(page) < page_size:
                return
            after_task = page[-1].id

    def _page(self, project, after_task, changed_after, page_size, with_data) -> list[LabelStudioTask]:
        filters = [{"filter": "filter:tasks:id", "operator": "greater", "type": "Number", "value": after_task}]
        if changed_after is not None:
            filters.append({"filter": "filter:tasks:updated_at", "operator": "greater", "type": "Datetime", "value": changed_after})
        query = json.dumps({"filters": {"conjunction": "and", "items": filters}, "ordering": ["tasks:id"]})
        include = _TASK_FIELDS + (",data" if with_data else "")
        what = f"tasks of project {project}"
        pager = self._call(
            what, self._client.tasks.list, project=project, fields="all", include=include, query=query,
            page_size=page_size, request_options=_NO_RETRY, not_found=UnknownProject,
        )
        try:
            return [_task(item) for item in pager.items]
        except Exception as error:
            raise LabelStudioUnavailable(f"{what}: {_status(error) or error.__class__.__name__}") from None

    def watched_projects(self, webhook_secret: str) -> set[int]:
        """Projects whose registered webhook carries this worker's X-Webhook-Secret."""
        webhooks = self._call("webhooks", self._client.webhooks.list)
        projects = set()
        for webhook in webhooks:
            headers = getattr(webhook, "headers", None) or {}
            secret = headers.get(WEBHOOK_SECRET_HEADER) if isinstance(headers, dict) else None
            if webhook.project and isinstance(secret, str) and hmac.compare_digest(secret, webhook_secret):
                projects.add(int(webhook.project))
        return projects
