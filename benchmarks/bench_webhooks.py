"""Benchmark: sustained webhook ingestion by the worker, against a bare Starlette+SQLite floor.

Each server runs in its own process under uvicorn on 127.0.0.1; 8 keep-alive client threads
post real-size (about 6 KB) ANNOTATION_CREATED bodies, each a new annotation, 4 reviewers
round-robin so a check-in falls due every 10th task per reviewer. Every commit is durable
(SQLite WAL with synchronous=FULL; PostgreSQL's default fsync). The worker runs whole: its
delivery thread posts the check-ins to a local Slack stand-in while the webhooks come in.

Printed per target: events/s, p50 and p99 acknowledgement latency, events lost (sent and
acknowledged but not in the store: must be 0), and the ratio of events/s to the floor.
Targets on this machine: 500 events/s and p99 under 50 ms.

With --label-studio it also starts a private Label Studio and times a reviewer's submits
(POST /api/tasks/{id}/annotations/) without a webhook, with a webhook to a receiver that does
nothing (Label Studio's own cost of sending one), and with the worker's webhook.

Run: .venv/bin/python benchmarks/bench_webhooks.py [--events 3000] [--clients 8] [--rounds 3] [--label-studio]
"""

from __future__ import annotations

import argparse
import http.client
import json
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
REVIEWERS = (11, 12, 13, 14)
PG_BASE = "postgresql://{user}@127.0.0.1:5432/test"


def real_body() -> dict:
    """The captured ANNOTATION_CREATED body from a real Label Studio 1.23.2 (about 6 KB)."""
    from tests.fixtures import real_webhook_bodies

    return real_webhook_bodies()[0]["body"]


def bodies(count: int, project: int = 1) -> list[bytes]:
    """`count` distinct submissions: annotation ids 1..count, tasks spread over the reviewers."""
    template = real_body()
    out = []
    for n in range(count):
        body = json.loads(json.dumps(template))
        body["annotation"].update(id=n + 1, task=n // len(REVIEWERS) + 1, completed_by=REVIEWERS[n % len(REVIEWERS)])
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


def null_app():
    """A receiver that reads the body and answers 200: what any webhook costs Label Studio itself."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def webhook(request):
        await request.body()
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/label-studio/webhook", webhook, methods=["POST"])])


def worker_app(database_url: str):
    """The real worker (store, Bolt app, delivery thread) with Slack and Label Studio stood in."""
    from http.server import ThreadingHTTPServer

    from tests.workers.conftest import FakeLabelStudio, SlackStandIn, _handler
    from workers.service import build_worker
    from workers.settings import settings_from_env
    from workers.slack_delivery import make_slack_client
    from workers.store import Reviewer

    slack = SlackStandIn()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(slack))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    slack.url = f"http://127.0.0.1:{server.server_address[1]}/api/"
    label_studio = FakeLabelStudio(users={r: Reviewer(r, f"r{r}@example.com", f"Reviewer {r}") for r in REVIEWERS})
    slack.users.update({f"r{r}@example.com": f"U{r}" for r in REVIEWERS})
    settings = settings_from_env({
        "LABEL_STUDIO_URL": "http://127.0.0.1:9", "LABEL_STUDIO_API_KEY": "k", "SLACK_BOT_TOKEN": "xoxb-b",
        "SLACK_SIGNING_SECRET": "s", "WEBHOOK_SECRET": SECRET, "DATABASE_URL": database_url,
        "SLACK_API_URL": slack.url, "RECONCILE_SECONDS": "3600",
    })
    app, _ = build_worker(settings, slack_client=make_slack_client("xoxb-b", slack.url), label_studio=label_studio,
                          poll_seconds=0.5)
    return app


def serve(kind: str, target: str, port_queue) -> None:
    """Child process: build the app and serve it on a free port, reported through `port_queue`."""
    import asyncio
    import logging

    import uvicorn

    os.environ.pop("HTTP_PROXY", None)
    os.environ.pop("http_proxy", None)
    # The stood-in Label Studio knows only the benchmark's reviewers; its misses are not news here.
    logging.getLogger("workers").setLevel(logging.ERROR)
    app = {"floor": floor_app, "null": lambda _: null_app(), "worker": worker_app}[kind](target)
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
    from tests.workers.conftest import seen_annotation_ids
    from workers.store import open_store

    store = open_store(target)
    try:
        return len(seen_annotation_ids(store, 1))
    finally:
        store.close()


def run_target(name: str, kind: str, target: str, events: int, clients: int, warmup: int = 200) -> dict:
    context = multiprocessing.get_context("spawn")
    ports = context.Queue()
    process = context.Process(target=serve, args=(kind, target, ports), daemon=True)
    process.start()
    try:
        port = ports.get(timeout=60)
        payloads = bodies(events + warmup)
        drive(port, payloads[:warmup], clients)  # connections, caches and the first pages warm
        wall, latencies, failures = drive(port, payloads[warmup:], clients)
        time.sleep(0.2)
        stored = stored_count(kind, target)
    finally:
        process.terminate()
        process.join(10)
    latencies.sort()
    return {
        "name": name,
        "events": events,
        "events_per_s": events / wall,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "failed": failures,
        "lost": events + warmup - failures - stored,
    }


def postgres_schema() -> tuple[str, str, str]:
    import psycopg

    for user in ("postgres", "root"):
        base = PG_BASE.format(user=user)
        try:
            with psycopg.connect(base, autocommit=True, connect_timeout=5) as connection:
                schema = f"bench_{uuid.uuid4().hex[:10]}"
                connection.execute(f"CREATE SCHEMA {schema}")
                return base, schema, f"{base}?options=-csearch_path%3D{schema}"
        except psycopg.OperationalError:
            continue
    raise SystemExit("PostgreSQL at 127.0.0.1:5432/test is not reachable")


def drop_schema(base: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(base, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA {schema} CASCADE")


def ingestion(events: int, clients: int, rounds: int) -> list[dict]:
    """Every target `rounds` times, interleaved (so load from elsewhere hits all alike); per target
    the round with the median rate is kept."""
    folder = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    base, schema, url = postgres_schema()
    targets = [
        ("floor: bare Starlette + SQLite", "floor", lambda n: str(folder / f"floor{n}.sqlite3")),
        ("worker on SQLite", "worker", lambda n: f"sqlite:///{folder / f'worker{n}.sqlite3'}"),
        ("worker on PostgreSQL", "worker", lambda n: url),
    ]
    runs: dict[str, list[dict]] = {name: [] for name, _, _ in targets}
    try:
        for n in range(rounds):
            for name, kind, target in targets:
                if kind == "worker" and target(n) == url:
                    _reset_schema(base, schema)
                runs[name].append(run_target(name, kind, target(n), events, clients))
    finally:
        drop_schema(base, schema)
    return [sorted(runs[name], key=lambda r: r["events_per_s"])[len(runs[name]) // 2] for name, _, _ in targets]


def _reset_schema(base: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(base, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        connection.execute(f"CREATE SCHEMA {schema}")


def print_ingestion(results: list[dict], clients: int, rounds: int) -> None:
    floor = results[0]["events_per_s"]
    print(f"Webhook ingestion, {results[0]['events']} events per target, {clients} keep-alive clients, durable commits"
          f" (median of {rounds} interleaved rounds)")
    print(f"{'target':<32}{'events/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'lost':>6}{'failed':>8}{'vs floor':>10}")
    for r in results:
        print(f"{r['name']:<32}{r['events_per_s']:>10.0f}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}{r['lost']:>6}"
              f"{r['failed']:>8}{r['events_per_s'] / floor:>9.2f}x")
    for r in results[1:]:
        ok = r["events_per_s"] >= 500 and r["p99_ms"] < 50 and r["lost"] == 0 and r["failed"] == 0
        print(f"  {r['name']}: target 500 events/s, p99 < 50 ms, 0 lost: {'met' if ok else 'NOT MET'}")


# -- the reviewer's submit time in Label Studio -------------------------------------------------------
def submit_times(label_studio_url: str, api_key: str, tasks: list[int], user_id: int) -> list[float]:
    import httpx

    times = []
    with httpx.Client(base_url=label_studio_url, headers={"Authorization": f"Token {api_key}"}, timeout=30) as client:
        for task in tasks:
            body = {"result": [{"from_name": "success", "to_name": "dialogue", "type": "choices",
                                "value": {"choices": ["2"]}}], "completed_by": user_id, "lead_time": 5}
            began = time.perf_counter()
            response = client.post(f"/api/tasks/{task}/annotations/", json=body)
            times.append(time.perf_counter() - began)
            response.raise_for_status()
    return times


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
    context = multiprocessing.get_context("spawn")
    receivers = {}
    for kind, target in (("worker", f"sqlite:///{folder / 'w.sqlite3'}"), ("null", "")):
        ports = context.Queue()
        process = context.Process(target=serve, args=(kind, target, ports), daemon=True)
        process.start()
        receivers[kind] = (process, ports)
    try:
        client = label_studio.connect(server.url, server.api_key)
        attacks = sample_attacks(generate_records(max(1000, 20 * submits), seed=5), per_model=submits, seed=1)
        reviewers = [Reviewer("bench@example.com", "Bench")]
        projects = {"no webhook": setup_project(client, attacks, reviewers, title="bench plain").project_id}
        for kind, label in (("null", "webhook to a do-nothing receiver"), ("worker", "the worker's webhook")):
            port = receivers[kind][1].get(timeout=60)
            projects[label] = setup_project(
                client, attacks, reviewers, title=f"bench {kind}",
                webhook_url=f"http://127.0.0.1:{port}/label-studio/webhook", webhook_secret=SECRET,
            ).project_id
        user = label_studio.users_by_email(client)["bench@example.com"].id
        tasks = {label: [t.id for t in client.tasks.list(project=pid, page_size=1000)][: 2 * submits]
                 for label, pid in projects.items()}
        # Interleave halves so server warm-up and drift hit every side alike.
        times: dict[str, list[float]] = {label: [] for label in projects}
        for half in (slice(0, submits), slice(submits, 2 * submits)):
            for label in projects:
                times[label] += submit_times(server.url, server.api_key, tasks[label][half], user)
    finally:
        for process, _ in receivers.values():
            process.terminate()
            process.join(10)
        local_server.stop_server(folder / "ls")
    medians = {label: statistics.median(values) for label, values in times.items()}
    plain, null = medians["no webhook"], medians["webhook to a do-nothing receiver"]
    print(f"\nReviewer's submit in Label Studio ({2 * submits} submits each, median):")
    for label, value in medians.items():
        print(f"  {label:<34}{1000 * value:>7.1f} ms   {value / plain:.2f}x no webhook   {value / null:.2f}x do-nothing receiver")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="runs per target; the median is reported")
    parser.add_argument("--label-studio", action="store_true", help="also time submits in a real Label Studio")
    parser.add_argument("--submits", type=int, default=40)
    args = parser.parse_args()
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(proxy, None)
    print_ingestion(ingestion(args.events, args.clients, args.rounds), args.clients, args.rounds)
    if args.label_studio:
        label_studio_submits(args.submits)


if __name__ == "__main__":
    main()
