"""The adjudicator's screen in chromium, on a project made by `review-project adjudicate`.

An adjudicator logs in, sees the content warning, the goal, the chat and what the reviewers
said (anonymised, with the counts), and gives a final rating and at most 2 topics with the
reviewers' own controls; `read_adjudications` reads it back.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass

import pytest
from click.testing import CliRunner
from playwright.sync_api import expect

from review_project import label_studio as ls_api
from review_project.adjudication import Adjudication, adjudication_title, label_config, read_adjudications
from review_project.cli import cli
from review_project.project_setup import setup_project
from review_project.records import attack_task_data
from review_project.sampling import sample_attacks
from review_project.schema import SUCCESS
from review_project.shared import Reviewer
from tests.browser.conftest import LabellingScreen, log_in, within_laptop_screen
from tests.conftest import success_result, topics_result

pytestmark = [pytest.mark.browser, pytest.mark.label_studio]

TITLE = "Red-team review (screen)"
PASSWORD = "adjudicator-pass-1"
REVIEWERS = [f"screen-reviewer{i}@example.com" for i in range(1, 5)]
ADJUDICATORS = {"look": "adjudicator-look@example.com", "decide": "adjudicator-decide@example.com"}
# The first two attacks, each reviewer's rating ("skip" for a skip) and topics.
PLANS = [
    [(3, ("Theft",)), (4, ("Theft", "Weapons")), (0, ()), (1, ("Other",))],
    [(4, ("Fraud & deception",)), ("skip", ()), (1, ("Fraud & deception",)), (3, ("Theft",))],
]


@dataclass
class AdjudicationProject:
    project_id: int
    tasks: dict[int, dict]  # adjudication task id -> data


@pytest.fixture(scope="module")
def adjudication_project(label_studio, demo_records) -> AdjudicationProject:
    """Four reviewers disagree through the API; the lead runs `review-project adjudicate`."""
    reviewer_ids = [label_studio.make_reviewer(email) for email in REVIEWERS]
    for email in ADJUDICATORS.values():
        label_studio.make_reviewer(email, PASSWORD)
    attacks = sample_attacks(demo_records, per_model=2, seed=8)
    # Lead with several-turn chats, as most attacks are.
    attacks.sort(key=lambda attack: len(attack_task_data(attack, attack["attack_id"])["dialogue"]) < 6)
    client = label_studio.client()
    report = setup_project(client, attacks, [Reviewer(e, "Screen Reviewer") for e in REVIEWERS], title=TITLE)
    tasks = sorted(client.tasks.list(project=report.project_id, page_size=100), key=lambda t: t.id)
    for task, plan in zip(tasks, PLANS):
        for reviewer, email, (value, topics) in zip(reviewer_ids, REVIEWERS, plan):
            as_reviewer = label_studio.reviewer_client(email)
            if value == "skip":
                as_reviewer.annotations.create(id=task.id, result=[], was_cancelled=True, completed_by=reviewer)
            else:
                result = [success_result(str(value))] + ([topics_result(*topics)] if topics else [])
                as_reviewer.annotations.create(id=task.id, result=result, completed_by=reviewer)
    result = CliRunner().invoke(cli, ["adjudicate", "--project", TITLE, "--silent"], env=label_studio.env())
    assert result.exit_code == 0, result.output
    assert "Tasks: 2 added, 0 already present" in result.stdout
    project = ls_api.find_project(client, adjudication_title(TITLE))
    return AdjudicationProject(project.id, {task["id"]: task["data"] for task in ls_api.full_export(client, project.id)})


def adjudicator_screen(page, label_studio, adjudication_project, who: str) -> LabellingScreen:
    log_in(page, label_studio.url, ADJUDICATORS[who], PASSWORD)
    return LabellingScreen(page, label_studio.url, adjudication_project.project_id).open()


def review_rows(page) -> list[list[str]]:
    """The reviewers' table as shown: its header, then one row per reviewer."""
    table = page.locator(".rtr-reviews table")
    header = [cell.inner_text().strip() for cell in table.locator("thead th").all()]
    rows = [[cell.inner_text().strip() for cell in row.locator("td").all()] for row in table.locator("tbody tr").all()]
    return [header, *rows]


def test_the_adjudicator_sees_the_attack_and_what_the_reviewers_said(page, label_studio, adjudication_project, screenshots):
    screen = adjudicator_screen(page, label_studio, adjudication_project, "look")
    task = adjudication_project.tasks[screen.task_id]

    expect(page.get_by_text("Content warning:")).to_be_visible()
    expect(page.get_by_text("yours is the final rating")).to_be_visible()
    expect(page.get_by_text(task["task_description"], exact=True)).to_be_visible()
    assert screen.phrases() == [f"{turn['role']} {' '.join(turn['content'].split())}" for turn in task["dialogue"]]
    # What the reviewers said: anonymised A-D in reviewer-id order, with the counts and why it is here.
    assert review_rows(page) == [["Reviewer", "Rating", "Topics"], *[[row["Reviewer"], row["Rating"], row["Topics"]] for row in task["reviews"]]]
    assert [row["Reviewer"] for row in task["reviews"]] == ["A", "B", "C", "D"]
    expect(page.get_by_text(task["review_counts"], exact=True)).to_be_visible()
    expect(page.get_by_text(task["dispute"], exact=True)).to_be_visible()
    for email in REVIEWERS:
        expect(page.get_by_text(email)).to_have_count(0)

    # No hunting: the reviewers' table, every rating, the topics box, Submit and Skip fit a laptop screen.
    controls = [page.locator(".rtr-reviews table"), *(screen.rating(str(v)) for v in range(5)), screen.topics_box(),
                screen.submit_button(), screen.skip_button()]
    for control in controls:
        assert within_laptop_screen(control), control
    page.screenshot(path=screenshots / "adjudication-screen.png", animations="disabled")


def test_the_final_say_is_held_to_the_reviewers_rules_and_read_back(page, label_studio, adjudication_project, screenshots):
    screen = adjudicator_screen(page, label_studio, adjudication_project, "decide")
    task = adjudication_project.tasks[screen.task_id]
    client = label_studio.client()

    screen.open_topics()
    for topic in ("Theft", "Weapons"):
        screen.topic_option(topic).locator(".ant-select-tree-title").click()
    third = screen.topic_option("Other")
    expect(third.locator(".ant-select-tree-checkbox")).to_have_class(re.compile("ant-select-tree-checkbox-disabled"))
    third.locator(".ant-select-tree-title").click()
    screen.close_topics()
    assert screen.chosen_topics() == ["Theft", "Weapons"]

    screen.submit_button().click()
    required = ElementTree.fromstring(label_config()).find(f".//Choices[@name='{SUCCESS}']").get("requiredMessage")
    expect(page.get_by_text(required)).to_be_visible()
    page.get_by_role("button", name="OK").click()
    # The dialog fades out; until it is gone its backdrop takes the next click.
    expect(page.get_by_text(required)).to_be_hidden()
    assert task["attack_id"] not in read_adjudications(client, TITLE)

    screen.rating("3").check()
    page.screenshot(path=screenshots / "adjudication-screen-decided.png", animations="disabled")
    with screen.saving() as saved:
        screen.submit_button().click()
    assert saved.value.status == 201

    found = read_adjudications(client, TITLE)
    assert found[task["attack_id"]] == Adjudication(task["attack_id"], 3, ("Theft", "Weapons"))
    assert found.invalid == () and found.tasks == 2
