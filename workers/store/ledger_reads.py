"""The lead's reads of the ledger (workers/store/ledger.py keeps it): `status`'s counts in SQL,
the annotation table read column-wise, and the project facts the lead's commands remember.

`StoreLedger` is what `workers.open_ledger` gives the lead's commands (live_project.Ledger).
At the whole dataset's size (155,844 annotations) `status` reads a few aggregates and no row,
and the table is built a column at a time, never as a list of row tuples of its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from workers.store.ledger import ProjectState, Run, project_state


def known_project(run: Run, project: str | int) -> ProjectState | None:
    """The project with this id, or the one project whose remembered title this is; None when
    the ledger has no facts of it (remember_facts) or two projects share the title."""
    if isinstance(project, int) or str(project).isdigit():
        state = project_state(run, int(project))
        return state if state.facts_at is not None else None
    rows = run(
        "SELECT project FROM ledger_projects WHERE title = $1 AND facts_at IS NOT NULL AND gone_at IS NULL", (str(project),)
    ).fetchall()
    return project_state(run, rows[0][0]) if len(rows) == 1 else None


@dataclass(frozen=True)
class ReviewCounts:
    """What `status` counts, aggregated in SQL: no annotation row leaves the database but those
    of a task a reviewer annotated more than once (rare), for the latest rule to choose among.

    reviewers : (reviewer, submitted, skipped, last activity) over the tasks each reviewer
    annotated once, and the last activity over all; repeated : (task, reviewer, annotation_id,
    skipped, updated_at, created_at) of the others.
    """

    tasks: int
    annotated_tasks: int
    fully_reviewed: int
    reviewers: list[tuple[int, int, int, str | None]]
    repeated: list[tuple]
    state: ProjectState


def review_counts(run: Run, project: int, reviewers_per_task: int, dialect: str) -> ReviewCounts:
    """Tasks, annotated tasks, fully reviewed tasks (`reviewers_per_task` distinct reviewers
    submitted them; a skip is not a review) and each reviewer's counts, as progress.py defines them.

    Each statement walks one index of migration 10 in its order (ledger_by_task, ledger_by_reviewer),
    so SQLite groups without sorting 155,844 rows.
    """
    # Timestamps compare as the code points of their text, as Python's max does: PostgreSQL's
    # default collation would order punctuation otherwise.
    text = ' COLLATE "C"' if dialect == "postgresql" else ""
    one = lambda sql, *params: run(sql, (project, *params)).fetchone()[0]  # noqa: E731
    tasks = one("SELECT count(*) FROM ledger_tasks WHERE project = $1")
    # One walk of ledger_by_task: tasks annotated, tasks fully reviewed, and tasks where some
    # reviewer has more than one annotation (whose rows the latest rule needs; usually none).
    annotated, full, repeats = run(
        "SELECT count(*), coalesce(sum(CASE WHEN submitted >= $2 THEN 1 ELSE 0 END), 0),"
        " coalesce(sum(CASE WHEN annotations > reviewers THEN 1 ELSE 0 END), 0) FROM"
        " (SELECT count(DISTINCT CASE WHEN skipped = 0 THEN reviewer END) AS submitted, count(reviewer) AS annotations,"
        " count(DISTINCT reviewer) AS reviewers FROM ledger WHERE project = $1 GROUP BY task) AS per_task",
        (project, reviewers_per_task),
    ).fetchone()
    totals = run(
        f"SELECT reviewer, count(*), sum(skipped), max(updated_at{text}) FROM ledger WHERE project = $1 AND reviewer IS NOT NULL"
        " GROUP BY reviewer",
        (project,),
    ).fetchall()
    # The rows of tasks a reviewer annotated more than once. SQLite's CROSS JOIN keeps the few
    # pairs as the outer loop (each an index lookup) instead of scanning every row against them.
    repeated = [] if not repeats else [tuple(row) for row in run(
        "SELECT l.task, l.reviewer, l.annotation_id, l.skipped, l.updated_at, l.created_at FROM"
        " (SELECT reviewer, task FROM ledger WHERE project = $1 AND reviewer IS NOT NULL GROUP BY reviewer, task"
        " HAVING count(*) > 1) AS r CROSS JOIN ledger l WHERE l.project = $1 AND l.reviewer = r.reviewer AND l.task = r.task",
        (project,),
    ).fetchall()]
    # Each reviewer's counts over the tasks they annotated once: all rows, less the repeated ones.
    once = {reviewer: [rows - int(skips), int(skips), last] for reviewer, rows, skips, last in totals}
    for _task, reviewer, _annotation, skipped, _updated, _created in repeated:
        once[reviewer][1 if skipped else 0] -= 1
    return ReviewCounts(
        tasks, annotated, full, [(reviewer, s, k, last) for reviewer, (s, k, last) in once.items()], repeated,
        project_state(run, project),
    )


class StoreLedger:
    """The ledger as the lead's commands read it (review_project.live_project.Ledger)."""

    def __init__(self, store, where: str):
        self.store = store
        self.where = where

    def read(self, project_id: int):
        """The project's annotations and tasks, and how current they are."""
        with self.store.backend.snapshot() as cur:
            tables, state = read_tables(self.store.backend.runner(cur), project_id)
        return self._current(state, tables=tables)

    def status(self, project_id: int, reviewers_per_task: int):
        """What `status` counts (ReviewCounts, in `counts`), and how current it is; no table is read."""
        backend = self.store.backend
        with backend.snapshot() as cur:
            counts = review_counts(backend.runner(cur), project_id, reviewers_per_task, backend.dialect)
        return self._current(counts.state, tables=None, counts=counts)

    def _current(self, state, **read):
        """A LedgerRead of what was `read`, with how current the project's state says it is."""
        from review_project.live_project import LedgerRead

        return LedgerRead(
            complete=state.sync_done_at is not None,
            last_webhook_at=state.last_webhook_at,
            last_catch_up_at=state.last_catch_up_at,
            waiting=self.store.inbox.waiting().waiting,
            **read,
        )

    def known_project(self, project: str | int):
        """The project's facts as the lead's commands last learned them (live_project.ProjectFacts), or None."""
        from review_project.live_project import ProjectFacts

        with self.store.backend.transaction(write=False) as cur:
            state = known_project(self.store.backend.runner(cur), project)
        if state is None:
            return None
        members = json.loads(state.members or "{}")
        return ProjectFacts(
            state.project, state.title, state.reviewers_per_task,
            {int(user): email for user, email in members.get("users", {}).items()}, members.get("lead"), state.facts_at,
        )

    def remember(self, facts) -> None:
        """Keep a project's facts (live_project.ProjectFacts) for the next command."""
        members = json.dumps({"users": {str(user): email for user, email in facts.users.items()}, "lead": facts.lead})
        self.store.ledger.note(
            facts.id, title=facts.title, reviewers_per_task=facts.reviewers_per_task, members=members, facts_at=facts.learned_at
        )

    def task_attack_ids(self, project_id: int) -> dict[int, int | None] | None:
        """Task id -> attack_id of every task of the project, or None before the first sync finished."""
        return self.store.ledger.task_attack_ids(project_id)

    def close(self) -> None:
        self.store.close()


_TABLE_COLUMNS = (
    "attack_id", "task", "annotation_id", "reviewer", "success", "topics", "skipped", "lead_time", "created_at",
    "updated_at", "updated_by", "valid", "invalid_reason",
    # edited_by_other, as export's parser sets it (schema.AnnotationRecord).
    "CASE WHEN updated_by IS NOT NULL AND reviewer IS NOT NULL AND updated_by <> reviewer THEN 1 ELSE 0 END",
)


# Rows fetched and typed at a time by read_tables.
_PART_ROWS = 20_000


def read_tables(run: Run, project: int):
    """The project's ledger as export.ProjectTables (reviewer_email left empty), and its state.

    Read column-wise, a part of _PART_ROWS rows at a time: each part is transposed once and its
    columns typed by numpy (export.tables_from_column_parts), so the whole dataset's 155,844
    annotations never exist as Python row tuples all at once (that was 140 MB of the lead's peak)."""
    from review_project.export import tables_from_column_parts

    # The tasks first: the annotations' cursor is read part by part below (one cursor runs both).
    tasks = run("SELECT task, attack_id FROM ledger_tasks WHERE project = $1 ORDER BY task", (project,)).fetchall()
    task_columns = tuple(zip(*tasks)) if tasks else ((), ())
    del tasks
    cursor = run(
        f"SELECT {', '.join(_TABLE_COLUMNS)} FROM ledger WHERE project = $1 ORDER BY task, annotation_id", (project,)
    )
    names = (*_TABLE_COLUMNS[:-1], "edited_by_other")
    # A few hundred distinct topic pairs among 155,844 rows: parse each once. Rows with the same
    # topics share one list, as nothing downstream changes a row's topics in place.
    parsed: dict[str, list] = {}

    def parts():
        while rows := cursor.fetchmany(_PART_ROWS):
            found = dict(zip(names, zip(*rows)))
            del rows
            for text in set(found["topics"]).difference(parsed):
                parsed[text] = json.loads(text)
            yield {
                "attack_id": found["attack_id"], "task_id": found["task"], "annotation_id": found["annotation_id"],
                "reviewer_id": found["reviewer"], "reviewer_email": (None,) * len(found["reviewer"]), "success": found["success"],
                "topics": [parsed[text] for text in found["topics"]], "skipped": found["skipped"],
                "lead_time": found["lead_time"], "created_at": found["created_at"], "updated_at": found["updated_at"],
                "updated_by": found["updated_by"], "edited_by_other": found["edited_by_other"],
                "valid": found["valid"], "invalid_reason": found["invalid_reason"],
            }

    tables = tables_from_column_parts(parts(), task_columns)
    return tables, project_state(run, project)
