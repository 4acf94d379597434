"""Benchmark: sustained webhook ingestion by the worker, against a bare Starlette floor on each database.

Each server runs in its own process under uvicorn on 127.0.0.1; 8 keep-alive client threads
post real-size (about 6 KB) ANNOTATION_CREATED bodies, each a new annotation; each client is one
reviewer submitting her tasks in order, as a reviewer does, so a check-in falls due every 10th
task per reviewer. Every commit is durable
(SQLite WAL with synchronous=FULL; PostgreSQL's default fsync). The worker runs whole and as
`review-project worker` runs it: its web process answers each webhook once the event is in the
inbox, and its background process applies the inbox meanwhile, pacing on (the default rules and
a daily cap: the bodies' created_at, ratings and skips move each reviewer through sessions,
severe runs and days, so every pacing trigger fires and its nudge is recorded), while its
delivery thread posts the check-ins and nudges to a Slack stand-in in a process of its own (as
Slack is not in the worker's process).

The floors do the least a durable receiver can: parse the JSON, insert the body with one
commit per event, answer. On SQLite one connection (SQLite has one writer); on PostgreSQL a pool
of 4 connections, so concurrent commits share PostgreSQL's WAL flushes (the worker shares them
by committing a batch of events at once, with one writer: workers/ingest.py).

Printed per target: events/s answered, p50 and p99 acknowledgement latency, events lost (sent
and acknowledged but not applied in the store: must be 0), the ratio of events/s to the floor
on the same database (goal: 0.8x or more); then how long after the last answer the worker had
applied every event, the rate to that moment ("handled", also against the floor), the
check-ins and nudges delivered by then, and the CPU time per event of the server and its
background process to that moment (the Slack stand-in's not counted). Absolute targets on
this machine: 500 events/s and p99 under 50 ms.

With --label-studio it also starts a private Label Studio and times a reviewer's submits
(POST /api/tasks/{id}/annotations/) without a webhook, with a webhook to a receiver that does
nothing (Label Studio's own cost of sending one), and with the worker's webhook (goal: 1.05x
or less of the do-nothing receiver).

Run: .venv/bin/python benchmarks/bench_webhooks.py [--events 3000] [--clients 8] [--rounds 3]
     [--database sqlite|postgresql] [--label-studio [--submits 40]]
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import multiprocessing
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SECRET = "bench-webhook-secret"
# Label Studio user ids the stand-ins know; the first `clients` of them submit.
REVIEWERS = tuple(range(11, 11 + 64))
PG_BASE = "postgresql://{user}@127.0.0.1:5432/test"
FLOOR_GOAL = 0.8
SUBMIT_GOAL = 1.05
# The worker's pacing in the benchmark: the defaults (a break nudge after 60 minutes of
# continuous reviewing, a severe nudge every 5 severe tasks in a row) plus a daily cap, so every
# trigger's code runs. The bodies below are timed and rated to set each of them off.
PACING = {"BREAK_AFTER_MINUTES": "60", "SEVERE_STREAK": "5", "DAILY_TASK_CAP": "150"}


def real_body() -> dict:
    """The captured ANNOTATION_CREATED body from a real Label Studio 1.23.2 (about 6 KB)."""
    from tests.fixtures import real_webhook_bodies

    return real_webhook_bodies()[0]["body"]


# Each reviewer's k-th task: 40 s apart in sessions of 100 tasks with a 20-minute gap between
# them (so each session passes the 60-minute break once), 200 tasks a day (past the cap of 150),
# then the next day; in every 40 tasks a run of 6 severe ones (one by topic, five by rating); a
# skip every 50th.
_DAY0 = 1_795_867_200  # 2026-11-28 12:00 UTC
_SEVERE_TOPIC = "Violence & incitement"
_OTHER_TOPICS = (["Theft"], ["Fraud & deception", "Weapons"], [])


def _pacing_fields(k: int) -> dict:
    """created_at, the result and was_cancelled for a reviewer's k-th task (see above)."""
    day, in_day = divmod(k, 200)
    session, in_session = divmod(in_day, 100)
    moment = _DAY0 + day * 86_400 + session * (100 * 40 + 20 * 60) + in_session * 40
    created_at = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(moment))
    if k % 50 == 49:
        return {"created_at": created_at, "updated_at": created_at, "was_cancelled": True, "result": []}
    run = k % 40
    if run == 0:
        success, topics = "1", [_SEVERE_TOPIC]
    elif run <= 5:
        success, topics = str(3 + run % 2), _OTHER_TOPICS[run % 3]
    else:
        success, topics = str(run % 3), _OTHER_TOPICS[run % 3]
    result = [{"from_name": "success", "to_name": "dialogue", "type": "choices", "value": {"choices": [success]}}]
    if topics:
        result.append({"from_name": "topics", "to_name": "dialogue", "type": "taxonomy",
                       "value": {"taxonomy": [[t] for t in topics]}})
    return {"created_at": created_at, "updated_at": created_at, "was_cancelled": False, "result": result}


def bodies(count: int, reviewers: int, project: int = 1) -> list[bytes]:
    """`count` distinct submissions: annotation ids 1..count, round-robin over `reviewers` (so
    drive's client i posts reviewer i's, in order), each reviewer's tasks timed and rated so that
    pacing's state changes (_pacing_fields)."""
    template = real_body()
    out = []
    for n in range(count):
        body = json.loads(json.dumps(template))
        k = n // reviewers
        body["annotation"].update(id=n + 1, task=k + 1, completed_by=REVIEWERS[n % reviewers], **_pacing_fields(k))
        body["project"]["id"] = project
        out.append(json.dumps(body).encode())
    return out


# -- servers (each in its own process) ------------------------------------------------------------
def floor_app(path: str):
    """The floor: parse the JSON, insert the body into SQLite (WAL, synchronous=FULL), commit, answer."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")

    async def webhook(request):
        body = await request.body()
        json.loads(body)
        connection.execute("INSERT INTO events (body) VALUES (?)", (body.decode(),))
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/label-studio/webhook", webhook, methods=["POST"])])


def pg_floor_app(url: str):
    """The floor on PostgreSQL: parse the JSON, insert the body (autocommit: one durable commit per
    event, on one of a pool of 4 connections), answer."""
    from contextlib import asynccontextmanager

    from psycopg_pool import AsyncConnectionPool
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    pool = AsyncConnectionPool(url, min_size=4, max_size=4, open=False, kwargs={"autocommit": True})

    @asynccontextmanager
    async def lifespan(app):
        await pool.open(wait=True)
        async with pool.connection() as connection:
            await connection.execute("CREATE TABLE IF NOT EXISTS events (id bigserial PRIMARY KEY, body text NOT NULL)")
        yield
        await pool.close()

    async def webhook(request):
        body = await request.body()
        json.loads(body)
        async with pool.connection() as connection:
            await connection.execute("INSERT INTO events (body) VALUES (%s)", (body.decode(),))
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/label-studio/webhook", webhook, methods=["POST"])], lifespan=lifespan)


def null_app():
    """A receiver that reads the body and answers 200: what any webhook costs Label Studio itself."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def webhook(request):
        await request.body()
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/label-studio/webhook", webhook, methods=["POST"])])


def bench_settings(database_url: str, slack_url: str):
    """The worker's settings in the benchmark: pacing on, Label Studio and Slack stood in."""
    from workers.settings import settings_from_env

    return settings_from_env({
        "LABEL_STUDIO_URL": "http://127.0.0.1:9", "LABEL_STUDIO_API_KEY": "k", "SLACK_BOT_TOKEN": "xoxb-b",
        "SLACK_SIGNING_SECRET": "s", "WEBHOOK_SECRET": SECRET, "DATABASE_URL": database_url,
        "SLACK_API_URL": slack_url, "RECONCILE_SECONDS": "3600", **PACING,
    })


def bench_service(settings):
    """The worker's background service (applier, delivery to the Slack stand-in, catch-up) with Label
    Studio stood in: run in the worker's background process, as `review-project worker` runs it."""
    from tests.workers.conftest import FakeLabelStudio
    from workers.service import build_service
    from workers.store import Reviewer

    label_studio = FakeLabelStudio(users={r: Reviewer(r, f"r{r}@example.com", f"Reviewer {r}") for r in REVIEWERS})
    logging.getLogger("workers").setLevel(logging.ERROR)
    return build_service(settings, label_studio=label_studio, poll_seconds=0.5)


def worker_app(database_url: str, slack_url: str):
    """The real worker as `review-project worker` runs it (service.run_worker): this process answers
    HTTP, a background process of its own applies the inbox and posts to the Slack stand-in."""
    from workers.background import BackgroundProcess
    from workers.service import build_web
    from workers.store import open_store

    settings = bench_settings(database_url, slack_url)
    app, _ = build_web(settings, open_store(database_url), BackgroundProcess(settings, bench_service))
    return app


def slack_standin(port_queue) -> None:
    """Child process: the Slack stand-in. Slack is not in the worker's process, so neither is its
    stand-in: answering the delivery thread's calls is not the worker's CPU."""
    from http.server import ThreadingHTTPServer

    from tests.workers.conftest import SlackStandIn, _handler

    slack = SlackStandIn()
    slack.users.update({f"r{r}@example.com": f"U{r}" for r in REVIEWERS})
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(slack))
    port_queue.put(server.server_address[1])
    server.serve_forever()


def start(child, *args) -> tuple:
    """Start `child(*args, port_queue)` in its own process; returns (process, the port it serves on).

    Not a daemonic process: the worker starts a background process of its own, which a daemonic
    one may not. stop() ends them all."""
    context = multiprocessing.get_context("spawn")
    ports = context.Queue()
    process = context.Process(target=child, args=(*args, ports))
    process.start()
    return process, ports.get(timeout=60)


def stop(*processes) -> None:
    """Stop each process in turn (SIGTERM, then wait for it)."""
    for process in processes:
        process.terminate()
        process.join(30)


def serve(kind: str, target: str, port_queue) -> None:
    """Child process: build the app and serve it on a free port, reported through `port_queue`."""
    import asyncio

    import uvicorn

    os.environ.pop("HTTP_PROXY", None)
    os.environ.pop("http_proxy", None)
    # The stood-in Label Studio knows only the benchmark's reviewers; its misses are not news here.
    logging.getLogger("workers").setLevel(logging.ERROR)
    if kind == "worker":
        database_url, slack_port = target
        app = worker_app(database_url, f"http://127.0.0.1:{slack_port}/api/")
    else:
        app = {"floor": floor_app, "pgfloor": pg_floor_app, "null": lambda _: null_app()}[kind](target)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False))

    async def run():
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        port_queue.put(server.servers[0].sockets[0].getsockname()[1])
        await task

    asyncio.run(run())


# -- the load --------------------------------------------------------------------------------------
def drive(port: int, payloads: list[bytes], clients: int) -> tuple[float, list[float], int]:
    """Post every payload from `clients` keep-alive threads; returns wall seconds, latencies (s), failures."""
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    chunks = [payloads[i::clients] for i in range(clients)]
    start_gate = threading.Barrier(clients + 1)

    def client(chunk):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine = []
        start_gate.wait()
        for body in chunk:
            began = time.perf_counter()
            connection.request("POST", "/label-studio/webhook", body=body,
                               headers={"Content-Type": "application/json", "X-Webhook-Secret": SECRET})
            response = connection.getresponse()
            response.read()
            mine.append(time.perf_counter() - began)
            if response.status != 200:
                with lock:
                    failures[0] += 1
        connection.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(chunk,)) for chunk in chunks]
    for thread in threads:
        thread.start()
    start_gate.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - began, latencies, failures[0]


def stored_count(kind: str, target: str) -> int:
    if kind == "floor":
        with sqlite3.connect(target) as connection:
            return connection.execute("SELECT count(*) FROM events").fetchone()[0]
    if kind == "pgfloor":
        import psycopg

        with psycopg.connect(target) as connection:
            return connection.execute("SELECT count(*) FROM events").fetchone()[0]
    from tests.workers.conftest import seen_annotation_ids
    from workers.store import open_store

    store = open_store(target)
    try:
        return len(seen_annotation_ids(store, 1))
    finally:
        store.close()


def run_target(name: str, kind: str, target: str, events: int, clients: int, warmup: int = 200) -> dict:
    processes = []
    try:
        if kind == "worker":
            slack, slack_port = start(slack_standin)
            processes.append(slack)
            target_args = (target, slack_port)
        else:
            target_args = target
        server, port = start(serve, kind, target_args)
        processes.append(server)
        payloads = bodies(events + warmup, clients)
        drive(port, payloads[:warmup], clients)  # connections, caches and the first pages warm
        wait_until_applied(kind, target)
        cpu_before = tree_cpu(server.pid)
        wall, latencies, failures = drive(port, payloads[warmup:], clients)
        # The worker answers once an event is in its inbox; it has handled the event once its
        # background process has applied it. Both are timed, and the CPU is counted to the end.
        applied_after = wait_until_applied(kind, target)
        sent, due = delivered(kind, target)
        time.sleep(0.2)
        cpu = tree_cpu(server.pid) - cpu_before
        stored = stored_count(kind, target)
    finally:
        # The server first: its background process delivers until it stops, to a Slack stand-in still there.
        stop(*reversed(processes))
    latencies.sort()
    return {
        "name": name,
        "events": events,
        "events_per_s": events / wall,
        "handled_per_s": events / (wall + applied_after),
        "applied_after_s": applied_after,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "failed": failures,
        "lost": events + warmup - failures - stored,
        "cpu_ms": 1000 * cpu / events,
        "sent": sent,
        "due": due,
    }


def delivered(kind: str, target: str) -> tuple[int, int]:
    """For the worker: (check-ins and nudges sent, all it has made due) so far; (0, 0) for a floor."""
    if kind != "worker":
        return 0, 0
    from workers.store import open_store

    store = open_store(target)
    try:
        checkins = store.checkins.all()
    finally:
        store.close()
    return sum(c.status == "sent" for c in checkins), len(checkins)


def wait_until_applied(kind: str, target: str, timeout: float = 300.0) -> float:
    """For the worker, wait until its inbox is empty; returns the seconds waited (0 for a floor)."""
    if kind != "worker":
        return 0.0
    from workers.store import open_store

    began = time.perf_counter()
    store = open_store(target)
    try:
        while store.inbox.waiting().waiting:
            if time.perf_counter() - began > timeout:
                raise SystemExit(f"the worker's inbox was not applied within {timeout:.0f} s")
            time.sleep(0.005)
    finally:
        store.close()
    return time.perf_counter() - began


def tree_cpu(pid: int) -> float:
    """CPU seconds used so far by a process and its children (the worker's background process)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return process_cpu(pid) + sum(process_cpu(child) for child in children)


def process_cpu(pid: int) -> float:
    """CPU seconds (user and system) a process has used so far; NaN where /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_base() -> str:
    """The URL of the test database, as whichever of the usual users it trusts."""
    import psycopg

    for user in ("postgres", "root"):
        base = PG_BASE.format(user=user)
        try:
            with psycopg.connect(base, autocommit=True, connect_timeout=5):
                return base
        except psycopg.OperationalError:
            continue
    raise SystemExit("PostgreSQL at 127.0.0.1:5432/test is not reachable")


def _reset_schema(base: str, schema: str) -> str:
    """(Re)create an empty schema; returns a URL whose connections work in it."""
    import psycopg

    with psycopg.connect(base, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        connection.execute(f"CREATE SCHEMA {schema}")
    return f"{base}?options=-csearch_path%3D{schema}"


def drop_schema(base: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(base, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


# (name, kind, database, the floor it is held against)
TARGETS = (
    ("floor: bare Starlette + SQLite", "floor", "sqlite", None),
    ("worker on SQLite", "worker", "sqlite", "floor: bare Starlette + SQLite"),
    ("floor: bare Starlette + PostgreSQL", "pgfloor", "postgresql", None),
    ("worker on PostgreSQL", "worker", "postgresql", "floor: bare Starlette + PostgreSQL"),
)


def ingestion(events: int, clients: int, rounds: int, databases: tuple[str, ...]) -> list[dict]:
    """Every target on `databases` `rounds` times, interleaved (so load from elsewhere hits all
    alike); per target the round with the median rate is kept. Each run starts from an empty file
    or schema."""
    folder = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    base = postgres_base()
    tag = uuid.uuid4().hex[:10]
    targets = [target for target in TARGETS if target[2] in databases]
    runs: dict[str, list[dict]] = {name: [] for name, *_ in targets}
    try:
        for n in range(rounds):
            for name, kind, database, _ in targets:
                if database == "postgresql":
                    target = _reset_schema(base, f"bench_{kind}_{tag}")
                elif kind == "floor":
                    target = str(folder / f"floor{n}.sqlite3")
                else:
                    target = f"sqlite:///{folder / f'worker{n}.sqlite3'}"
                runs[name].append(run_target(name, kind, target, events, clients))
    finally:
        for kind in {kind for _, kind, database, _ in TARGETS if database == "postgresql"}:
            drop_schema(base, f"bench_{kind}_{tag}")
    return [sorted(runs[name], key=lambda r: r["events_per_s"])[len(runs[name]) // 2] for name, *_ in targets]


def print_ingestion(results: list[dict], clients: int, rounds: int) -> None:
    by_name = {r["name"]: r for r in results}
    print(f"Webhook ingestion, {results[0]['events']} events per target, {clients} keep-alive clients, durable commits"
          f" (median of {rounds} interleaved rounds)")
    print("  answered: events/s acknowledged; applied after: seconds from the last answer until the worker had"
          " applied every event\n  (counted, ledger, pacing, check-ins); handled: events/s to the end of that;"
          " DMs: check-ins and nudges sent by then, of all made due")
    print(f"{'target':<36}{'answered/s':>11}{'p50 ms':>8}{'p99 ms':>8}{'lost':>6}{'failed':>7}{'vs floor':>10}"
          f"{'applied after':>15}{'handled/s':>11}{'vs floor':>10}{'DMs':>11}{'CPU ms/event':>14}")
    targets = [target for target in TARGETS if target[0] in by_name]
    for (name, _, _, floor), r in zip(targets, results):
        base = by_name[floor or name]["events_per_s"]
        dms = f"{r['sent']}/{r['due']}" if floor else "-"
        print(f"{name:<36}{r['events_per_s']:>11.0f}{r['p50_ms']:>8.1f}{r['p99_ms']:>8.1f}{r['lost']:>6}"
              f"{r['failed']:>7}{r['events_per_s'] / base:>9.2f}x{r['applied_after_s']:>13.2f} s"
              f"{r['handled_per_s']:>11.0f}{r['handled_per_s'] / base:>9.2f}x{dms:>11}{r['cpu_ms']:>14.2f}")
    for (name, _, _, floor), r in zip(targets, results):
        if floor is None:
            continue
        ok = r["events_per_s"] >= 500 and r["p99_ms"] < 50 and r["lost"] == 0 and r["failed"] == 0
        answered = r["events_per_s"] / by_name[floor]["events_per_s"]
        handled = r["handled_per_s"] / by_name[floor]["events_per_s"]
        print(f"  {name}: 500 events/s, p99 < 50 ms, 0 lost: {'met' if ok else 'NOT MET'};"
              f" answered {answered:.2f}x its floor (goal {FLOOR_GOAL}x or more): "
              f"{'met' if answered >= FLOOR_GOAL else 'NOT MET'}; handled, to the last event applied, {handled:.2f}x")


# -- the reviewer's submit time in Label Studio -------------------------------------------------------
def submit_time(client, task: int, user_id: int) -> float:
    """Seconds for one reviewer's submit (POST /api/tasks/{id}/annotations/)."""
    body = {"result": [{"from_name": "success", "to_name": "dialogue", "type": "choices",
                        "value": {"choices": ["2"]}}], "completed_by": user_id, "lead_time": 5}
    began = time.perf_counter()
    response = client.post(f"/api/tasks/{task}/annotations/", json=body)
    took = time.perf_counter() - began
    response.raise_for_status()
    return took


def label_studio_submits(submits: int) -> None:
    """Median submit time with the worker's webhook, over the same without a webhook, and over a
    webhook to a receiver that does nothing (Label Studio's own cost of sending one)."""
    from review_project import label_studio, local_server
    from review_project.demo_data import generate_records
    from review_project.project_setup import setup_project
    from review_project.sampling import sample_attacks
    from review_project.shared import Reviewer
    from tests.conftest import free_port

    folder = Path(tempfile.mkdtemp(prefix="bench-ls-"))
    server = local_server.start_server(folder / "ls", port=free_port())
    slack, slack_port = start(slack_standin)
    receivers = {
        "worker": start(serve, "worker", (f"sqlite:///{folder / 'w.sqlite3'}", slack_port)),
        "null": start(serve, "null", ""),
    }
    try:
        client = label_studio.connect(server.url, server.api_key)
        attacks = sample_attacks(generate_records(max(1000, 20 * submits), seed=5), per_model=submits, seed=1)
        reviewers = [Reviewer("bench@example.com", "Bench")]
        projects = {"no webhook": setup_project(client, attacks, reviewers, title="bench plain", create_accounts=True).project_id}
        for kind, label in (("null", "webhook to a do-nothing receiver"), ("worker", "the worker's webhook")):
            port = receivers[kind][1]
            projects[label] = setup_project(
                client, attacks, reviewers, title=f"bench {kind}",
                webhook_url=f"http://127.0.0.1:{port}/label-studio/webhook", webhook_secret=SECRET,
            ).project_id
        user = label_studio.users_by_email(client)["bench@example.com"].id
        tasks = {label: [t.id for t in client.tasks.list(project=pid, page_size=1000)][: 2 * submits]
                 for label, pid in projects.items()}
        # One submit per side in turn, the turn's first side rotating, so that drift and load
        # from elsewhere on the machine hit every side alike.
        import httpx

        times: dict[str, list[float]] = {label: [] for label in projects}
        labels = list(projects)
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Token {server.api_key}"},
                          timeout=30) as http:
            for n in range(2 * submits):
                for label in labels[n % 3:] + labels[:n % 3]:
                    times[label].append(submit_time(http, tasks[label][n], user))
    finally:
        stop(slack, *(process for process, _ in receivers.values()))
        local_server.stop_server(folder / "ls")
    medians = {label: statistics.median(values) for label, values in times.items()}
    plain, null = medians["no webhook"], medians["webhook to a do-nothing receiver"]
    print(f"\nReviewer's submit in Label Studio ({2 * submits} submits each, median):")
    for label, value in medians.items():
        print(f"  {label:<34}{1000 * value:>7.1f} ms   {value / plain:.2f}x no webhook   {value / null:.2f}x do-nothing receiver")
    ratio = medians["the worker's webhook"] / null
    print(f"  the worker's webhook / the do-nothing receiver: {ratio:.2f}x (goal {SUBMIT_GOAL}x or less):"
          f" {'met' if ratio <= SUBMIT_GOAL else 'NOT MET'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=8, choices=range(1, len(REVIEWERS) + 1), metavar="N",
                        help="keep-alive clients, one reviewer each")
    parser.add_argument("--rounds", type=int, default=3, help="runs per target; the median is reported")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), action="append",
                        help="only the targets on this database (repeatable; default: both)")
    parser.add_argument("--label-studio", action="store_true", help="also time submits in a real Label Studio")
    parser.add_argument("--submits", type=int, default=40)
    args = parser.parse_args()
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(proxy, None)
    databases = tuple(args.database or ("sqlite", "postgresql"))
    print_ingestion(ingestion(args.events, args.clients, args.rounds, databases), args.clients, args.rounds)
    if args.label_studio:
        label_studio_submits(args.submits)


if __name__ == "__main__":
    main()
