"""`review-project adjudicate` and `read_adjudications` against the real Label Studio of conftest.py.

Four reviewers rate a project through the API with their own tokens; adjudicate makes
"<title> - adjudication" with the disputed attacks, a re-run adds only newly disputed ones and
never rewrites a task, and read_adjudications reads the adjudicators' latest valid say.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import httpx
import pytest
from click.testing import CliRunner

from review_project import label_studio as ls_api
from review_project.adjudication import Adjudication, adjudication_title, label_config, read_adjudications
from review_project.cli import cli
from review_project.project_setup import setup_project
from review_project.sampling import sample_attacks
from review_project.schema import HIDDEN_FROM_REVIEWERS
from review_project.shared import Reviewer
from tests.conftest import success_result, topics_result, user_token

pytestmark = pytest.mark.label_studio

TITLE = "Red-team review (adjudicated)"
EMAILS = [f"disputer{i}@example.com" for i in range(1, 5)]
ADJUDICATORS = ["adjudicator1@example.com", "adjudicator2@example.com"]
# Per task, in attack order: each reviewer's rating, None for no annotation, "skip", or "9" (invalid).
PLANS = [
    [3, 3, 0, 0],           # split and spread
    [4, 3, 3, 2],           # agreed
    [1, 4, 1, 2],           # spread
    [3, None, 1, "skip"],   # split, 2 valid ratings and a skip
    [2, 2, 2, 2],           # agreed
    [0, 4, "9", 4],         # spread, with an invalid annotation
    [3, 2, None, None],     # split, still being reviewed
    [None, None, None, None],
]


@dataclass
class Disputed:
    project_id: int
    reviewer_ids: list[int]
    adjudicator_ids: list[int]
    tasks: list  # the review project's tasks, in attack order
    annotations: dict  # (task index, reviewer index) -> annotation id

    def attack(self, index: int) -> int:
        return self.tasks[index].data["attack_id"]


def rate(client, task_id: int, user_id: int, value, topics=("Theft",)):
    if value == "skip":
        return client.annotations.create(id=task_id, result=[], was_cancelled=True, completed_by=user_id)
    return client.annotations.create(
        id=task_id, result=[success_result(str(value)), topics_result(*topics)], completed_by=user_id, lead_time=9.0
    )


@pytest.fixture(scope="module")
def disputed(label_studio, demo_records) -> Disputed:
    reviewer_ids = [label_studio.make_reviewer(email) for email in EMAILS]
    adjudicator_ids = [label_studio.make_reviewer(email) for email in ADJUDICATORS]
    client = label_studio.client()
    attacks = sample_attacks(demo_records, per_model=4, seed=21)
    report = setup_project(client, attacks, [Reviewer(e, "Disputer") for e in EMAILS], title=TITLE)
    tasks = sorted(client.tasks.list(project=report.project_id, page_size=100), key=lambda t: t.data["attack_id"])
    as_reviewer = {rid: label_studio.reviewer_client(email) for rid, email in zip(reviewer_ids, EMAILS)}
    made = {}
    for n, (task, plan) in enumerate(zip(tasks, PLANS)):
        for r, (reviewer, value) in enumerate(zip(reviewer_ids, plan)):
            if value is not None:
                made[(n, r)] = rate(as_reviewer[reviewer], task.id, reviewer, value).id
    return Disputed(report.project_id, reviewer_ids, adjudicator_ids, tasks, made)


def adjudicate(label_studio, *args):
    return CliRunner().invoke(cli, ["adjudicate", "--project", TITLE, "--silent", *args], env=label_studio.env())


def adjudication_tasks(client) -> dict[int, dict]:
    """attack_id -> task (id, data, meta, annotations) of the adjudication project."""
    project = ls_api.find_project(client, adjudication_title(TITLE))
    return {task["data"]["attack_id"]: task for task in ls_api.full_export(client, project.id)}


def test_adjudicate_puts_the_disputed_attacks_in_a_project_of_their_own(label_studio, disputed):
    result = adjudicate(label_studio, "--contact", "the lead, Sam")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    # Attacks 3 (a reviewer has not rated it yet) and 6 (two have not) wait: their reviewers
    # could read the others' verdicts in the adjudication project.
    assert lines[0] == (
        f"Review project {disputed.project_id} {TITLE!r}: 8 attacks, 5 disputed "
        "(split at 3, a spread of 3 or more, or a tie at the 2-topic limit, from 2 valid ratings); "
        "2 left out as incomplete (not rated or skipped by 4 reviewers yet)"
    )
    assert lines[1].startswith(f"Created project ") and lines[1].endswith(f"{adjudication_title(TITLE)!r} at {label_studio.url}/projects/{lines[1].split()[2]}")
    assert "Tasks: 3 added, 0 already present" in lines
    assert lines[-1] == "Adjudicated: 0 of 3 attacks"
    assert result.stderr.startswith(f"Read Label Studio's full export of project {disputed.project_id}")
    client = label_studio.client()
    assert sorted(adjudication_tasks(client)) == sorted(disputed.attack(i) for i in (0, 2, 5))

    anyway = adjudicate(label_studio, "--contact", "the lead, Sam", "--include-incomplete")
    assert anyway.exit_code == 0, anyway.output
    lines = anyway.stdout.splitlines()
    assert lines[0].endswith("5 disputed (split at 3, a spread of 3 or more, or a tie at the 2-topic limit, from 2 valid ratings); "
                             "2 of them incomplete, added all the same (--include-incomplete)")
    assert lines[2] == (
        "--include-incomplete: 2 attacks added before every reviewer rated or skipped them; every member can open the "
        "adjudication project, so a reviewer who has not rated one yet can read the others' verdicts on it there"
    )
    assert "Tasks: 2 added, 3 already present" in lines
    project = ls_api.find_project(client, adjudication_title(TITLE))
    assert project.label_config.strip() == label_config().strip()
    assert set(project.parsed_label_config) == {"success", "topics"}
    assert (project.maximum_annotations, project.show_skip_button, project.show_instruction) == (1, True, True)
    # A skipped attack comes back to the same adjudicator later.
    assert getattr(project.skip_queue, "value", project.skip_queue) == "REQUEUE_FOR_ME"
    assert "the lead, Sam" in project.expert_instruction

    tasks = adjudication_tasks(client)
    assert sorted(tasks) == sorted(disputed.attack(i) for i in (0, 2, 3, 5, 6))
    review = {task["data"]["attack_id"]: task for task in ls_api.full_export(client, disputed.project_id)}
    for attack_id, task in tasks.items():
        data = task["data"]
        assert list(data) == ["attack_id", "dialogue", "task_description", "reviews", "review_counts", "dispute"]
        assert data["dialogue"] == review[attack_id]["data"]["dialogue"]
        assert data["task_description"] == review[attack_id]["data"]["task_description"]
        assert task["meta"]["attack_id"] == attack_id and task["meta"]["review_task_id"] == review[attack_id]["id"]
        shown = json.dumps(data)
        # Anonymised: no reviewer's email or id; nothing reviewers must not see.
        assert not any(email in shown for email in EMAILS)
        assert not any(f'"{name}"' in shown for name in HIDDEN_FROM_REVIEWERS)
        assert [row["Reviewer"] for row in data["reviews"]] == ["A", "B", "C", "D"][: len(data["reviews"])]

    first, skipped, invalid = (tasks[disputed.attack(i)]["data"] for i in (0, 3, 5))
    assert [row["Rating"] for row in first["reviews"]] == ["3 Successful", "3 Successful", "0 Not successful", "0 Not successful"]
    assert first["reviews"][0]["Topics"] == "Theft"
    assert (first["review_counts"], first["dispute"]) == (
        "4 valid ratings", "Disputed: split, 2 of 4 valid ratings at 3 or more; spread, 0 to 3"
    )
    assert skipped["review_counts"] == "2 valid ratings; 1 skipped"
    assert [row["Rating"] for row in skipped["reviews"]] == ["3 Successful", "1 Barely successful", "skipped"]
    assert invalid["review_counts"] == "3 valid ratings; 1 invalid (not counted)"
    assert invalid["reviews"][2] == {"Reviewer": "C", "Rating": "invalid, not counted", "Topics": ""}


def test_a_re_run_adds_only_newly_disputed_attacks_and_rewrites_nothing(label_studio, disputed):
    assert adjudicate(label_studio, "--include-incomplete").exit_code == 0
    first = adjudicate(label_studio)
    assert first.exit_code == 0, first.output
    assert "Tasks: 0 added, 5 already present" in first.stdout
    # Attacks 3 and 6 are there already: nothing is left out.
    assert "; 0 left out as incomplete" in first.stdout.splitlines()[0]
    assert "Found project" in first.stdout and "Updated project settings" not in first.stdout

    client = label_studio.client()
    adjudicator = label_studio.reviewer_client(ADJUDICATORS[0])
    before = adjudication_tasks(client)
    first_attack = disputed.attack(0)
    rate(adjudicator, before[first_attack]["id"], disputed.adjudicator_ids[0], 3, ("Weapons",))
    # The reviewers change their minds: task 1 becomes disputed (4, 3, 3, 0), task 3 agreed
    # (1, 2, 1, 2), and task 0, adjudicated already, still disputed but with other ratings (3, 3, 3, 0).
    as_reviewer = {rid: label_studio.reviewer_client(email) for rid, email in zip(disputed.reviewer_ids, EMAILS)}
    for task, reviewer, value in ((1, 3, 0), (2, 1, 2), (0, 2, 3)):
        rid = disputed.reviewer_ids[reviewer]
        as_reviewer[rid].annotations.update(id=disputed.annotations[(task, reviewer)], result=[success_result(str(value))])

    again = adjudicate(label_studio)
    assert again.exit_code == 0, again.output
    assert "5 disputed" in again.stdout.splitlines()[0]
    assert "Tasks: 1 added, 4 already present" in again.stdout
    assert "1 attack in the adjudication project is no longer disputed (kept: tasks there are never rewritten)" in again.stdout
    assert "1 attack still disputed shows the reviews as they were when added (kept: tasks there are never rewritten)" in again.stdout
    assert again.stdout.splitlines()[-1] == "Adjudicated: 1 of 6 attacks"

    after = adjudication_tasks(client)
    assert set(after) == set(before) | {disputed.attack(1)}
    for attack_id, task in before.items():
        assert after[attack_id]["id"] == task["id"]
        assert after[attack_id]["data"] == task["data"] and after[attack_id]["meta"] == task["meta"]
    [kept] = after[first_attack]["annotations"]
    assert kept["result"][0]["value"]["choices"] == ["3"]
    assert "Tasks: 0 added, 5 already present" in adjudicate(label_studio).stdout


def test_read_adjudications_reads_the_latest_valid_say_on_each_attack(label_studio, disputed):
    assert adjudicate(label_studio, "--include-incomplete").exit_code == 0
    client = label_studio.client()
    tasks = adjudication_tasks(client)
    one, two = (label_studio.reviewer_client(email) for email in ADJUDICATORS)
    id_one, id_two = disputed.adjudicator_ids
    split = tasks[disputed.attack(6)]["id"]
    first = rate(one, split, id_one, 1, ("Other",))
    one.annotations.update(id=first.id, result=[success_result("2"), topics_result("Theft", "Fraud & deception")])
    rate(two, tasks[disputed.attack(5)]["id"], id_two, 4)  # a second adjudicator on an attack
    rate(one, tasks[disputed.attack(2)]["id"], id_one, 2, ("Theft", "Weapons", "Other"))  # invalid: 3 topics
    rate(one, tasks[disputed.attack(3)]["id"], id_one, "skip")

    found = read_adjudications(client, TITLE)
    assert found[disputed.attack(6)] == Adjudication(disputed.attack(6), 2, ("Theft", "Fraud & deception"))
    assert found[disputed.attack(5)] == Adjudication(disputed.attack(5), 4, ("Theft",))
    assert disputed.attack(2) not in found and disputed.attack(3) not in found
    # The attack adjudicated in the re-run test above, when it ran first.
    assert found.get(disputed.attack(0), Adjudication(disputed.attack(0), 3, ("Weapons",))) == Adjudication(disputed.attack(0), 3, ("Weapons",))
    assert found.skipped == 1 and found.tasks == len(tasks)
    [invalid] = found.invalid
    assert (invalid.attack_id, invalid.adjudicator, invalid.reason) == (disputed.attack(2), id_one, "3 topics (at most 2)")
    by_id = read_adjudications(client, disputed.project_id)
    assert by_id == found and by_id.project_id == found.project_id == ls_api.find_project(client, adjudication_title(TITLE)).id


def test_before_adjudicate_there_is_nothing_to_read(label_studio, disputed, project_title, manifest_attacks):
    client = label_studio.client()
    setup_project(client, manifest_attacks, [], title=project_title)
    found = read_adjudications(client, project_title)
    assert found == {} and found.project_id is None


def test_wrong_projects_are_one_line_errors(label_studio, disputed):
    assert adjudicate(label_studio).exit_code == 0
    runner = CliRunner()
    wrong = runner.invoke(cli, ["adjudicate", "--project", adjudication_title(TITLE)], env=label_studio.env())
    assert wrong.exit_code == 2
    project = ls_api.find_project(label_studio.client(), adjudication_title(TITLE))
    assert wrong.stderr == (
        f"Error: project {project.id} {adjudication_title(TITLE)!r} is an adjudication project: give the review project (--project)\n"
    )
    missing = runner.invoke(cli, ["adjudicate", "--project", "No such review"], env=label_studio.env())
    assert missing.exit_code == 1
    assert missing.stderr == f"Error: Label Studio at {label_studio.url} has no project titled 'No such review'\n"
    bad = runner.invoke(cli, ["adjudicate", "--threshold", "5"], env=label_studio.env())
    assert bad.exit_code == 2 and "--threshold" in bad.stderr


def test_another_rule_from_the_options(label_studio, disputed, tmp_path):
    # A fresh worker store has no ledger of the project yet: adjudicate reads the export and says why.
    from workers.store import open_store

    database_url = f"sqlite:///{tmp_path / 'worker.sqlite3'}"
    open_store(database_url).close()
    result = CliRunner().invoke(
        cli,
        ["adjudicate", "--project", str(disputed.project_id), "--threshold", "4", "--dispute-spread", "4", "--dispute-min-ratings", "3",
         "--database-url", database_url, "--silent"],
        env=label_studio.env(),
    )
    assert result.exit_code == 0, result.output
    assert "has not finished its first sync" in result.stderr
    first = result.stdout.splitlines()[0]
    assert first.endswith("disputed (split at 4, a spread of 4 or more, or a tie at the 2-topic limit, from 3 valid ratings); "
                          "0 left out as incomplete (not rated or skipped by 4 reviewers yet)")
    # A spread of 4 from 3 valid ratings: the 0, 4, 4 task (its invalid rating not counted), and
    # the 4, 3, 3, 0 one when the re-run test changed it.
    assert re.search(r": 8 attacks, [12] disputed ", first), first
    assert "Tasks: 0 added" in result.stdout


def test_a_review_title_too_long_for_the_suffix(label_studio, disputed, manifest_attacks):
    # Label Studio allows 50 characters: the adjudication project's title is shortened, with the review's id.
    client = label_studio.client()
    title = "A red-team review whose title takes 50 characters!"
    assert len(title) == 50
    report = setup_project(client, manifest_attacks, [], title=title)
    first = min(client.tasks.list(project=report.project_id, page_size=100), key=lambda t: t.id)
    for reviewer, email, value in zip(disputed.reviewer_ids, EMAILS, (0, 4, 0, 4)):
        rate(label_studio.reviewer_client(email), first.id, reviewer, value)
    result = CliRunner().invoke(cli, ["adjudicate", "--project", title, "--silent"], env=label_studio.env())
    assert result.exit_code == 0, result.output
    shortened = adjudication_title(title, report.project_id)
    # At most 50 (49 when the cut falls on a space, which is dropped: it depends on the id's digits).
    assert len(shortened) <= 50 and shortened.endswith(f"\u2026 #{report.project_id} - adjudication")
    assert f"{shortened!r} at {label_studio.url}/projects/" in result.stdout
    assert "Tasks: 1 added, 0 already present" in result.stdout
    project = ls_api.find_project(client, shortened)
    one = label_studio.reviewer_client(ADJUDICATORS[0])
    [task] = client.tasks.list(project=project.id, page_size=10)
    rate(one, task.id, disputed.adjudicator_ids[0], 2)
    assert read_adjudications(client, report.project_id) == {first.data["attack_id"]: Adjudication(first.data["attack_id"], 2, ("Theft",))}


def test_an_attack_waits_for_its_last_reviewer_and_for_open_drafts(label_studio, disputed, project_title, manifest_attacks):
    client = label_studio.client()
    review = setup_project(client, manifest_attacks, [], title=project_title)
    tasks = sorted(client.tasks.list(project=review.project_id, page_size=100), key=lambda t: t.id)[:3]
    as_reviewer = [label_studio.reviewer_client(email) for email in EMAILS]
    # Every one disputed: the second rated by 3 of the 4 reviewers so far.
    for task, plan in zip(tasks, ((0, 4, 0, 4), (0, 4, 0, None), (1, 4, 4, 1))):
        for reviewer, user_id, value in zip(as_reviewer, disputed.reviewer_ids, plan):
            if value is not None:
                rate(reviewer, task.id, user_id, value)
    # An adjudicator opens the third in the Data Manager and starts on it: Label Studio keeps a draft.
    adjudicator = {"Authorization": f"Token {user_token(label_studio.url, ADJUDICATORS[0], label_studio.password(ADJUDICATORS[0]))}"}
    draft = httpx.post(f"{label_studio.url}/api/tasks/{tasks[2].id}/drafts", headers=adjudicator, json={"result": [], "lead_time": 3.0}, trust_env=False)
    assert draft.status_code == 201, draft.text

    def run(*args):
        result = CliRunner().invoke(cli, ["adjudicate", "--project", project_title, "--silent", *args], env=label_studio.env())
        assert result.exit_code == 0, result.output
        return result.stdout.splitlines()

    def adjudicated() -> set[int]:
        project = ls_api.find_project(client, adjudication_title(project_title))
        return {task.data["attack_id"] for task in client.tasks.list(project=project.id, page_size=100, include="id,data")}

    lines = run()
    assert lines[0].endswith("12 attacks, 3 disputed (split at 3, a spread of 3 or more, or a tie at the 2-topic limit, from 2 valid ratings); "
                             "2 left out as incomplete (not rated or skipped by 4 reviewers yet, or a draft open on 1)")
    assert "Tasks: 1 added, 0 already present" in lines
    assert adjudicated() == {tasks[0].data["attack_id"]}

    # The fourth reviewer skips the second (a skip completes a review); the draft is given up.
    rate(as_reviewer[3], tasks[1].id, disputed.reviewer_ids[3], "skip")
    assert httpx.delete(f"{label_studio.url}/api/drafts/{draft.json()['id']}/", headers=adjudicator, trust_env=False).status_code == 204
    lines = run()
    assert lines[0].endswith("; 0 left out as incomplete (not rated or skipped by 4 reviewers yet)")
    assert "Tasks: 2 added, 1 already present" in lines
    assert adjudicated() == {task.data["attack_id"] for task in tasks}
