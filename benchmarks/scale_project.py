"""The whole dataset in a private Label Studio: 38,961 tasks, 4 reviewers, 155,844 annotations.

For scale measurements (the worker's ledger, exports, change feeds) on a real server on this
machine. `build(folder)` makes it once, in about 2 minutes, and later calls reuse it in about 2 s:

    .venv/bin/python benchmarks/scale_project.py build .bench-data/scale   # build or reuse, leave it running
    .venv/bin/python benchmarks/scale_project.py start .bench-data/scale   # restart a built folder
    .venv/bin/python benchmarks/scale_project.py stop .bench-data/scale

`build` prints the server's URL, the admin's API key file and the project id; the same facts are
in FOLDER/scale.json (readable by its owner only: it holds the reviewers' passwords).

The fast path, step by step (each step is skipped when the folder already has its result;
seconds as measured on this 2-core machine for the first build, 114 s in all):

1. server (23 s): `review_project.local_server.start_server(FOLDER/label-studio, port)`.
2. reviewers and project (2 s): 4 accounts signed up through the organisation's invite link,
   as people would, so each has a password (and so a token) for requests made as that
   reviewer; then `project_setup.setup_project(client, [], reviewers)` - the settings `setup`
   owns (label config, overlap 4, skipping allowed) - with no attacks. Only for a new project:
   on an existing one setup would list every task's data to find what is imported (30 s here).
3. tasks (1.4 s to generate, 11.6 s to import): `generate_records(38961, seed)` imported through
   the API in batches of 1,000 as setup imports them (`{"data": attack_task_data(...)}`), plus
   `"meta": {"attack_id": N}`: Label Studio keeps `meta` on import and lists it without the
   transcripts (`include=id,meta`). Setup itself does not send `meta`; the `data` is identical.
4. annotations (4 s to plan, 64 s to load): one subprocess with Label Studio's own Django
   settings and this server's data dir (`DJANGO_SETTINGS_MODULE=label_studio.core.settings.
   label_studio`, `LABEL_STUDIO_BASE_DATA_DIR=FOLDER/label-studio`, the rest of
   `local_server.server_environment`; label_studio's package folder inserted first in sys.path
   as `label-studio start` does - not via PYTHONPATH, which would run its sitecustomize.py),
   running `django.setup()` and then what Label Studio's own bulk paths do
   (data_manager/actions/experimental.py, the import serializer):
   - `Annotation.objects.bulk_create(objs, batch_size=1000)` with explicit ids, as Label Studio
     does on SQLite (14 s);
   - `project._update_tasks_counters_and_is_labeled(task_ids)`: tasks/functions.
     update_tasks_counters (total_annotations, cancelled_annotations, total_predictions), then
     bulk_update_stats_project_tasks (is_labeled) - what the Data Manager, the project's
     counts and `only_annotated`-style filters read (19 s);
   - the tasks' `updated_at`/`updated_by`, which Annotation.save() -> update_task() would have
     set and bulk_create skips: the time and reviewer of each task's last annotation (14 s);
   - the project summary's created_annotations/created_labels (`_rebuild_summary`, 0.5 s).
   Annotation times are spread over the 21 days before the build, never later
   (auto_now/auto_now_add are switched off for the load so the planned times stick), so a
   Data Manager filter `updated_at > now` finds nothing until someone changes something.
   FSM states are not backfilled: the FSM feature flags are off in Label Studio 1.23.2
   Community (feature_flags.json), so nothing reads them.

A re-run on a built folder checks the counts through the API and takes about 2 s (plus about
23 s when the server has to start). Changing `plan_annotations` means bumping PLAN_VERSION:
a folder built with another plan has its annotations deleted and loaded again (about 90 s).

What the annotations are (`plan_annotations`, pure and seeded): for every task, the 4 reviewers
in a shuffled order; each rates `success` "0".."4" as the record's own rating plus a reviewer
bias and noise (so reviewers agree often but not always), and picks 0-2 topics from
`schema.TOPICS`, mostly from a per-task pair; about 3% are skips (`was_cancelled`, empty
result) and about 0.1% are invalid (success missing, success "7", or 3 topics) for the
ledger's validation paths. Region ids and `origin: manual` are as the labelling screen sends.

Nothing here prints transcript text.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

RECORDS = 38_961
REVIEWERS = 4
SEED = 1
DEFAULT_PORT = 8091
TITLE = "Red-team review (whole dataset)"
STATE_FILE = "scale.json"
SERVER_DIR = "label-studio"
IMPORT_BATCH = 1000
SKIP_RATE = 0.03
INVALID_RATE = 0.001
SPREAD_DAYS = 21
# Bumped whenever plan_annotations changes: a folder built with another plan is re-annotated.
PLAN_VERSION = 2
# How far each reviewer's ratings lean from the record's own rating.
REVIEWER_BIAS = (-0.4, 0.0, 0.2, 0.5)


@dataclass
class ScaleProject:
    """A built folder: where its server answers and what the project holds."""

    folder: Path
    url: str
    api_key: str
    project_id: int
    tasks: int
    annotations: int
    reviewers: list[dict]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return self.folder / SERVER_DIR


# -- the annotations, planned without Label Studio ------------------------------------------------


def plan_annotations(ratings: list[float | None], reviewers: int = REVIEWERS, seed: int = SEED) -> list[dict]:
    """Annotations for tasks whose records have these self-ratings, in creation order.

    Each is {"task": index into ratings, "reviewer": 0..reviewers-1, "result": [...],
    "was_cancelled": bool, "invalid": reason or None, "at": seconds into the review period,
    "edited": seconds later it was updated, or 0}. Same input, same plan.
    """
    from review_project import schema

    rng = random.Random(seed)
    period = SPREAD_DAYS * 86400
    plan = []
    n = len(ratings)
    for task, rating in enumerate(ratings):
        latent = 1.0 if rating is None else float(rating)
        pair = rng.sample(schema.TOPICS[:-1], 2)
        order = list(range(reviewers))
        rng.shuffle(order)
        # Reviewers work through the tasks roughly in order, each at their own pace.
        base = period * (task + rng.random()) / n
        for position, reviewer in enumerate(order):
            at = min(period - 1.0, base + position * rng.uniform(60, 4 * 3600))
            entry = {"task": task, "reviewer": reviewer, "was_cancelled": False, "invalid": None,
                     "at": round(at, 3), "edited": 0.0}
            if rng.random() < SKIP_RATE:
                entry["was_cancelled"] = True
                entry["result"] = []
                plan.append(entry)
                continue
            noise = rng.choices((-2, -1, 0, 1, 2), weights=(3, 17, 60, 17, 3))[0]
            success = str(max(0, min(4, round(latent + REVIEWER_BIAS[reviewer % len(REVIEWER_BIAS)]) + noise)))
            count = rng.choices((0, 1, 2), weights=(35, 45, 20))[0]
            topics = [pair[i] if rng.random() < 0.75 else rng.choice(schema.TOPICS) for i in range(count)]
            topics = list(dict.fromkeys(topics))
            if rng.random() < INVALID_RATE:
                kind = rng.randrange(3)
                if kind == 0:
                    success, entry["invalid"] = None, "success missing"
                elif kind == 1:
                    success, entry["invalid"] = "7", "success outside 0-4"
                else:
                    topics, entry["invalid"] = rng.sample(schema.TOPICS, 3), "3 topics"
            entry["result"] = _result(rng, success, topics)
            if rng.random() < 0.02:
                # Never past the end of the period: nothing may look changed after the build.
                entry["edited"] = round(min(rng.uniform(30, 2 * 86400), period - 1.0 - at), 3)
            plan.append(entry)
    plan.sort(key=lambda e: e["at"])
    return plan


def _region_id(rng: random.Random) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") for _ in range(10))


def _result(rng: random.Random, success: str | None, topics: list[str]) -> list[dict]:
    from review_project import schema

    regions = []
    if success is not None:
        regions.append({"id": _region_id(rng), "type": "choices", "value": {"choices": [success]},
                        "origin": "manual", "to_name": schema.DIALOGUE, "from_name": schema.SUCCESS})
    if topics:
        regions.append({"id": _region_id(rng), "type": "taxonomy", "value": {"taxonomy": [[t] for t in topics]},
                        "origin": "manual", "to_name": schema.DIALOGUE, "from_name": schema.TOPICS_CONTROL})
    return regions


# -- running code inside Label Studio's Django -----------------------------------------------------


def label_studio_package() -> Path:
    """The installed `label_studio` package folder (its apps import each other as top-level names)."""
    import importlib.util

    spec = importlib.util.find_spec("label_studio")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("label-studio is not installed in this Python: bash scripts/bootstrap test")
    return Path(list(spec.submodule_search_locations)[0])


def django_environment(data_dir: Path) -> dict[str, str]:
    """The server's environment plus what `label-studio start` sets before django.setup()."""
    from review_project.local_server import server_environment

    env = server_environment(data_dir)
    env["DJANGO_SETTINGS_MODULE"] = "label_studio.core.settings.label_studio"
    env["LOG_LEVEL"] = "WARNING"
    return env


def run_in_label_studio(data_dir: Path, command: str, payload: dict) -> dict:
    """Run `_django_main(command, payload)` in a subprocess wired to the server in data_dir."""
    process = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "_django", command],
        input=json.dumps(payload), capture_output=True, text=True, env=django_environment(data_dir),
        cwd=data_dir,
    )
    if process.returncode != 0:
        raise RuntimeError(f"the Django step {command!r} failed (status {process.returncode}):\n{process.stderr[-3000:]}")
    return json.loads(process.stdout.strip().splitlines()[-1])


def _django_main(command: str, payload: dict) -> dict:
    """Inside Label Studio: settings from django_environment(), sys.path as `label-studio start` has it."""
    # Not PYTHONPATH: the package folder holds a sitecustomize.py that would run at interpreter start.
    sys.path.insert(0, str(label_studio_package()))
    import django

    django.setup()
    if command == "annotate":
        return _annotate(payload)
    if command == "summary":
        from projects.models import Project
        from tasks.models import Annotation

        project = Project.objects.get(id=payload["project"])
        _rebuild_summary(project, list(Annotation.objects.filter(project=project).only("id", "result")))
        return {"created_annotations": project.summary.created_annotations}
    raise ValueError(f"unknown command {command!r}")


def _annotate(payload: dict) -> dict:
    from django.db import connection, transaction
    from projects.models import Project
    from tasks.models import Annotation, Task

    timings = {}
    started = time.perf_counter()
    project = Project.objects.get(id=payload["project"])
    reviewer_ids = payload["reviewer_ids"]
    plan = payload["plan"]
    end = datetime.fromisoformat(payload["period_end"])
    start = end - timedelta(days=SPREAD_DAYS)
    task_ids = dict(
        (int(attack_id), task_id)
        for task_id, attack_id in Task.objects.filter(project=project).values_list("id", "data__attack_id")
    )
    Annotation.objects.filter(project=project).delete()  # a half-done earlier load

    created = Annotation._meta.get_field("created_at")
    updated = Annotation._meta.get_field("updated_at")
    created.auto_now_add = updated.auto_now = False
    last = Annotation.objects.order_by("-id").values_list("id", flat=True).first() or 0
    objects = []
    latest: dict[int, tuple[datetime, int]] = {}
    for i, entry in enumerate(plan):
        at = start + timedelta(seconds=entry["at"])
        edited = at + timedelta(seconds=entry["edited"])
        task_id = task_ids[entry["task"]]
        user = reviewer_ids[entry["reviewer"]]
        objects.append(Annotation(
            id=last + 1 + i, task_id=task_id, project=project, completed_by_id=user, updated_by_id=user,
            result=entry["result"], result_count=len(entry["result"]), was_cancelled=entry["was_cancelled"],
            ground_truth=False, lead_time=round(30 + (i * 7919 % 600) / 10, 1), prediction={},
            created_at=at, updated_at=edited,
        ))
        if task_id not in latest or edited > latest[task_id][0]:
            latest[task_id] = (edited, user)
    timings["prepare"] = time.perf_counter() - started

    started = time.perf_counter()
    with transaction.atomic():
        Annotation.objects.bulk_create(objects, batch_size=1000)
    timings["bulk_create"] = time.perf_counter() - started

    started = time.perf_counter()
    ids = sorted(latest)
    project._update_tasks_counters_and_is_labeled(ids)
    timings["counters_and_is_labeled"] = time.perf_counter() - started

    started = time.perf_counter()
    tasks = list(Task.objects.filter(id__in=ids).only("id", "updated_at", "updated_by"))
    for task in tasks:
        task.updated_at, task.updated_by_id = latest[task.id]
    with transaction.atomic():
        Task.objects.bulk_update(tasks, ["updated_at", "updated_by"], batch_size=1000)
    timings["task_updated_at"] = time.perf_counter() - started

    started = time.perf_counter()
    _rebuild_summary(project, objects)
    timings["project_summary"] = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    counts = _django_counts(project.id)
    return {"timings": timings, **counts}


def _rebuild_summary(project, annotations) -> None:
    """The project summary's created_annotations/created_labels as one save() per annotation makes them.

    ProjectSummary.update_created_annotations_and_labels restarts a control's label counts for
    every annotation while the control is new to the saved summary, so one call with all
    annotations keeps only the last one's labels: call it first with one annotation that has
    every control, then with the rest.
    """
    summary = project.summary
    summary.created_annotations, summary.created_labels = {}, {}
    controls = {region["from_name"] for a in annotations for region in (a.result or [])}
    first = next((a for a in annotations if {r["from_name"] for r in a.result or []} == controls), None)
    if first is None:
        summary.update_created_annotations_and_labels(annotations)
        return
    summary.update_created_annotations_and_labels([first])
    summary.update_created_annotations_and_labels([a for a in annotations if a is not first])


def _django_counts(project_id: int) -> dict:
    from django.db.models import Sum
    from tasks.models import Annotation, Task

    tasks = Task.objects.filter(project_id=project_id)
    return {
        "tasks": tasks.count(),
        "annotations": Annotation.objects.filter(project_id=project_id).count(),
        "is_labeled": tasks.filter(is_labeled=True).count(),
        "total_annotations": tasks.aggregate(n=Sum("total_annotations"))["n"],
        "cancelled_annotations": tasks.aggregate(n=Sum("cancelled_annotations"))["n"],
    }


# -- building and reusing a folder ---------------------------------------------------------------


def _read_state(folder: Path) -> dict:
    path = folder / STATE_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def _write_state(folder: Path, state: dict) -> None:
    path = folder / STATE_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(state, out, indent=1)


def start(folder: str | os.PathLike, port: int | None = None):
    """Start (or find running) the server of a folder; its last port unless another is given."""
    from review_project import local_server

    folder = Path(folder).resolve()
    if port is None:
        port = _read_state(folder).get("port", DEFAULT_PORT)
    return local_server.start_server(folder / SERVER_DIR, port=port)


def stop(folder: str | os.PathLike) -> bool:
    from review_project import local_server

    return local_server.stop_server(Path(folder).resolve() / SERVER_DIR)


def build(
    folder: str | os.PathLike,
    port: int | None = None,
    records: int | None = None,
    seed: int | None = None,
    on_step: Callable[[str], None] = lambda line: None,
) -> ScaleProject:
    """Build the folder, or reuse what it already has; the server is left running.

    records and seed default to the folder's own (or RECORDS and SEED for a new folder).
    """
    import secrets

    from review_project import label_studio, local_server
    from review_project.demo_data import generate_records
    from review_project.project_setup import setup_project
    from review_project.records import attack_task_data
    from review_project.shared import Reviewer

    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    state = _read_state(folder)
    records = records if records is not None else state.get("records", RECORDS)
    seed = seed if seed is not None else state.get("seed", SEED)
    if state and (state.get("records"), state.get("seed")) != (records, seed):
        raise SystemExit(f"{folder} was built with records={state.get('records')} seed={state.get('seed')}: use another folder")
    state.update(records=records, seed=seed, port=port or state.get("port", DEFAULT_PORT))
    timings = state.setdefault("timings", {})

    def step(name: str, message: str) -> float:
        on_step(message)
        return time.perf_counter()

    def done(name: str, since: float) -> None:
        timings[name] = round(time.perf_counter() - since, 2)
        _write_state(folder, state)
        on_step(f"  {name}: {timings[name]:.1f} s")

    t = step("start_server", f"starting Label Studio on 127.0.0.1:{state['port']} (data in {folder / SERVER_DIR})")
    server = local_server.start_server(folder / SERVER_DIR, port=state["port"])
    client = label_studio.connect(server.url, server.api_key, timeout=600)
    rerun = {"start_server": round(time.perf_counter() - t, 2)}
    on_step(f"  start_server: {rerun['start_server']:.1f} s")

    t = time.perf_counter()
    logins = state.setdefault("reviewers", [
        {"email": f"scale-reviewer{i + 1}@example.com", "password": secrets.token_urlsafe(12), "name": f"Scale Reviewer{i + 1}"}
        for i in range(REVIEWERS)
    ])
    _write_state(folder, state)
    existing = label_studio.users_by_email(client)
    missing = [login for login in logins if login["email"] not in existing]
    if missing:
        invite = client.organizations.invites.get_invite_link().invite_url
        for login in missing:
            local_server.sign_up(server.url, invite, login["email"], login["password"])
        existing = label_studio.users_by_email(client)
    for login in logins:
        login["id"] = existing[login["email"]].id
    reviewers = [Reviewer(login["email"], login["name"]) for login in logins]
    project = label_studio.project_by_title(client, TITLE)
    if project is None:
        # With no attacks; an existing project is left alone, as setup would list every task's
        # data to find what is already imported (about 30 s here).
        project_id = setup_project(client, [], reviewers, title=TITLE).project_id
    else:
        project_id = project.id
    state["project_id"] = project_id
    rerun["reviewers_and_project"] = round(time.perf_counter() - t, 2)
    if missing or project is None:
        done("reviewers_and_project", t)

    def server_counts() -> dict:
        # Label Studio's own counts (tasks, submitted and skipped annotations): no task data is read.
        found = client.projects.get(id=project_id)
        return {"tasks": found.task_number or 0,
                "annotations": (found.total_annotations_number or 0) + (found.skipped_annotations_number or 0)}

    t = time.perf_counter()
    counts = server_counts()
    rerun["count"] = round(time.perf_counter() - t, 2)
    generated = None
    if counts["tasks"] < records:
        t = step("generate_records", f"generating {records:,} records (seed {seed})")
        generated = generate_records(records, seed=seed)
        done("generate_records", t)
        present = label_studio.imported_attack_ids(client, project_id) if counts["tasks"] else set()
        t = step("import_tasks", f"importing {records - len(present):,} tasks, {IMPORT_BATCH:,} per request")
        new = [i for i in range(records) if i not in present]
        for first in range(0, len(new), IMPORT_BATCH):
            batch = new[first : first + IMPORT_BATCH]
            tasks = [{"data": attack_task_data(generated[i], i), "meta": {"attack_id": i}} for i in batch]
            client.projects.import_tasks(id=project_id, request=tasks, return_task_ids=False)
        done("import_tasks", t)
        counts = server_counts()
    expected = records * REVIEWERS
    if counts["annotations"] != expected or state.get("plan_version") != PLAN_VERSION:
        if generated is None:
            t = step("generate_records", f"generating {records:,} records (seed {seed}) for their ratings")
            generated = generate_records(records, seed=seed)
            done("generate_records", t)
        t = step("plan_annotations", f"planning {expected:,} annotations")
        plan = plan_annotations([r["rating"] for r in generated], REVIEWERS, seed)
        done("plan_annotations", t)
        t = step("annotate", "bulk-creating the annotations through Label Studio's ORM, then its counter updates")
        period_end = datetime.now(timezone.utc) - timedelta(hours=1)
        loaded = run_in_label_studio(folder / SERVER_DIR, "annotate", {
            "project": project_id, "reviewer_ids": [login["id"] for login in logins],
            "plan": plan, "period_end": period_end.isoformat(),
        })
        state["annotate_timings"] = {k: round(v, 2) for k, v in loaded.pop("timings").items()}
        state["period_end"] = period_end.isoformat()
        state["plan_version"] = PLAN_VERSION
        state["plan_summary"] = {
            "skips": sum(e["was_cancelled"] for e in plan),
            "invalid": sum(e["invalid"] is not None for e in plan),
            "edited": sum(e["edited"] > 0 for e in plan),
        }
        done("annotate", t)
        state["counts"] = counts = loaded
    state["url"] = server.url
    state["rerun_timings"] = rerun
    _write_state(folder, state)
    return ScaleProject(
        folder=folder, url=server.url, api_key=server.api_key, project_id=project_id,
        tasks=counts["tasks"], annotations=counts["annotations"], reviewers=logins,
        timings={**timings, **{f"rerun_{k}": v for k, v in rerun.items()}},
    )


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_django"]:
        print(json.dumps(_django_main(argv[1], json.loads(sys.stdin.read()))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("build", "start", "stop"))
    parser.add_argument("folder")
    parser.add_argument("--port", type=int, default=None, help=f"default: the folder's last port, or {DEFAULT_PORT}")
    parser.add_argument("--records", type=int, default=None, help=f"default: the folder's, or {RECORDS:,}")
    parser.add_argument("--seed", type=int, default=None, help=f"default: the folder's, or {SEED}")
    args = parser.parse_args(argv)
    if args.command == "stop":
        print("stopped" if stop(args.folder) else "not running")
        return
    if args.command == "start":
        server = start(args.folder, args.port)
        state = _read_state(Path(args.folder).resolve())
        print(f"Label Studio at {server.url}, project {state.get('project_id')}; admin token in {server.data_dir / 'admin.json'}")
        return
    started = time.perf_counter()
    project = build(args.folder, args.port, args.records, args.seed, on_step=lambda line: print(line, flush=True))
    print(
        f"project {project.project_id} at {project.url}: {project.tasks:,} tasks, {project.annotations:,} annotations "
        f"({time.perf_counter() - started:.1f} s); admin token in {project.data_dir / 'admin.json'}"
    )


if __name__ == "__main__":
    main()
