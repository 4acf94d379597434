"""What the worker reads from the Label Studio API: a reviewer's email, a project's tasks with
their annotations (for the ledger's catch-up), and which projects have a webhook registered for
this worker.

The task reads leave the transcripts out (the `include` list); only for a project imported
before setup put attack_id in each task's meta does the task data pass through memory. The
first sync reads Label Studio's full export, which carries every transcript: it is parsed as it
arrives and each task's data is dropped as soon as its attack_id is read. Task data is never
stored or logged.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from review_project.shared import WEBHOOK_SECRET_HEADER
from workers.store import Reviewer


PAGE_SIZE = 500
# Task ids asked for by id in one request (a Data Manager selection, sent in the URL: 100 ids
# keep it near 1 kB).
IDS_PER_REQUEST = 100
# How long a part of the export (ids given) may take to start arriving.
PART_READ_SECONDS = 300.0
# Versions (id, updated_at) asked for in one page: no annotations, so pages can be large.
VERSIONS_PAGE_SIZE = 5000
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


@dataclass(frozen=True)
class TaskVersion:
    """A task as a catch-up pass first lists it: its id, when it last changed, its attack_id from meta."""

    id: int
    updated_at: str | None
    attack_id: object


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


def exported_task(task: dict) -> LabelStudioTask:
    """A task of Label Studio's full JSON export as catch-up reads it: the data (transcript) left out."""
    meta, data = task.get("meta") or {}, task.get("data") or {}
    attack_id = meta.get("attack_id") if isinstance(meta, dict) else None
    if attack_id is None and isinstance(data, dict):
        attack_id = data.get("attack_id")
    annotations = []
    for annotation in task.get("annotations") or []:
        annotation = dict(annotation)
        annotation.setdefault("task", task["id"])
        annotations.append(annotation)
    return LabelStudioTask(int(task["id"]), attack_id, time_filter_value(task.get("updated_at")), annotations)


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


class ExportTooLong(Exception):
    """Label Studio, or a proxy before it, refused an export request for its many task ids."""


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
        """How many tasks the project has: the total of a one-task page of the task list, what
        every catch-up pass asks. Not the project itself: Label Studio counts its tasks and
        annotations for that (0.31 s of its CPU at 38,961 x 4, against 0.08 s; every 10 s)."""
        return self._first_task(f"project {project}", project, "id", None, lambda item: None)[0]

    def _first_task(self, what: str, project: int, include: str, query: str | None, read) -> tuple[int, object]:
        """(how many tasks the task list holds, read(its first task) or None), from a page of one task."""
        pager = self._call(
            what, self._client.tasks.list, project=project, fields="task_only", include=include, query=query,
            page_size=1, request_options=_NO_RETRY, not_found=UnknownProject,
        )
        try:
            first = [read(item) for item in pager.items or []]
            return int(getattr(pager.response, "total", None) or 0), (first[0] if first else None)
        except Exception as error:
            raise LabelStudioUnavailable(f"{what}: {_status(error) or error.__class__.__name__}") from None

    def tasks(
        self, project: int, *, after_task: int = 0, changed_after: str | None = None, ids: Iterable[int] | None = None,
        page_size: int = PAGE_SIZE,
    ) -> Iterator[list[LabelStudioTask]]:
        """Pages of the project's tasks in id order, from the one after `after_task`, each with its
        annotations (results included) and attack_id, and no transcript.

        changed_after : only tasks Label Studio changed after this time (time_filter_value);
        creating, updating, skipping or deleting an annotation all move a task's updated_at.
        ids : only these tasks (asked for IDS_PER_REQUEST at a time; a deleted one is left out).
        """
        if ids is not None:
            wanted = sorted(set(ids))
            for start in range(0, len(wanted), IDS_PER_REQUEST):
                chosen = wanted[start:start + IDS_PER_REQUEST]
                yield from self._pages(project, chosen[0] - 1, changed_after, max(page_size, len(chosen)), chosen)
            return
        yield from self._pages(project, after_task, changed_after, page_size, None)

    def _pages(self, project, after_task, changed_after, page_size, selected) -> Iterator[list[LabelStudioTask]]:
        while True:
            page = self._page(project, after_task, changed_after, page_size, with_data=False, selected=selected)
            if any(task.attack_id is None for task in page):
                # Imported before setup put attack_id in the task's meta: only the data has it.
                page = self._page(project, after_task, changed_after, page_size, with_data=True, selected=selected)
            if not page:
                return
            yield page
            if len(page) < page_size:
                return
            after_task = page[-1].id

    def _query(self, after_task: int, changed_after: str | None, selected: list[int] | None) -> str:
        filters = [{"filter": "filter:tasks:id", "operator": "greater", "type": "Number", "value": after_task}]
        if changed_after is not None:
            filters.append({"filter": "filter:tasks:updated_at", "operator": "greater", "type": "Datetime", "value": changed_after})
        query = {"filters": {"conjunction": "and", "items": filters}, "ordering": ["tasks:id"]}
        if selected is not None:
            query["selectedItems"] = {"all": False, "included": selected}
        return json.dumps(query, separators=(",", ":"))

    def _page(self, project, after_task, changed_after, page_size, with_data, selected=None) -> list[LabelStudioTask]:
        include = _TASK_FIELDS + (",data" if with_data else "")
        what = f"tasks of project {project}"
        pager = self._call(
            what, self._client.tasks.list, project=project, fields="all", include=include,
            query=self._query(after_task, changed_after, selected), page_size=page_size, request_options=_NO_RETRY,
            not_found=UnknownProject,
        )
        try:
            return [_task(item) for item in pager.items]
        except Exception as error:
            raise LabelStudioUnavailable(f"{what}: {_status(error) or error.__class__.__name__}") from None

    def changed_summary(self, project: int, changed_after: str | None) -> tuple[int, str | None]:
        """How many tasks Label Studio changed after `changed_after`, and the newest one's updated_at:
        one request for one task, what a pass asks first."""
        query = json.loads(self._query(0, changed_after, None)) | {"ordering": ["-tasks:updated_at"]}
        return self._first_task(
            f"tasks of project {project}", project, "id,updated_at", json.dumps(query, separators=(",", ":")),
            lambda item: _version(item).updated_at,
        )

    def task_versions(self, project: int, changed_after: str | None = None) -> Iterator[list[TaskVersion]]:
        """Pages of the project's tasks as (id, updated_at, attack_id from meta), without annotations,
        in id order: what a pass asks first, to read with annotations only the tasks it has not seen.

        changed_after : only tasks Label Studio changed after this time, as in tasks().
        """
        after_task, what = 0, f"task versions of project {project}"
        while True:
            # task_only: the Data Manager then computes no annotation fields (with `all`, 43 s of
            # Label Studio's CPU for the whole dataset's 38,961 tasks).
            pager = self._call(
                what, self._client.tasks.list, project=project, fields="task_only", include="id,updated_at,meta",
                query=self._query(after_task, changed_after, None), page_size=VERSIONS_PAGE_SIZE,
                request_options=_NO_RETRY, not_found=UnknownProject,
            )
            try:
                page = [_version(item) for item in pager.items]
            except Exception as error:
                raise LabelStudioUnavailable(f"{what}: {_status(error) or error.__class__.__name__}") from None
            if page:
                yield page
            if len(page) < VERSIONS_PAGE_SIZE:
                return
            after_task = page[-1].id

    def task_id_span(self, project: int) -> tuple[int, int] | None:
        """The lowest and highest task id of the project (two requests for one task each); None
        when it has no task."""
        ends = []
        for ordering in ("tasks:id", "-tasks:id"):
            query = json.dumps({"ordering": [ordering]})
            pager = self._call(
                f"tasks of project {project}", self._client.tasks.list, project=project, fields="task_only",
                include="id", query=query, page_size=1, request_options=_NO_RETRY, not_found=UnknownProject,
            )
            ends += [int(item.id) for item in pager.items or []]
        return (ends[0], ends[-1]) if ends else None

    def export_tasks(self, project: int, ids: Sequence[int] | None = None) -> Iterator[LabelStudioTask]:
        """The project's tasks with their annotations, from Label Studio's full JSON export (one
        request), parsed as they arrive; each task's data (the transcript) is dropped once read.

        ids : only the tasks with these ids (those the project does not have are left out).
        Label Studio builds the whole answer before it sends a byte (77-106 s for the whole
        dataset on 2 cores), so a whole export has no read timeout. A failure midway is LabelStudioUnavailable;
        a request Label Studio (or a proxy before it) finds too long is ExportTooLong.
        """
        import httpx
        import ijson

        what = f"the export of project {project}"
        # A part of a few hundred tasks comes in seconds; a bound keeps a hung server from holding
        # the worker's exit (the part is read in a thread the interpreter waits for).
        timeout = httpx.Timeout(connect=30.0, read=None if ids is None else PART_READ_SECONDS, write=60.0, pool=60.0)
        options = {"timeout": timeout, "chunk_size": 1 << 20, "max_retries": 0}
        if ids is not None:
            # Label Studio reads `ids[]` (the SDK's `ids` sends `ids`, which it ignores).
            options["additional_query_parameters"] = {"ids[]": [str(task) for task in ids]}
        parsed = ijson.sendable_list()
        parser = ijson.items_coro(parsed, "item", use_float=True)
        try:
            chunks = self._client.projects.exports.download_sync(
                project, export_type="JSON", download_all_tasks=True, request_options=options
            )
            for chunk in chunks:
                parser.send(chunk)
                for task in parsed:
                    yield exported_task(task)
                del parsed[:]
            parser.close()
            for task in parsed:
                yield exported_task(task)
        except ijson.JSONError:
            # ijson's message quotes the text around the fault, which may be a transcript.
            raise LabelStudioUnavailable(f"{what}: not JSON") from None
        except (LabelStudioUnavailable, UnknownProject):
            raise
        except Exception as error:
            status = _status(error)
            if status == 404:
                raise UnknownProject(f"project {project}: not found") from None
            if status in (400, 414, 431) and ids is not None:
                raise ExportTooLong(f"{what}: {status} for {len(ids)} task ids") from None
            raise LabelStudioUnavailable(f"{what}: {status or error.__class__.__name__}") from None

    def watched_projects(self, webhook_secret: str) -> set[int]:
        """Projects whose registered webhook carries this worker's X-Webhook-Secret."""
        # Asked once, as every read here: the SDK's retries sleep in the catch-up thread (3 s when
        # Label Studio is down), and the worker's stop waits for that thread.
        webhooks = self._call("webhooks", self._client.webhooks.list, request_options=_NO_RETRY)
        projects = set()
        for webhook in webhooks:
            headers = getattr(webhook, "headers", None) or {}
            secret = headers.get(WEBHOOK_SECRET_HEADER) if isinstance(headers, dict) else None
            if webhook.project and isinstance(secret, str) and hmac.compare_digest(secret, webhook_secret):
                projects.add(int(webhook.project))
        return projects

    # -- joining and leaving (docs/worker.md, "Consent and leaving") --------------------------------
    def invite_link(self) -> str:
        """The organisation's invite link: the server's URL and the path of GET /api/invite (sign-up with its token)."""
        invite = self._call("the organisation's invite link", self._client.organizations.invites.get_invite_link,
                            request_options=_NO_RETRY, not_found=LabelStudioUnavailable)
        path = getattr(invite, "invite_url", None)
        if not path:
            raise LabelStudioUnavailable("the organisation's invite link: Label Studio gave no invite_url")
        return path if path.startswith("http") else f"{self.url.rstrip('/')}/{path.lstrip('/')}"

    def member_id(self, email: str) -> int | None:
        """The Label Studio user id of a member with this email (case-insensitive), or None."""
        users = self._call("users", self._client.users.list, request_options=_NO_RETRY, not_found=LabelStudioUnavailable)
        wanted = email.strip().lower()
        for user in users:
            if (getattr(user, "email", None) or "").strip().lower() == wanted:
                return int(user.id)
        return None

    def remove_member(self, user_id: int) -> bool:
        """Remove a member from the organisation (a soft delete: their annotations stay); False if not a member."""
        me = self._call("the API key's user", self._client.users.whoami, request_options=_NO_RETRY,
                        not_found=LabelStudioUnavailable)
        try:
            self._call(f"membership of user {user_id}", self._client.organizations.members.delete,
                       id=int(me.active_organization), user_pk=int(user_id), request_options=_NO_RETRY)
        except UnknownReviewer:
            return False
        return True


def _version(item) -> TaskVersion:
    meta = getattr(item, "meta", None) or {}
    attack_id = meta.get("attack_id") if isinstance(meta, dict) else None
    return TaskVersion(int(item.id), time_filter_value(getattr(item, "updated_at", None)), attack_id)
