"""Fixtures for the worker: a local stand-in for the Slack Web API, stores on SQLite and on the
real PostgreSQL, a fake Label Studio reader, signed Slack requests, and the app on a real port.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import types
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from slack_sdk.signature import SignatureVerifier

from workers.store import Reviewer, open_store

PG_BASE = "postgresql://{user}@127.0.0.1:5432/test"
SIGNING_SECRET = "test-signing-secret"
WEBHOOK_SECRET = "test-webhook-secret"
BOT_TOKEN = "xoxb-test-token"


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch):
    """slack-sdk reads HTTP(S)_PROXY and ignores NO_PROXY: loopback calls must not go through one."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


# -- the Slack stand-in -----------------------------------------------------------------------------
@dataclass
class SlackCall:
    method: str
    params: dict
    headers: dict
    at: float


@dataclass
class Misbehaviour:
    """How the stand-in answers one call: an error, a late answer, or no answer at all."""

    status: int = 200
    error: str | None = None  # a Slack error code, answered as {"ok": false, "error": ...}
    retry_after: int | None = None
    record: bool = False  # chat.postMessage: Slack takes the message before answering as above
    drop: bool = False  # close the connection without answering
    delay: float = 0.0  # answer this much later
    channel: str | None = None  # only calls to this channel


# The scopes the app manifest asks for (docs/worker.md), and which method needs which.
ALL_SCOPES = frozenset({"chat:write", "im:write", "im:history", "users:read", "users:read.email",
                        "channels:history", "groups:history"})
NEEDS_SCOPE = {
    "chat.postMessage": "chat:write",
    "conversations.open": "im:write",
    "conversations.history": "im:history",
    "users.lookupByEmail": "users:read.email",
}


# The tests' own HTTP calls to a worker. httpx.get() builds a client, and with it an SSL context
# from certifi's bundle (23 ms of CPU), on every call: 270 calls in the fast lane. As with
# httpx.get(), no connection is kept from one call to the next.
local_http = httpx.Client(trust_env=False, timeout=5.0, limits=httpx.Limits(max_keepalive_connections=0))


def needed_scope(method: str, params: dict) -> str | None:
    """As Slack: a DM's history needs im:history, a channel's (the lead's) channels:history."""
    if method == "conversations.history" and str(params.get("channel", "")).startswith("C"):
        return "channels:history"
    return NEEDS_SCOPE.get(method)


@dataclass
class SlackStandIn:
    """A real HTTP server on 127.0.0.1 answering the Web API methods the worker uses, recording calls.

    It keeps the messages posted to each channel (with their metadata) and answers
    conversations.history from them, newest first, with `limit` and `cursor` pages. It can
    misbehave per call (`fail`, `drop`, `delay`), reject every call (`auth_error`), and grant
    fewer scopes (`scopes`, sent in X-OAuth-Scopes as Slack does).
    """

    url: str = ""
    calls: list[SlackCall] = field(default_factory=list)
    users: dict[str, str] = field(default_factory=dict)  # email -> Slack user id
    failures: dict[str, deque] = field(default_factory=lambda: defaultdict(deque))
    stored: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))  # channel -> messages
    auth_error: str | None = None
    scopes: set[str] = field(default_factory=lambda: set(ALL_SCOPES))
    lock: threading.Lock = field(default_factory=threading.Lock)
    closing: threading.Event = field(default_factory=threading.Event)
    _last_ts: float = 0.0

    def fail(self, method: str, status: int = 200, times: int = 1, retry_after: int | None = None, *,
             error: str | None = None, record: bool = False, channel: str | None = None) -> None:
        """The next `times` calls answer `status` (429: ratelimited, 5xx: internal_error) or `error`."""
        for _ in range(times):
            self.failures[method].append(Misbehaviour(status, error, retry_after, record, channel=channel))

    def drop(self, method: str, times: int = 1, *, record: bool = True) -> None:
        """The next `times` calls get no answer: the connection closes (after Slack took the message)."""
        for _ in range(times):
            self.failures[method].append(Misbehaviour(record=record, drop=True))

    def delay(self, method: str, seconds: float, times: int = 1) -> None:
        """The next `times` calls are handled at once (a post is stored) but answered `seconds` later."""
        for _ in range(times):
            self.failures[method].append(Misbehaviour(delay=seconds))

    def of(self, method: str) -> list[SlackCall]:
        with self.lock:
            return [c for c in self.calls if c.method == method]

    def dms(self) -> list[SlackCall]:
        """chat.postMessage calls to DM channels (the stand-in names them D<user>)."""
        return [c for c in self.of("chat.postMessage") if str(c.params.get("channel", "")).startswith("D")]

    def messages_in(self, channel: str) -> list[dict]:
        """The messages Slack holds in a channel, oldest first: what the reviewer sees."""
        with self.lock:
            return list(self.stored[channel])

    def checkin_messages(self) -> dict[str, list[int]]:
        """DM channel -> the check-in ids of the check-in messages in it, oldest first."""
        with self.lock:
            return {
                channel: [m["metadata"]["event_payload"]["checkin_id"] for m in messages
                          if (m.get("metadata") or {}).get("event_type") == "wellbeing_checkin"]
                for channel, messages in self.stored.items() if channel.startswith("D")
            }

    def wait_for(self, method: str, count: int, timeout: float = 15.0, where=None) -> list[SlackCall]:
        deadline = time.time() + timeout
        while time.time() < deadline:
            calls = [c for c in self.of(method) if where is None or where(c)]
            if len(calls) >= count:
                return calls
            time.sleep(0.02)
        raise AssertionError(f"expected {count} {method} call(s) within {timeout} s, got {len(calls)}")

    def _store(self, channel: str, params: dict) -> str:
        # Real timestamps: the worker asks for history since (its clock) minus a margin.
        with self.lock:
            self._last_ts = max(time.time(), self._last_ts + 0.000001)
            ts = f"{self._last_ts:.6f}"
            metadata = params.get("metadata")
            if isinstance(metadata, str):
                metadata = json.loads(metadata)
            self.stored[channel].append({"type": "message", "ts": ts, "text": params.get("text"), "bot_id": "BBOT",
                                         "metadata": metadata})
        return ts

    def _history(self, params: dict) -> dict:
        channel = str(params.get("channel"))
        oldest = float(params.get("oldest") or 0)
        limit = int(params.get("limit") or 100)
        start = int(params.get("cursor") or 0)
        with_metadata = str(params.get("include_all_metadata")) in ("1", "true", "True")
        with self.lock:
            newest_first = [dict(m) for m in reversed(self.stored.get(channel, [])) if float(m["ts"]) > oldest]
        for message in newest_first:
            if not with_metadata or message["metadata"] is None:
                message.pop("metadata")
        page = newest_first[start:start + limit]
        more = start + limit < len(newest_first)
        return {"ok": True, "messages": page, "has_more": more,
                "response_metadata": {"next_cursor": str(start + limit) if more else ""}}

    def answer(self, method: str, params: dict) -> tuple[int, dict, dict, Misbehaviour | None]:
        headers = {"X-OAuth-Scopes": ",".join(sorted(self.scopes))}
        with self.lock:
            queued = self.failures[method]
            misbehaviour = None
            for i, candidate in enumerate(queued):
                if candidate.channel in (None, params.get("channel")):
                    misbehaviour = candidate
                    del queued[i]
                    break
        if self.auth_error:
            return 200, {"ok": False, "error": self.auth_error}, headers, None
        needed = needed_scope(method, params)
        if needed and needed not in self.scopes:
            error = {"ok": False, "error": "missing_scope", "needed": needed, "provided": ",".join(sorted(self.scopes))}
            return 200, error, headers, None
        if misbehaviour is not None and (misbehaviour.status != 200 or misbehaviour.error):
            if misbehaviour.record and method == "chat.postMessage":
                self._store(str(params.get("channel")), params)
            if misbehaviour.retry_after is not None:
                headers["Retry-After"] = str(misbehaviour.retry_after)
            error = misbehaviour.error or ("ratelimited" if misbehaviour.status == 429 else "internal_error")
            return misbehaviour.status, {"ok": False, "error": error}, headers, None
        if misbehaviour is not None and misbehaviour.drop and not misbehaviour.record:
            return 0, {}, headers, misbehaviour
        if method == "auth.test":
            body = {"ok": True, "user_id": "UBOT", "bot_id": "BBOT", "team_id": "T1", "user": "bot"}
        elif method == "users.lookupByEmail":
            user = self.users.get(str(params.get("email", "")).lower())
            body = {"ok": True, "user": {"id": user}} if user else {"ok": False, "error": "users_not_found"}
        elif method == "conversations.open":
            body = {"ok": True, "channel": {"id": "D" + str(params.get("users"))}}
        elif method == "conversations.history":
            body = self._history(params)
        elif method == "chat.postMessage":
            channel = str(params.get("channel"))
            body = {"ok": True, "channel": channel, "ts": self._store(channel, params)}
        elif method == "views.open":
            body = {"ok": True, "view": {"id": "V1"}}
        else:
            body = {"ok": False, "error": "unknown_method"}
        return 200, body, headers, misbehaviour


def _handler(standin: SlackStandIn):
    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            parts = urlsplit(self.path)
            method = parts.path.rsplit("/", 1)[-1]
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            params = {k: v[0] for k, v in parse_qs(parts.query).items()}
            if raw:
                if self.headers.get("Content-Type", "").startswith("application/json"):
                    params.update(json.loads(raw))
                else:
                    params.update({k: v[0] for k, v in parse_qs(raw.decode()).items()})
            with standin.lock:
                standin.calls.append(SlackCall(method, params, dict(self.headers), time.time()))
            status, body, headers, misbehaviour = standin.answer(method, params)
            if misbehaviour is not None and misbehaviour.delay:
                standin.closing.wait(misbehaviour.delay)
            if misbehaviour is not None and misbehaviour.drop:
                self.close_connection = True  # nothing written: the client sees the connection end
                return
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client gave up waiting (a late answer)
                self.close_connection = True

        do_POST = _serve
        do_GET = _serve

        def log_message(self, *args):  # keep test output quiet
            pass

    return Handler


@pytest.fixture
def slack():
    """The Slack Web API stand-in; its base URL ends in '/', as slack-sdk requires."""
    standin = SlackStandIn()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(standin))
    server.daemon_threads = True
    standin.url = f"http://127.0.0.1:{server.server_address[1]}/api/"
    # shutdown() waits up to one poll interval: the default 0.5 s cost 40 s over the fast lane.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield standin
    standin.closing.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def slack_client(slack):
    """The real slack-sdk WebClient, with the worker's retry handlers, pointed at the stand-in."""
    from workers.slack_delivery import make_slack_client

    return make_slack_client(BOT_TOKEN, slack.url, max_retries=2, backoff_factor=0.05)


# Short timeouts keep the tests quick (a post without a clear answer waits this long before its
# DM is looked at: the tests of what follows skip that wait with retry_now, the tests of timeouts
# and claims live it); the claim timeout must stay >= 3x the post timeout.
# 0.5 s is still far above a post to the stand-in: the delivery tests passed with it on a 2-core
# machine kept at a load of 10.
POST_TIMEOUT = 0.5


@pytest.fixture
def delivery_clients(slack):
    """Delivery's own clients (no retried posts, no sleeping) pointed at the stand-in."""
    from workers.slack_delivery import make_delivery_clients

    return make_delivery_clients(BOT_TOKEN, slack.url, post_timeout=POST_TIMEOUT, lookup_timeout=10.0)


@pytest.fixture
def no_sleeping_in_slack_sdk(monkeypatch):
    """Record any sleep slack-sdk's retry handlers would do (in place of doing it)."""
    import slack_sdk.http_retry.builtin_handlers as builtin
    import slack_sdk.http_retry.handler as handler

    slept = []
    fake_time = types.SimpleNamespace(sleep=slept.append, time=time.time)
    monkeypatch.setattr(builtin, "time", fake_time)
    monkeypatch.setattr(handler, "time", fake_time)
    return slept


# -- stores -----------------------------------------------------------------------------------------
@functools.cache
def postgres_url() -> str:
    """A reachable base URL for the test database (user postgres, else root); fails if none.

    Each pytest-xdist worker gets a database of its own (test_gw0, ...): advisory locks, which
    the store takes, are per database, so schemas alone would let one worker's tests hold
    another's inbox lock.
    """
    import psycopg

    errors = []
    for user in ("postgres", "root"):
        url = PG_BASE.format(user=user)
        try:
            with psycopg.connect(url, connect_timeout=5, autocommit=True) as connection:
                worker = os.environ.get("PYTEST_XDIST_WORKER")
                if not worker:
                    return url
                database = f"test_{worker}"
                if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
                    connection.execute(f"CREATE DATABASE {database}")
                return f"{url}_{worker}"
        except psycopg.Error as error:
            errors.append(f"{user}: {error.__class__.__name__}")
    pytest.fail(f"PostgreSQL at 127.0.0.1:5432/test not reachable ({'; '.join(errors)})")


@pytest.fixture
def postgres_schema(request):
    """A fresh schema in the test database, dropped afterwards; yields a DATABASE_URL using it."""
    import psycopg

    if request.node.get_closest_marker("postgres") is None:
        pytest.fail(f"{request.node.nodeid} uses PostgreSQL but has no @pytest.mark.postgres (tests/conftest.py)")
    base = postgres_url()
    schema = f"worker_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    yield f"{base}?options=-csearch_path%3D{schema}"
    with psycopg.connect(base, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    """A DATABASE_URL for each backend: a SQLite file, and a schema on the real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'worker.sqlite3'}"
    return request.getfixturevalue("postgres_schema")


@pytest.fixture(scope="session")
def new_sqlite_store(tmp_path_factory) -> Path:
    """A folder with one store just made by open_store (every migration applied), once per session."""
    folder = tmp_path_factory.mktemp("new-sqlite-store")
    open_store(f"sqlite:///{folder / 'worker.sqlite3'}").close()
    return folder


def copy_new_sqlite_store(template: Path, path: Path) -> None:
    """Put at `path` what open_store makes for a new SQLite store, copied from the template: the
    migrations' commits each wait for the disk (60-80 ms a store), the copy takes 3 ms."""
    for made in template.iterdir():  # the store file and the files beside it (the inbox)
        shutil.copy2(made, path.with_name(made.name.replace("worker.sqlite3", path.name, 1)))


@pytest.fixture
def store(database_url, new_sqlite_store):
    if database_url.startswith("sqlite:///"):
        copy_new_sqlite_store(new_sqlite_store, Path(database_url.removeprefix("sqlite:///")))
    opened = open_store(database_url)
    yield opened
    opened.close()


@pytest.fixture
def sqlite_store(tmp_path, new_sqlite_store):
    copy_new_sqlite_store(new_sqlite_store, tmp_path / "worker.sqlite3")
    opened = open_store(f"sqlite:///{tmp_path / 'worker.sqlite3'}")
    yield opened
    opened.close()


# What only tests ask of a store, through its own transaction and placeholder handling.
def exposure_count(store, project: int, reviewer: int) -> int:
    """How many distinct tasks the reviewer has seen in the project."""
    with store.backend.transaction(write=False) as cur:
        sql = "SELECT count(*) FROM exposures WHERE project = $1 AND reviewer = $2"
        return store.backend.run(cur, sql, (project, reviewer)).fetchone()[0]


def seen_annotation_ids(store, project: int) -> set[int]:
    """Ids of the project's annotations the worker has any event for."""
    with store.backend.transaction(write=False) as cur:
        rows = store.backend.run(cur, "SELECT DISTINCT annotation_id FROM events WHERE project = $1", (project,)).fetchall()
    return {row[0] for row in rows}


def record_deletion(store, deleted, now: float | None = None) -> int:
    """Record an AnnotationsDeleted event alone; returns how many of its annotation ids were new."""
    with store.backend.transaction() as cur:
        return store.events.record_deletion(cur, deleted, time.time() if now is None else now)


def every_row(store) -> dict[str, list[tuple]]:
    """Every row an annotation event writes, without the times the store stamps itself."""
    queries = {
        "events": "SELECT project, annotation_id, action, updated_at, task, reviewer, skipped FROM events",
        "exposures": "SELECT project, reviewer, task, annotation_id, skipped, reviewed_at, severe FROM exposures",
        "ledger": "SELECT project, annotation_id, task, attack_id, reviewer, success, topics, skipped, valid,"
                  " invalid_reason, lead_time, created_at, updated_at, updated_by FROM ledger",
        "ledger_tasks": "SELECT project, task, attack_id FROM ledger_tasks",
        "checkins": "SELECT project, reviewer, milestone, kind, status FROM outbox",
        "pacing": "SELECT project, reviewer, session_started_at, last_seen_at, break_clock_from, severe_run, day,"
                  " day_tasks FROM pacing",
    }
    with store.backend.transaction(write=False) as cur:
        return {table: sorted(tuple(row) for row in store.backend.run(cur, sql).fetchall()) for table, sql in queries.items()}


def apply_received(store, every: int = 10, **options) -> int:
    """Apply what webhooks put in the inbox, as the worker's background does (applier.py); returns how many."""
    from workers.applier import InboxApplier

    return InboxApplier(store, every, **options).drain()


def wait_until_applied(store, timeout: float = 15.0) -> None:
    """Wait for a running service's applier to empty the inbox (every webhook answered is then applied)."""
    deadline = time.time() + timeout
    while store.inbox.waiting().waiting:
        if time.time() > deadline:
            raise AssertionError(f"the inbox still holds {store.inbox.waiting().waiting} event(s) after {timeout} s")
        time.sleep(0.02)


def retry_now(store, message_id: int) -> None:
    """Make a pending message's next try due now, as if its wait (at least the post timeout after a
    post without a clear answer) had passed: the tests of what the retry does need not sleep it out."""
    with store.backend.transaction() as cur:
        store.backend.run(cur, "UPDATE outbox SET next_attempt_at = $1 WHERE id = $2 AND status = 'pending'"
                          " AND next_attempt_at > $1", (time.time(), message_id))


def schema_versions(store) -> list[int]:
    """The schema versions the store has recorded as applied, in order."""
    with store.backend.transaction(write=False) as cur:
        return [row[0] for row in store.backend.run(cur, "SELECT version FROM schema_migrations ORDER BY version").fetchall()]


# -- Label Studio, faked for unit tests (the e2e test uses the real server) -------------------------
@dataclass
class FakeLabelStudio:
    """Stands in for LabelStudioReader: users by id, each project's tasks with their annotations
    (a change moves the task's updated_at, as in Label Studio), and the watched projects."""

    users: dict[int, Reviewer] = field(default_factory=dict)
    tasks_by_project: dict[int, dict[int, dict]] = field(default_factory=lambda: defaultdict(dict))
    watched: set[int] = field(default_factory=set)
    user_calls: int = 0
    task_reads: int = 0  # pages read with annotations
    version_reads: int = 0  # listings of ids and updated_at
    exports: int = 0
    down: bool = False
    deleted_projects: set[int] = field(default_factory=set)

    def add(self, project: int, annotation: dict, attack_id: int | None = None) -> None:
        """A reviewer submits (or an admin edits) an annotation: its task changes now."""
        task = self._task(project, annotation["task"], attack_id)
        task["annotations"] = [a for a in task["annotations"] if a["id"] != annotation["id"]] + [dict(annotation)]
        task["updated_at"] = time.time()

    def delete(self, project: int, annotation_id: int) -> None:
        for task in self.tasks_by_project[project].values():
            if any(a["id"] == annotation_id for a in task["annotations"]):
                task["annotations"] = [a for a in task["annotations"] if a["id"] != annotation_id]
                task["updated_at"] = time.time()

    def import_tasks(self, project: int, task_ids, attack_ids=None) -> None:
        for n, task_id in enumerate(task_ids):
            self._task(project, task_id, None if attack_ids is None else attack_ids[n])

    def _task(self, project: int, task_id: int, attack_id: int | None) -> dict:
        tasks = self.tasks_by_project[project]
        if task_id not in tasks:
            tasks[task_id] = {"id": task_id, "attack_id": attack_id if attack_id is not None else 10_000 + task_id,
                              "updated_at": time.time(), "annotations": []}
        return tasks[task_id]

    def _check(self, what: str) -> None:
        from workers.label_studio_api import LabelStudioUnavailable

        if self.down:
            raise LabelStudioUnavailable(f"{what}: ConnectError")

    def reviewer(self, user_id: int) -> Reviewer:
        from workers.label_studio_api import UnknownReviewer

        self._check("Label Studio user")
        self.user_calls += 1
        if user_id not in self.users:
            raise UnknownReviewer(f"Label Studio user {user_id}: not found")
        return self.users[user_id]

    def _check_project(self, project: int) -> None:
        from workers.label_studio_api import UnknownProject

        if project in self.deleted_projects:
            raise UnknownProject(f"project {project}: not found")

    def task_count(self, project: int) -> int:
        self._check(f"project {project}")
        self._check_project(project)
        return len(self.tasks_by_project[project])

    def tasks(self, project: int, *, after_task: int = 0, changed_after: str | None = None, ids=None, page_size: int = 500):
        for page in self._pages(project, after_task, changed_after, ids, page_size):
            self.task_reads += 1
            yield page

    def _pages(self, project: int, after_task: int = 0, changed_after: str | None = None, ids=None, page_size: int = 500):
        from workers.label_studio_api import LabelStudioTask, time_filter_value

        self._check(f"tasks of project {project}")
        self._check_project(project)
        chosen = [
            task for task_id, task in sorted(self.tasks_by_project[project].items())
            if task_id > after_task and (changed_after is None or time_filter_value(task["updated_at"]) > changed_after)
            and (ids is None or task_id in set(ids))
        ]
        for start in range(0, len(chosen), page_size):
            page = chosen[start:start + page_size]
            yield [
                LabelStudioTask(t["id"], t["attack_id"], time_filter_value(t["updated_at"]), [dict(a) for a in t["annotations"]])
                for t in page
            ]

    def export_tasks(self, project: int, ids=None):
        """The full export (of these task ids), task by task, as LabelStudioReader.export_tasks parses it."""
        self.exports += 1
        for page in self._pages(project, ids=ids):
            yield from page

    def task_id_span(self, project: int):
        self._check(f"tasks of project {project}")
        self._check_project(project)
        tasks = self.tasks_by_project[project]
        return (min(tasks), max(tasks)) if tasks else None

    def task_versions(self, project: int, changed_after: str | None = None):
        from workers.label_studio_api import TaskVersion

        self.version_reads += 1
        for page in self._pages(project, changed_after=changed_after):
            yield [TaskVersion(task.id, task.updated_at, task.attack_id) for task in page]

    def changed_summary(self, project: int, changed_after: str | None):
        versions = [task.updated_at for page in self._pages(project, changed_after=changed_after) for task in page]
        return len(versions), max(versions, default=None)

    def watched_projects(self, webhook_secret: str) -> set[int]:
        return set(self.watched)


_annotation_ids = itertools.count(1000)


def annotation(project: int, task: int, reviewer: int, skipped: bool = False, annotation_id: int | None = None) -> dict:
    """An annotation in the API/webhook shape (no result: the worker never reads it)."""
    return {
        "id": annotation_id if annotation_id is not None else next(_annotation_ids),
        "task": task,
        "project": project,
        "completed_by": reviewer,
        "was_cancelled": skipped,
        "result": [],
        "created_at": "2026-11-28T03:11:25.160211Z",
        "updated_at": "2026-11-28T03:11:25.160239Z",
    }


def webhook_body(action: str, ann: dict, project: int) -> bytes:
    return json.dumps({"action": action, "annotation": ann, "project": {"id": project}, "task": {"id": ann["task"]}}).encode()


@pytest.fixture
def fake_label_studio() -> FakeLabelStudio:
    return FakeLabelStudio(
        users={
            7: Reviewer(7, "ada@example.com", "Ada Reviewer"),
            8: Reviewer(8, "bo@example.com", "Bo Reviewer"),
            9: Reviewer(9, "", "No Email"),
        }
    )


# -- signed Slack interactivity -----------------------------------------------------------------------
def signed_interaction(payload: dict, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> tuple[bytes, dict]:
    """Body and headers for an interaction signed the way Slack signs them."""
    body = urlencode({"payload": json.dumps(payload)}).encode()
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    return body, {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature,
    }


def button_payload(action_id: str, checkin_id: int, user: str = "UADA", channel: str = "DUADA") -> dict:
    return {
        "type": "block_actions",
        "user": {"id": user},
        "team": {"id": "T1"},
        "api_app_id": "A1",
        "token": "legacy",
        "trigger_id": "1234.5678.abcd",
        "channel": {"id": channel},
        "container": {"type": "message", "channel_id": channel},
        "actions": [{"type": "button", "action_id": action_id, "block_id": "checkin_actions", "value": str(checkin_id)}],
        "response_url": "http://127.0.0.1:9/unused",
    }


def survey_payload(checkin_id: int, scores: dict[str, int | None], comment: str | None = None, user: str = "UADA") -> dict:
    from workers.survey import COMMENT_BLOCK, ITEMS, block_id

    values = {}
    for item in ITEMS:
        score = scores.get(item)
        option = {"text": {"type": "plain_text", "text": str(score)}, "value": str(score)} if score is not None else None
        values[block_id(item)] = {"score": {"type": "static_select", "selected_option": option}}
    values[COMMENT_BLOCK] = {"text": {"type": "plain_text_input", "value": comment}}
    return {
        "type": "view_submission",
        "user": {"id": user},
        "team": {"id": "T1"},
        "api_app_id": "A1",
        "token": "legacy",
        "trigger_id": "1234.5678.efgh",
        "view": {
            "id": "V1",
            "type": "modal",
            "callback_id": "wellbeing_survey",
            "private_metadata": str(checkin_id),
            "state": {"values": values},
            "hash": "h",
        },
    }


# -- the worker's settings and app -----------------------------------------------------------------
def worker_settings(database_url: str, slack_url: str, **overrides):
    from workers.settings import settings_from_env

    env = {
        "LABEL_STUDIO_URL": "http://127.0.0.1:9",
        "LABEL_STUDIO_API_KEY": "ls-test-key",
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack_url,
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "DATABASE_URL": database_url,
        "LEAD_SLACK_CHANNEL": "CLEAD",
        # The lead's digest only where a test asks for it (DIGEST_AT=...): it posts to CLEAD.
        "DIGEST_AT": "off",
    }
    env.update({k: str(v) for k, v in overrides.items()})
    return settings_from_env(env)


@pytest.fixture
def worker(store, slack, slack_client, delivery_clients, fake_label_studio):
    """The assembled worker (store, Slack stand-in, fake Label Studio) without its threads running."""
    from workers.service import build_worker

    settings = worker_settings("sqlite:///unused", slack.url)
    app, parts = build_worker(
        settings, store=store, slack_client=slack_client, label_studio=fake_label_studio, retry_base_seconds=0.2,
        poll_seconds=0.1, delivery_clients=delivery_clients,
    )
    parts["app"] = app
    parts["settings"] = settings
    return parts


@pytest.fixture
def client(worker):
    """Starlette's TestClient over the worker's app, background threads off (tests drive them)."""
    from starlette.testclient import TestClient

    from workers.app import build_app

    app = build_app(
        worker["store"], webhook_secret=WEBHOOK_SECRET, slack_app=worker["slack_app"],
        slack_signing_secret=SIGNING_SECRET, service=None,
    )
    with TestClient(app) as test_client:
        yield test_client



class RunningWorker:
    """An ASGI app served by uvicorn on 127.0.0.1, port 0, in a thread (lifespan included)."""

    def __init__(self, app):
        import uvicorn

        # log_config=None: uvicorn's loggers propagate, so caplog sees a traceback if one is logged.
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", log_config=None)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.time() + 15
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise AssertionError("uvicorn did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(20)


class WorkerProcess:
    """`review-project worker` in its own process, stopped with SIGTERM like a service manager would."""

    def __init__(self, env: dict, port: int, log_path: Path, module: str = "review_project.cli"):
        """module : what `python -m` runs; tests.workers.clock_shifted_worker lets a test move pacing's clock."""
        self.env, self.port, self.log_path, self.module = env, port, log_path, module
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module, "worker", "--port", str(self.port)],
            env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited with {self.process.returncode}:\n{self.log_path.read_text()[-3000:]}")
            try:
                if local_http.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()  # a worker left running would outlive the test session
        raise AssertionError(f"worker did not answer /healthz:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)
