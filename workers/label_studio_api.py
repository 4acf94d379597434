"""What the worker reads from the Label Studio API: a reviewer's email, a project's annotations,
and which projects have a webhook registered for this worker.

Task data (the transcripts) passes through memory only while annotations are read; it is never
stored or logged.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator

from review_project.shared import WEBHOOK_SECRET_HEADER
from workers.store import Reviewer


class LabelStudioUnavailable(Exception):
    """Label Studio did not answer, or answered with a server error: try again later."""


class UnknownReviewer(Exception):
    """Label Studio has no user with this id (a permanent failure for that check-in)."""


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

    def _call(self, what: str, function, *args, **kwargs):
        try:
            return function(*args, **kwargs)
        except Exception as error:
            status = _status(error)
            if status == 404:
                raise UnknownReviewer(f"{what}: not found") from None
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

    def annotations(self, project: int) -> Iterator[dict]:
        """Every annotation of the project (submitted or skipped), in the API's JSON shape."""
        pager = self._call(
            # Only tasks someone annotated: the others carry transcripts and nothing to catch up on.
            f"tasks of project {project}", self._client.tasks.list, project=project, fields="all", page_size=100,
            only_annotated=True,
        )
        try:
            for task in pager:
                for annotation in getattr(task, "annotations", None) or []:
                    annotation = dict(annotation)
                    # The Data Manager gives completed_by as an id; the task id may be missing.
                    annotation.setdefault("task", task.id)
                    yield annotation
        except (LabelStudioUnavailable, UnknownReviewer):
            raise
        except Exception as error:
            raise LabelStudioUnavailable(f"tasks of project {project}: {_status(error) or error.__class__.__name__}") from None

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
