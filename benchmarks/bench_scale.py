"""The whole dataset: 38,961 attacks x 4 reviewers = 155,844 annotations in one real Label Studio.

Each lead command is timed as a lead runs it (`review-project ...` in its own process) and printed
as a ratio to Label Studio's own full JSON export, measured in the same run:

| measure                                   | goal                          |
|-------------------------------------------|-------------------------------|
| `status`, from the ledger                 | 0.05x or less                 |
| `agreement --project`, from the ledger    | 0.15x or less, 800 MB or less |
| `export` (no audit copy), from the ledger | 0.3x or less                  |
| `setup`, re-run                           | 0.1x or less                  |
| `status` without a ledger                 | 1.3x or less (800 MB or less) |
| Label Studio's CPU while the worker idles | 10% of a core or less         |
| time to sync the ledger from nothing      | reported                      |

The project is built by benchmarks/scale_project.py (its docstring documents the fast bulk path:
tasks through the import API, annotations through Label Studio's own ORM, about 2 minutes the
first time, seconds after). The worker runs without Slack, keeping the ledger in SQLite.

Run: .venv/bin/python benchmarks/bench_scale.py [--dir FOLDER]    (about 10 minutes; FOLDER is
reused between runs, default .bench-data/scale inside this checkout)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import scale_project  # noqa: E402

WEBHOOK_SECRET = "bench-scale-webhook-secret"
GOALS = {
    "status, from the ledger": 0.05,
    "agreement --project, from the ledger": 0.15,
    "export (no audit copy), from the ledger": 0.30,
    "setup, re-run": 0.10,
    "status without a ledger": 1.30,
}
# Peak memory goals, in MB, for the commands whose memory matters at this size.
MEMORY_GOALS = {
    "agreement --project, from the ledger": 800,
    "agreement --project --manifest, from the ledger": 800,
    "status without a ledger": 800,
}
CPU_GOAL = 0.10


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Runs the CLI and, at exit, writes the process's peak memory (VmHWM) to a file. A child's
# ru_maxrss would count the forked image of this benchmark process too (Linux keeps it across exec).
_PEAK_RUNNER = """
import atexit, sys
report = sys.argv[1]
def peak():
    with open("/proc/self/status") as status, open(report, "w") as out:
        out.write(next(line for line in status if line.startswith("VmHWM")).split()[1])
atexit.register(peak)
sys.argv = ["review-project", *sys.argv[2:]]
from review_project.cli import main
main()
"""


def run_command(args: list[str], env: dict) -> tuple[float, float, str]:
    """Run `review-project ARGS` in its own process: (seconds, its peak memory in MB, stderr)."""
    report = Path(tempfile.mkstemp(prefix="peak-", suffix=".txt")[1])
    began = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", _PEAK_RUNNER, str(report), *args], env=env, cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    seconds = time.perf_counter() - began
    if result.returncode != 0:
        raise SystemExit(f"review-project {' '.join(args)} failed:\n{result.stderr[-2000:]}")
    peak_mb = int(report.read_text()) / 1024  # VmHWM is in kB
    report.unlink()
    return seconds, peak_mb, result.stderr


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its waited-for children, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
    return ticks / os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """The process and every descendant (Label Studio's server may fork workers)."""
    children = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def wait_for_sync(database_url: str, project_id: int, timeout: float = 1800.0) -> None:
    from workers.store import open_store

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            store = open_store(database_url, create=False)
        except Exception:
            time.sleep(1)
            continue
        try:
            if store.ledger.state(project_id).sync_done_at is not None:
                return
        finally:
            store.close()
        time.sleep(1)
    raise SystemExit("the worker's first sync did not finish in time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", default=str(ROOT / ".bench-data" / "scale"), help="folder for the server and the worker's store")
    options = parser.parse_args()
    folder = Path(options.dir).resolve()
    from review_project import label_studio
    from review_project.demo_data import generate_records
    from review_project.manifest import write_manifest

    print("Building or reusing the whole-dataset project (benchmarks/scale_project.py) ...", flush=True)
    project = scale_project.build(folder, on_step=lambda line: print(f"  {line}", flush=True))
    client = label_studio.connect(project.url, project.api_key, timeout=600)
    print(f"  {project.tasks:,} tasks, {project.annotations:,} annotations at {project.url}", flush=True)

    manifest = folder / "manifest.jsonl"
    if not manifest.exists():
        records = generate_records(project.tasks, seed=scale_project.SEED)
        write_manifest(manifest, [{**record, "attack_id": n} for n, record in enumerate(records)])
    reviewers = folder / "reviewers.csv"
    reviewers.write_text("email,name\n" + "".join(f"{r['email']},{r['name']}\n" for r in project.reviewers))
    run_dir = folder / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir()
    database_url = f"sqlite:///{run_dir / 'worker.sqlite3'}"
    base_env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and not k.startswith(("SLACK_", "DATABASE_URL"))}
    lead = base_env | {"LABEL_STUDIO_URL": project.url, "LABEL_STUDIO_API_KEY": project.api_key}
    with_ledger = lead | {"DATABASE_URL": database_url}
    results: dict[str, dict] = {}
    exports = Path(project.folder) / scale_project.SERVER_DIR / "export"

    def clear_server_exports() -> None:
        # Every export request leaves a 215 MB copy in the server's data folder.
        for leftover in exports.glob("*") if exports.is_dir() else []:
            leftover.unlink(missing_ok=True)

    print("Label Studio's own full JSON export (the baseline) ...", flush=True)
    began = time.perf_counter()
    size = label_studio.download_export(client, project.project_id, run_dir / "export.json")
    baseline = time.perf_counter() - began
    (run_dir / "export.json").unlink()
    clear_server_exports()
    print(f"  {baseline:.1f} s, {size / 1e6:.0f} MB", flush=True)

    print("status without a ledger (the streamed export) ...", flush=True)
    seconds, memory, _ = run_command(["status", "--project", str(project.project_id), "--json", "--silent"], lead)
    results["status without a ledger"] = {"seconds": seconds, "memory_mb": memory}
    clear_server_exports()

    port = free_port()
    worker_env = base_env | {
        "LABEL_STUDIO_URL": project.url, "LABEL_STUDIO_API_KEY": project.api_key, "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "DATABASE_URL": database_url, "RECONCILE_SECONDS": "60",
    }
    print("setup --webhook-url (registers the worker's webhook; lists the tasks by their meta) ...", flush=True)
    seconds, _, _ = run_command(
        ["setup", "--manifest", str(manifest), "--reviewers", str(reviewers), "--title", scale_project.TITLE,
         "--webhook-url", f"http://127.0.0.1:{port}/label-studio/webhook", "--silent"],
        lead | {"WEBHOOK_SECRET": WEBHOOK_SECRET},
    )
    results["setup without a ledger (listing by meta)"] = {"seconds": seconds}

    print("starting the worker (no Slack) and timing its first sync ...", flush=True)
    log = open(run_dir / "worker.log", "wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "review_project.cli", "worker", "--port", str(port)],
        env=worker_env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        began = time.perf_counter()
        wait_for_sync(database_url, project.project_id)
        results["time to sync the ledger from nothing"] = {"seconds": time.perf_counter() - began}

        for name, args, env in (
            ("setup, re-run", ["setup", "--manifest", str(manifest), "--reviewers", str(reviewers), "--title",
                               scale_project.TITLE, "--silent"], with_ledger),
            ("status, from the ledger", ["status", "--project", str(project.project_id), "--json"], with_ledger),
            ("agreement --project, from the ledger",
             ["agreement", "--project", str(project.project_id), "--json", str(run_dir / "agreement.json")], with_ledger),
            ("agreement --project --manifest, from the ledger",
             ["agreement", "--project", str(project.project_id), "--manifest", str(manifest),
              "--json", str(run_dir / "agreement-manifest.json")], with_ledger),
            ("export (no audit copy), from the ledger",
             ["export", "--project", str(project.project_id), "-o", str(run_dir / "annotations.parquet")], with_ledger),
        ):
            print(f"{name} ...", flush=True)
            seconds, memory, stderr = run_command(args, env)
            results[name] = {"seconds": seconds, "memory_mb": memory}
            if "from the ledger" in name and "Read the ledger" not in stderr:
                raise SystemExit(f"{name} did not read the ledger:\n{stderr[-1000:]}")

        print("Label Studio's CPU while the worker idles (two catch-up passes, 120 s) ...", flush=True)
        server_pid = int((Path(project.folder) / scale_project.SERVER_DIR / "server.pid").read_text())
        before = sum(cpu_seconds(pid) for pid in process_tree(server_pid))
        time.sleep(120)
        after = sum(cpu_seconds(pid) for pid in process_tree(server_pid))
        results["Label Studio's CPU while the worker idles"] = {"share_of_a_core": (after - before) / 120}
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
        log.close()

    print()
    print(f"Label Studio's full JSON export: {baseline:.1f} s ({size / 1e6:.0f} MB), the baseline")
    print(f"{'measure':<48}{'seconds':>9}{'ratio':>8}{'goal':>8}{'MB':>7}  ok")
    ok = True
    for name, found in results.items():
        if "seconds" not in found:
            continue
        ratio = found["seconds"] / baseline
        goal = GOALS.get(name)
        memory = found.get("memory_mb")
        memory_goal = MEMORY_GOALS.get(name)
        passed = (goal is None or ratio <= goal) and (memory_goal is None or memory <= memory_goal)
        ok &= passed
        goal_text = f"{goal:.2f}x" if goal else "-"
        memory_text = f"{memory:.0f}" if memory is not None else "-"
        print(f"{name:<48}{found['seconds']:>9.1f}{ratio:>7.3f}x{goal_text:>8}{memory_text:>7}  {'yes' if passed else 'NO'}")
    share = results["Label Studio's CPU while the worker idles"]["share_of_a_core"]
    ok &= share <= CPU_GOAL
    print(f"{'Label Studio CPU while the worker idles':<48}{share * 100:>8.2f}% of a core (goal {CPU_GOAL:.0%})  {'yes' if share <= CPU_GOAL else 'NO'}")
    (folder / "bench_scale.json").write_text(json.dumps({"baseline_seconds": baseline, "export_mb": size / 1e6, "results": results}, indent=2))
    print(f"\nAll goals met: {'yes' if ok else 'NO'} (results in {folder / 'bench_scale.json'})")


if __name__ == "__main__":
    main()
