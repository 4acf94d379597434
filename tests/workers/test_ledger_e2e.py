"""The ledger against the real Label Studio 1.23: after ratings, skips, invalid annotations,
updates and deletions, some while the worker was down, `agreement`, `status` and `export` from the
ledger give what they give from Label Studio's full export (the same JSON, numbers to 1e-12).

The worker runs with no Slack settings: it keeps the ledger and sends nothing.
"""

from __future__ import annotations

import json
import math
import os
import time

import pandas as pd
import pytest
from click.testing import CliRunner

from review_project.cli import cli
from review_project.export import read_table
from review_project.manifest import write_manifest
from review_project.sampling import sample_attacks
from tests.conftest import on_a_free_port, success_result, topics_result, wait_until
from tests.workers.conftest import WEBHOOK_SECRET
from tests.workers.test_e2e_label_studio import WorkerProcess
from workers.store import open_store

pytestmark = pytest.mark.label_studio

EMAILS = [f"ledger{i}@example.com" for i in range(1, 5)]


def close(a, b, path="") -> list[str]:
    """Where two JSON values differ, numbers compared to 1e-12."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{path}: keys {sorted(a.keys() ^ b.keys())}"]
        return [d for key in a for d in close(a[key], b[key], f"{path}.{key}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} != {len(b)} items"]
        return [d for n, (x, y) in enumerate(zip(a, b)) for d in close(x, y, f"{path}[{n}]")]
    if isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        return [] if math.isclose(a, b, rel_tol=0, abs_tol=1e-12) else [f"{path}: {a} != {b}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]



def ledger_state(database_url: str, project: int):
    store = open_store(database_url, create=False)
    try:
        return store.ledger.state(project)
    finally:
        store.close()


def test_agreement_status_and_export_from_the_ledger_equal_those_from_the_export(
    label_studio, tmp_path, demo_records, project_title
):
    database_url = f"sqlite:///{tmp_path / 'worker.sqlite3'}"
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and not k.startswith("SLACK_")}
    env.update(LABEL_STUDIO_URL=label_studio.url, LABEL_STUDIO_API_KEY=label_studio.api_key,
               WEBHOOK_SECRET=WEBHOOK_SECRET, DATABASE_URL=database_url, RECONCILE_SECONDS="1")

    def started(port: int) -> WorkerProcess:
        worker = WorkerProcess(env, port, tmp_path / "worker.log")
        worker.start()
        return worker

    worker = on_a_free_port(started)
    attacks = sample_attacks(demo_records, per_model=6, seed=5)
    manifest = tmp_path / "manifest.jsonl"
    write_manifest(manifest, attacks)
    reviewers = tmp_path / "reviewers.csv"
    reviewers.write_text("email,name\n" + "".join(f"{e},Ledger Reviewer\n" for e in EMAILS))
    ids = [label_studio.make_reviewer(email) for email in EMAILS]
    lead = {"LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.api_key}
    setup = CliRunner().invoke(cli, ["setup", "--manifest", manifest, "--reviewers", reviewers, "--title", project_title,
                                     "--webhook-url", f"{worker.url}/label-studio/webhook", "--silent"],
                               env=lead | {"WEBHOOK_SECRET": WEBHOOK_SECRET})
    assert setup.exit_code == 0, setup.output
    admin = label_studio.client()
    project = next(p for p in admin.projects.list() if p.title == project_title)
    tasks = sorted(t.id for t in admin.tasks.list(project=project.id, page_size=100))
    as_reviewer = {rid: label_studio.reviewer_client(email) for rid, email in zip(ids, EMAILS)}

    def rate(task: int, reviewer: int, value: str, topics=("Theft",), skip: bool = False):
        result = [] if skip else [success_result(value), topics_result(*topics)]
        return as_reviewer[reviewer].annotations.create(id=task, result=result, was_cancelled=skip, lead_time=7.5)

    # Live, with the worker listening: ratings, a skip, an invalid 3-topic and an out-of-range one.
    made = {}
    for n, task in enumerate(tasks[:8]):
        for r, reviewer in enumerate(ids):
            made[(task, reviewer)] = rate(task, reviewer, str((n + r) % 5), skip=(n, r) == (2, 3))
    rate(tasks[8], ids[0], "2", topics=("Theft", "Weapons", "Other"))
    rate(tasks[8], ids[1], "9")
    wait_until(lambda: ledger_state(database_url, project.id).sync_done_at is not None, timeout=60, what="the first sync")
    as_reviewer[ids[0]].annotations.update(id=made[(tasks[0], ids[0])].id, result=[success_result("4"), topics_result("Weapons")])
    as_reviewer[ids[2]].annotations.delete(id=made[(tasks[1], ids[2])].id)
    # Label Studio Community lets any member edit anyone's annotation: reviewer 4 edits reviewer 1's.
    as_reviewer[ids[3]].annotations.update(id=made[(tasks[5], ids[0])].id, result=[success_result("1"), topics_result("Other")])
    idle = label_studio.make_reviewer("ledger-idle@example.com")  # a member with no work yet

    # The worker goes down; changes keep coming, and their webhooks are lost.
    worker.stop()
    as_reviewer[ids[1]].annotations.update(id=made[(tasks[3], ids[1])].id, result=[success_result("0"), topics_result("Other")])
    as_reviewer[ids[3]].annotations.delete(id=made[(tasks[4], ids[3])].id)
    for reviewer in ids:
        rate(tasks[9], reviewer, "3")
    rate(tasks[1], ids[2], "1")  # the reviewer whose annotation was deleted rates the task again
    down_until = time.time()
    worker.start()
    wait_until(lambda: (ledger_state(database_url, project.id).last_catch_up_at or 0) > down_until + 1, timeout=60, what="a catch-up")
    worker.stop()
    log = (tmp_path / "worker.log").read_text()
    assert "no Slack settings (SLACK_BOT_TOKEN): keeping the ledger, sending no check-ins" in log

    def run(*args, ledger: bool):
        extra = ["--database-url", database_url] if ledger else ["--from-label-studio"]
        result = CliRunner().invoke(cli, [*map(str, args), "--project", str(project.id), *extra], env=lead)
        assert result.exit_code == 0, result.output
        return result

    from_ledger = run("agreement", "--json", tmp_path / "ledger.json", "--resamples", 500, ledger=True)
    from_export = run("agreement", "--json", tmp_path / "export.json", "--resamples", 500, ledger=False)
    assert from_ledger.stderr.startswith(f"Read the ledger at {database_url}: last webhook ")
    assert from_export.stderr.startswith(f"Read Label Studio's full export of project {project.id}")
    ledger_json, export_json = (json.loads((tmp_path / name).read_text()) for name in ("ledger.json", "export.json"))
    assert close(ledger_json, export_json) == []
    assert ledger_json["annotations"]["invalid"] == 2 and ledger_json["annotations"]["skipped"] == 1
    assert ledger_json["items"]["total"] == len(tasks)
    # The printed summaries too, but for the last line, which names the file written.
    assert from_ledger.stdout.splitlines()[:-1] == from_export.stdout.splitlines()[:-1]

    status = [json.loads(run("status", "--json", ledger=flag).stdout) for flag in (True, False)]
    # Of tasks 1-8 the 3rd has a skip and the 5th lost a rating; the 10th was rated while the worker was down.
    assert status[0] == status[1] and status[0]["fully_reviewed"] == 7
    # Every member is listed, the one with no work yet too; the lead whose key asked is not.
    listed = {r["reviewer_id"]: r for r in status[0]["reviewers"]}
    assert set(listed) >= {*ids, idle} and (listed[idle]["submitted"], listed[idle]["skipped"]) == (0, 0)
    assert label_studio.client().users.whoami().id not in listed

    results = []
    for flag, name in ((True, "results-ledger.json"), (False, "results-export.json")):
        run("results", "--manifest", manifest, "--resamples", 200, "--json", tmp_path / name, ledger=flag)
        results.append(json.loads((tmp_path / name).read_text()))
    # The source's label names the server either way; every other key is the same.
    assert close(results[0], results[1]) == []
    assert results[0]["attacks"] >= 9

    tables = []
    for flag, name in ((True, "ledger.parquet"), (False, "export.parquet")):
        run("export", "-o", tmp_path / name, ledger=flag)
        tables.append(read_table(tmp_path / name).sort_values("annotation_id").reset_index(drop=True))
    pd.testing.assert_frame_equal(tables[0], tables[1])
    assert len(tables[0]) == 4 * 8 + 2 + 4 + 1 - 2  # made, invalid pair, task 10, the re-rating, minus 2 deleted
