"""Talking to a Label Studio server: connecting, finding projects, reading users and exports.

Every SDK or network failure leaves this module as a LabelStudioError whose message names the
server and what to fix, and never contains the API key. The SDK and httpx are imported when a
function first talks to a server (the client, without the SDK's heavy extras: _client_class),
as the CLI imports this module to show its --help.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from review_project.shared import LabelStudioError

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio

DEFAULT_TIMEOUT = 60.0


def connect(url: str | None, api_key: str | None, timeout: float = DEFAULT_TIMEOUT) -> LabelStudio:
    """A client for the server at `url`, checked with one request so a wrong URL or key fails here."""
    if not url:
        raise LabelStudioError("no Label Studio URL: pass --url or set LABEL_STUDIO_URL")
    if not api_key:
        raise LabelStudioError("no API key: pass --api-key or set LABEL_STUDIO_API_KEY")
    url = url.rstrip("/")
    client = _client_class()(base_url=url, api_key=api_key, timeout=timeout, max_retries=0)
    client.review_url = url  # kept for messages; the SDK does not expose its base URL
    with translated_errors(url, "checking the API key"):
        client.users.whoami()
    return client


@functools.cache
def _client_class() -> type:
    """label_studio_sdk.LabelStudio as this project uses it, importing in 0.25 s instead of 1.0-1.6 s.

    The SDK's LabelStudio is its base client plus extensions: task and project listings whose
    pagers end quietly at the 404 Label Studio answers past the last page, tasks listed with all
    their fields unless asked, and `projects.exports.download_sync`. Its project extension's
    module also imports the label-config parser (jsf), smart_open and pandas, for features this
    project never calls; every command that talks to Label Studio paid that second. Here the
    same extensions are used, and the exports one is imported when first asked for.
    """
    from label_studio_sdk._extensions.pager_ext import SyncPagerExt
    from label_studio_sdk.base_client import LabelStudioBase
    from label_studio_sdk.projects.client import ProjectsClient
    from label_studio_sdk.tasks.client_ext import TasksClientExt

    class Projects(ProjectsClient):
        def list(self, **kwargs):
            return SyncPagerExt.from_sync_pager(super().list(**kwargs))

        @property
        def exports(self):
            if self._exports is None:
                from label_studio_sdk.projects.exports.client_ext import ExportsClientExt

                self._exports = ExportsClientExt(client_wrapper=self._client_wrapper)
            return self._exports

    class Client(LabelStudioBase):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            # The base client makes each of these on first use; these take their places.
            self._tasks = TasksClientExt(client_wrapper=self._client_wrapper)
            self._projects = Projects(client_wrapper=self._client_wrapper)

    return Client


@contextlib.contextmanager
def translated_errors(url: str, doing: str) -> Iterator[None]:
    """Turn SDK and httpx exceptions into one LabelStudioError line naming the server."""
    import httpx
    from label_studio_sdk.core.api_error import ApiError

    try:
        yield
    except ApiError as error:
        raise LabelStudioError(_describe_api_error(url, doing, error)) from None
    except httpx.TimeoutException:
        raise LabelStudioError(f"Label Studio at {url} did not answer in time while {doing}") from None
    except httpx.HTTPError as error:
        reason = type(error).__name__
        raise LabelStudioError(f"cannot reach Label Studio at {url} while {doing} ({reason}): is the server running and the URL right?") from None


def _describe_api_error(url: str, doing: str, error) -> str:
    status = error.status_code
    if status == 401:
        detail = _detail(error.body)
        hint = "check --api-key / LABEL_STUDIO_API_KEY"
        # The server's own wording is the only sign that it refuses legacy tokens as such.
        if "legacy token" in detail.lower():
            hint = "legacy tokens are disabled on this server: use a personal access token, or start it with LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true"
        return f"Label Studio at {url} refused the API key (401) while {doing}: {hint}"
    if status == 403:
        return f"Label Studio at {url} forbids this (403) while {doing}: {_detail(error.body)}"
    if status == 404:
        return f"Label Studio at {url} has no such object (404) while {doing}: is the URL the server's root?"
    if status is None:
        return f"Label Studio at {url} failed while {doing}: {_detail(error.body)}"
    return f"Label Studio at {url} answered {status} while {doing}: {_detail(error.body)}"


def _detail(body) -> str:
    if isinstance(body, dict):
        for key in ("validation_errors", "detail", "message"):
            if body.get(key):
                return str(body[key])[:300]
    if isinstance(body, str) and not body.lstrip().startswith("<"):
        return body[:300]
    return "no detail given"


def server_url(client: LabelStudio) -> str:
    """The base URL the client was connected with."""
    return getattr(client, "review_url", "Label Studio")


def find_project(client: LabelStudio, project: str | int, fields: str | None = None):
    """The project with this id or exact title; LabelStudioError when none or several match.

    fields : the only fields to read, comma-separated ("id,title"), the others None; None reads
    every one. Label Studio counts a project's tasks and annotations for each count field it
    sends (task_number, ...), 0.36 s per project at 38,961 x 4, so a caller that needs no count
    names its fields.
    """
    from label_studio_sdk.core.api_error import ApiError

    url = server_url(client)
    with translated_errors(url, f"looking for project {project!r}"):
        if isinstance(project, int) or str(project).isdigit():
            try:
                return client.projects.get(id=int(project), request_options=_including(fields))
            except ApiError as error:
                if error.status_code != 404:
                    raise
                raise LabelStudioError(f"Label Studio at {url} has no project with id {project}") from None
        matches = _projects_titled(client, project, fields)
    if not matches:
        raise LabelStudioError(f"Label Studio at {url} has no project titled {project!r}")
    if len(matches) > 1:
        ids = ", ".join(str(p.id) for p in matches)
        raise LabelStudioError(f"Label Studio at {url} has {len(matches)} projects titled {project!r} (ids {ids}): pass the id")
    return matches[0]


def project_by_title(client: LabelStudio, title: str, fields: str | None = None):
    """The project with this exact title, or None. fields : as find_project's."""
    with translated_errors(server_url(client), f"looking for project {title!r}"):
        matches = _projects_titled(client, title, fields)
    if len(matches) > 1:
        ids = ", ".join(str(p.id) for p in matches)
        raise LabelStudioError(f"{len(matches)} projects are titled {title!r} (ids {ids}): rename all but one")
    return matches[0] if matches else None


def create_or_update_project(client: LabelStudio, title: str, wanted: dict) -> tuple[object, bool, list[str]]:
    """The project titled `title` with the fields `wanted`: (project, created, names of the fields updated).

    Creates it when no project has the title; otherwise updates only the fields that differ,
    so a re-run with the same settings changes nothing. The project as listed holds only its id
    and the `wanted` fields (no counts).
    """
    url = server_url(client)
    project = project_by_title(client, title, fields=",".join(["id", *wanted]))
    if project is None:
        with translated_errors(url, f"creating project {title!r}"):
            return client.projects.create(title=title, **wanted), True, []
    changed = {key: value for key, value in wanted.items() if field_differs(getattr(project, key, None), value)}
    if changed:
        with translated_errors(url, f"updating project {project.id}"):
            client.projects.update(id=project.id, **changed)
    return project, False, sorted(changed)


def field_differs(current, wanted) -> bool:
    """Whether a project field as the server has it differs from the wanted value.

    Text is compared without surrounding whitespace (the server strips it) and with None as
    empty; an SDK enum (e.g. skip_queue) by its value.
    """
    if isinstance(wanted, str):
        current = getattr(current, "value", current)
        return (current or "").strip() != wanted.strip()
    return current != wanted


def _projects_titled(client: LabelStudio, title: str, fields: str | None = None) -> list:
    # The server's title filter matches substrings; the lead means the exact title.
    if fields is not None and "title" not in fields.split(","):
        fields += ",title"
    return [p for p in client.projects.list(title=title, include=fields, page_size=100) if p.title == title]


def _including(fields: str | None) -> dict | None:
    # `include` is Label Studio's field list (REST_FLEX_FIELDS); the SDK's get() has no argument for it.
    return None if fields is None else {"additional_query_parameters": {"include": fields}}


def users_by_email(client: LabelStudio) -> dict[str, object]:
    """Every user of the organisation, keyed by lower-cased email."""
    with translated_errors(server_url(client), "listing users"):
        return {(u.email or "").lower(): u for u in client.users.list()}


def create_user(client: LabelStudio, email: str, first_name: str = "", last_name: str = ""):
    """Make an account with this email as its username. It has no password: Label Studio has no
    API that sets one (`label-studio reset_password` on the server does)."""
    with translated_errors(server_url(client), f"creating the account of {email}"):
        return client.users.create(username=email, email=email, first_name=first_name, last_name=last_name)


def invite_link(client: LabelStudio) -> str:
    """The organisation's sign-up link (server URL + `/user/signup/?token=...`): anyone holding it can join."""
    with translated_errors(server_url(client), "reading the organisation's invite link"):
        invite = client.organizations.invites.get_invite_link()
    return server_url(client) + invite.invite_url


def reset_invite_link(client: LabelStudio) -> str:
    """Make a new organisation token (`POST /api/invite/reset-token`): every older link stops working."""
    with translated_errors(server_url(client), "resetting the organisation's invite link"):
        invite = client.organizations.reset_token()
    return server_url(client) + invite.invite_url


def reviewer_emails(client: LabelStudio) -> dict[int, str]:
    """User id -> email, to name reviewers in exports and status."""
    return {u.id: u.email for u in users_by_email(client).values()}


def download_export(
    client: LabelStudio, project_id: int, path: str | os.PathLike, on_bytes: Callable[[int], None] | None = None
) -> int:
    """Stream the project's full JSON export (every task with all annotations, skips included)
    into `path`; returns its size in bytes. `on_bytes(n)` is called as chunks arrive.

    There is no read timeout: Label Studio builds the whole export before it sends the first
    byte (77-106 s on 2 cores for the whole dataset, benchmarks/bench_scale.py), and a fixed
    timeout would fail there.
    """
    import httpx

    size = 0
    timeout = httpx.Timeout(connect=30.0, read=None, write=60.0, pool=60.0)
    with translated_errors(server_url(client), f"exporting project {project_id}"):
        chunks = client.projects.exports.download_sync(
            project_id, export_type="JSON", download_all_tasks=True,
            request_options={"timeout": timeout, "chunk_size": 1 << 20},
        )
        with open(path, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
                size += len(chunk)
                if on_bytes:
                    on_bytes(len(chunk))
    return size


def full_export(client: LabelStudio, project_id: int) -> list[dict]:
    """The project's full JSON export read whole into memory: for small projects (tests, checks)."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "export.json")
        download_export(client, project_id, path)
        with open(path, "rb") as file:
            return json.load(file)


def imported_attack_ids(client: LabelStudio, project_id: int, known: dict[int, int | None] | None = None) -> set[int]:
    """attack_id of every task already in the project, so a re-run imports only new attacks.

    known : task id -> attack_id as the worker's ledger has them; used when Label Studio still
    has exactly those tasks (the same count and the same highest id: ids only grow, so nothing
    was added or deleted since), which one page of one task tells. Otherwise the tasks are
    listed with their meta (0.7 s per 1,000 tasks, no transcripts); only tasks imported before
    setup put attack_id in the meta make it read their data.
    """
    url = server_url(client)
    with translated_errors(url, f"listing the tasks of project {project_id}"):
        if known is not None and _same_tasks(client, project_id, known):
            return {attack_id for attack_id in known.values() if attack_id is not None}
        ids: set[int] = set()
        without_meta = False
        for task in client.tasks.list(project=project_id, page_size=1000, include="id,meta"):
            attack_id = (task.meta or {}).get("attack_id") if isinstance(task.meta, dict) else None
            if attack_id is None:
                without_meta = True
            else:
                ids.add(int(attack_id))
        if without_meta:
            for task in client.tasks.list(project=project_id, page_size=1000, include="id,meta,data"):
                attack_id = (task.data or {}).get("attack_id")
                if attack_id is not None:
                    ids.add(int(attack_id))
    return ids


def _same_tasks(client: LabelStudio, project_id: int, known: dict[int, int | None]) -> bool:
    # The newest task and the task list's total in one small page: not the project, which Label
    # Studio would count annotations for too.
    newest = client.tasks.list(
        project=project_id, page_size=1, fields="task_only", include="id",
        query=json.dumps({"ordering": ["-tasks:id"]}),
    )
    count = int(getattr(newest.response, "total", None) or 0)
    highest = newest.items[0].id if newest.items else None
    return count == len(known) and highest == (max(known) if known else None)
