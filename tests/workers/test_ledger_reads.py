"""The lead's reads of the ledger on SQLite and the real PostgreSQL: `status` counted in SQL gives
what progress.review_progress counts on the same annotations (the latest rule included), the table
read column-wise is the one the row-wise read gave, and the project facts the lead's commands
remember let `status` run without asking Label Studio at all."""

from __future__ import annotations

import json
import time

import pandas as pd
import pytest
from click.testing import CliRunner

from review_project.cli import cli
from review_project.export import tables_from_rows
from review_project.live_project import ProjectFacts, project_status
from review_project.progress import review_progress
from review_project.shared import ANNOTATION_CREATED
from tests.workers.test_ledger import rated, webhook
from workers.store.ledger_reads import StoreLedger

USERS = {7: "ada@example.com", 8: "bo@example.com", 9: "cy@example.com", 10: "new@example.com", 1: "lead@example.com"}


def fill(store) -> None:
    """Tasks 1-6 of project 1: complete, partial, skipped, repeated annotations; task 6 untouched."""
    def at(second: str) -> dict:
        return {"updated_at": f"2026-11-28T04:00:{second}", "created_at": "2026-11-28T03:00:00Z"}

    anns = [
        rated(1, 1, 7, "3", **at("01Z")), rated(1, 1, 8, "4", **at("02Z")), rated(1, 1, 9, "2", **at("03Z")),
        rated(1, 2, 7, "1", **at("04Z")), rated(1, 2, 8, skipped=True, **at("05Z")),
        rated(1, 3, 9, skipped=True, **at("06Z")),
        # Reviewer 7 annotates task 4 twice: the skip at 05.5 s is later than the rating at 05 s,
        # though its text sorts first ('.' < 'Z'); the latest rule reads times, not text.
        rated(1, 4, 7, "2", **at("05Z")), rated(1, 4, 7, skipped=True, **at("05.500000Z")),
        # Reviewer 8 annotates task 5 twice with no updated_at: created_at decides, then the id.
        rated(1, 5, 8, "2", updated_at=None, created_at="2026-11-28T02:00:00Z"),
        rated(1, 5, 8, skipped=True, updated_at=None, created_at="2026-11-28T01:00:00Z"),
        # ... and reviewer 9 twice at the same moment: the greater id is the latest.
        rated(1, 5, 9, skipped=True, **at("07Z")), rated(1, 5, 9, "0", **at("07Z")),
        # Another project's annotation never counts here.
        rated(2, 1, 7, "4"),
    ]
    store.events.record_events([webhook(ANNOTATION_CREATED, a, project=a["project"]) for a in anns], 10)
    store.ledger.note_tasks(1, [(task, 100 + task) for task in range(1, 7)])
    store.ledger.note(1, sync_done_at=11.0)


class NoLabelStudio:
    """A client that fails the test if anything asks Label Studio."""

    def get(self):
        raise AssertionError("Label Studio was asked")


@pytest.mark.parametrize("per_task", [2, 3])
def test_status_counted_in_sql_is_what_the_table_gives(store, per_task):
    fill(store)
    ledger = StoreLedger(store, "test")
    facts = ProjectFacts(1, "Review", per_task, USERS, lead=1, learned_at=9e12)
    ledger.remember(facts)
    from_sql = project_status(NoLabelStudio(), 1, ledger=ledger)
    table = ledger.read(1).tables
    from_table = review_progress(
        len(table.tasks), table.annotations.assign(reviewer_email=table.annotations["reviewer_id"].map(USERS)),
        per_task, facts.members(),
    )
    assert from_sql.progress.as_dict() == from_table.as_dict()
    people = {p["email"]: p for p in from_sql.progress.as_dict()["reviewers"]}
    assert (people["ada@example.com"]["submitted"], people["ada@example.com"]["skipped"]) == (2, 1)
    assert (people["bo@example.com"]["submitted"], people["bo@example.com"]["skipped"]) == (2, 1)
    assert (people["cy@example.com"]["submitted"], people["cy@example.com"]["skipped"]) == (2, 1)
    # Every member but the lead is listed, a reviewer with no work yet too.
    assert people["new@example.com"] == {"reviewer_id": 10, "email": "new@example.com", "submitted": 0, "skipped": 0, "last_activity": None}
    assert "lead@example.com" not in people
    assert from_sql.progress.untouched == 1 and from_sql.progress.tasks == 6
    assert from_sql.title == "Review" and from_sql.note.startswith("Read the ledger at test")


def test_the_table_read_column_wise_is_the_one_read_row_wise(store):
    fill(store)
    rows = store.ledger.read(1)
    row_wise = tables_from_rows(rows.annotations, rows.tasks)
    column_wise = StoreLedger(store, "test").read(1).tables
    pd.testing.assert_frame_equal(column_wise.annotations, row_wise.annotations)
    pd.testing.assert_frame_equal(column_wise.tasks, row_wise.tasks)
    empty = StoreLedger(store, "test").read(3).tables
    assert list(empty.annotations.columns) == list(row_wise.annotations.columns) and len(empty.annotations) == 0


def test_project_facts_are_found_by_id_or_title_and_a_shared_title_finds_none(store):
    ledger = StoreLedger(store, "test")
    assert ledger.known_project(1) is None and ledger.known_project("Review") is None
    ledger.remember(ProjectFacts(1, "Review", 4, {7: "ada@example.com"}, lead=1, learned_at=123.0))
    assert ledger.known_project("1") == ledger.known_project("Review") == ProjectFacts(1, "Review", 4, {7: "ada@example.com"}, 1, 123.0)
    ledger.remember(ProjectFacts(2, "Review", 4, {}, lead=1, learned_at=124.0))
    assert ledger.known_project("Review") is None  # two projects now share it: Label Studio must say which


def test_status_from_a_ledger_that_knows_the_project_never_calls_label_studio(tmp_path, new_sqlite_store):
    from tests.workers.conftest import copy_new_sqlite_store
    from workers.store import open_store

    path = tmp_path / "worker.sqlite3"
    copy_new_sqlite_store(new_sqlite_store, path)
    store = open_store(f"sqlite:///{path}")
    try:
        fill(store)
        StoreLedger(store, "test").remember(ProjectFacts(1, "Review", 3, USERS, lead=1, learned_at=time.time()))
    finally:
        store.close()
    # Port 9 (discard) answers nothing: any call to Label Studio would fail the command.
    env = {"LABEL_STUDIO_URL": "http://127.0.0.1:9", "LABEL_STUDIO_API_KEY": "unused", "DATABASE_URL": f"sqlite:///{path}"}
    for project in ("1", "Review"):
        result = CliRunner().invoke(cli, ["status", "--project", project, "--json"], env=env)
        assert result.exit_code == 0, result.output
        status = json.loads(result.stdout)
        assert (status["tasks"], status["fully_reviewed"], status["untouched"]) == (6, 1, 1)
        assert [r["email"] for r in status["reviewers"]] == sorted(e for u, e in USERS.items() if u != 1)
