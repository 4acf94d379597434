"""Benchmark: load and validate 38,961 red-team records, then import them into a local Label Studio.

Prints seconds and tasks per second for loading and for the batched import that `setup` does,
and the ratio against one request per task, measured in the same run on a sample of tasks
(one request per task for all 38,961 would take tens of minutes).

Run: .venv/bin/python benchmarks/bench_import.py [--records 38961] [--single 300]
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import time
from pathlib import Path

from review_project import label_studio, local_server
from review_project.demo_data import generate_records, write_records
from review_project.project_setup import project_settings, setup_project
from review_project.records import attack_task_data, load_records
from review_project.shared import Reviewer


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=38_961)
    parser.add_argument("--single", type=int, default=300, help="tasks imported one request each, for the baseline")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source = tmp / "red_team_attempts.jsonl.gz"
        write_records(source, generate_records(args.records, seed=1))
        print(f"dataset: {args.records:,} generated records, {source.stat().st_size / 1e6:.1f} MB gzipped")

        started = time.perf_counter()
        records = load_records(source)
        load_s = time.perf_counter() - started
        print(f"load + validate + parse: {load_s:.2f} s, {len(records) / load_s:,.0f} records/s")

        attacks = [dict(record, attack_id=i) for i, record in enumerate(records)]
        print("starting a local Label Studio ...", flush=True)
        server = local_server.start_server(tmp / "label-studio", port=free_port())
        try:
            client = label_studio.connect(server.url, server.api_key, timeout=600)
            reviewers = [Reviewer(f"bench{i}@example.com", f"Bench {i}") for i in range(4)]

            started = time.perf_counter()
            report = setup_project(client, attacks, reviewers, title="Benchmark batched import")
            batched_s = time.perf_counter() - started
            batched_rate = report.tasks_imported / batched_s
            print(f"setup, batched import (1,000 per request): {report.tasks_imported:,} tasks in {batched_s:.1f} s, {batched_rate:,.0f} tasks/s")

            started = time.perf_counter()
            again = setup_project(client, attacks, reviewers, title="Benchmark batched import")
            rerun_s = time.perf_counter() - started
            print(f"setup again (nothing to import, {again.tasks_already_present:,} present): {rerun_s:.1f} s")

            single = client.projects.create(title="Benchmark one request per task", **project_settings(4, None))
            sample = attacks[: args.single]
            started = time.perf_counter()
            for attack in sample:
                client.projects.import_tasks(id=single.id, request=[{"data": attack_task_data(attack, attack["attack_id"])}])
            single_s = time.perf_counter() - started
            single_rate = len(sample) / single_s
            print(f"baseline, one request per task: {len(sample)} tasks in {single_s:.1f} s, {single_rate:,.0f} tasks/s")
            print(f"ratio: batched import is {batched_rate / single_rate:.1f}x faster per task than one request per task")
            print(f"(one request per task for all {len(attacks):,} would take about {len(attacks) / single_rate / 60:.0f} min)")
        finally:
            local_server.stop_server(tmp / "label-studio")


if __name__ == "__main__":
    main()
