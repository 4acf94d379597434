"""The reviewer's labelling screen in chromium, on a project made by `review-project setup`.

Label Studio checks `maxUsages` and `required` only in the browser (the API accepts anything),
so these tests click through the real UI and then read back what the server stored.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass

import pytest
from click.testing import CliRunner
from playwright.sync_api import expect

from review_project import label_studio as ls_api
from review_project.cli import cli
from review_project.manifest import write_manifest
from review_project.records import attack_task_data
from review_project.reviewer_interface import label_config
from review_project.shared import Reviewer, write_reviewers
from review_project.sampling import sample_attacks
from review_project.schema import SUCCESS, read_rating
from tests.browser.conftest import LabellingScreen, annotations_by, log_in, within_laptop_screen

pytestmark = [pytest.mark.browser, pytest.mark.label_studio]

TITLE = "Red-team review (browser)"
PASSWORD = "reader-pass-1"
# One reviewer per test: a test that leaves a draft behind cannot change what another one sees.
READERS = {
    "look": "reader-look@example.com",
    "limits": "reader-limits@example.com",
    "skip": "reader-skip@example.com",
}


@dataclass
class BrowserProject:
    project_id: int
    user_ids: dict[str, int]
    tasks: dict[int, dict]


@pytest.fixture(scope="module")
def browser_project(label_studio, tmp_path_factory, demo_records) -> BrowserProject:
    """Three reviewers with passwords, then `review-project setup` as the lead runs it."""
    folder = tmp_path_factory.mktemp("browser-project")
    attacks = sample_attacks(demo_records, per_model=3, seed=5)
    # The stream serves tasks in import order: lead with a several-turn chat, as most attacks are.
    attacks.sort(key=lambda attack: len(attack_task_data(attack, attack["attack_id"])["dialogue"]) < 6)
    user_ids = {email: label_studio.make_reviewer(email, PASSWORD) for email in READERS.values()}
    write_manifest(folder / "manifest.jsonl", attacks)
    write_reviewers(folder / "reviewers.csv", [Reviewer(email, f"Reader {key}") for key, email in READERS.items()])
    result = CliRunner().invoke(
        cli,
        ["setup", "--manifest", str(folder / "manifest.jsonl"), "--reviewers", str(folder / "reviewers.csv"),
         "--title", TITLE, "--silent"],
        env=label_studio.env(),
    )
    assert result.exit_code == 0, result.output
    assert f"Tasks: {len(attacks)} imported" in result.output
    assert "Reviewers: all 3 have joined Label Studio" in result.output
    client = label_studio.client()
    project = ls_api.find_project(client, TITLE)
    tasks = {task["id"]: task["data"] for task in ls_api.full_export(client, project.id)}
    return BrowserProject(project.id, user_ids, tasks)


def required_message() -> str:
    """The message the config shows when a reviewer submits without a success rating."""
    success = ElementTree.fromstring(label_config()).find(f".//Choices[@name='{SUCCESS}']")
    return success.get("requiredMessage")


def reviewer_screen(page, label_studio, browser_project, who: str) -> LabellingScreen:
    log_in(page, label_studio.url, READERS[who], PASSWORD)
    return LabellingScreen(page, label_studio.url, browser_project.project_id).open()


def test_reviewer_sees_the_warning_the_goal_and_the_chat(page, label_studio, browser_project, screenshots):
    screen = reviewer_screen(page, label_studio, browser_project, "look")
    task = browser_project.tasks[screen.task_id]

    expect(page.get_by_text("Content warning:")).to_be_visible()
    expect(page.get_by_text("press Skip: skipping is always fine")).to_be_visible()
    expect(page.get_by_text(task["task_description"], exact=True)).to_be_visible()
    # The transcript is a chat: one bubble per turn, in order, each named by its speaker.
    assert screen.phrases() == [f"{turn['role']} {' '.join(turn['content'].split())}" for turn in task["dialogue"]]
    assert len(task["dialogue"]) >= 6

    # Readable: bubbles use most of a wide column, body text at least 14 px.
    first = page.get_by_test_id("phrase:0")
    assert first.bounding_box()["width"] >= 450
    smallest_font = first.evaluate(
        """turn => Math.min(...[...turn.querySelectorAll('span')]
             .filter(s => !s.children.length && s.textContent.trim() && s.checkVisibility())
             .map(s => parseFloat(getComputedStyle(s).fontSize)))"""
    )
    assert smallest_font >= 14
    # No hunting: every rating, the topics box, Submit and Skip are on screen without scrolling.
    for control in [*(screen.rating(str(v)) for v in range(5)), screen.topics_box(), screen.submit_button(), screen.skip_button()]:
        assert within_laptop_screen(control), control
    for value, words in [("0", "Not successful"), ("4", "Very successful")]:
        expect(page.get_by_text(re.compile(rf"^{value} {words}"))).to_be_visible()
    page.screenshot(path=screenshots / "labelling-screen.png", animations="disabled")


def test_topics_are_held_to_two_and_a_rating_is_required(page, label_studio, browser_project, screenshots):
    screen = reviewer_screen(page, label_studio, browser_project, "limits")
    task_id = screen.task_id
    client = label_studio.client()
    user_id = browser_project.user_ids[READERS["limits"]]

    screen.open_topics()
    for topic in ("Theft", "Weapons"):
        screen.topic_option(topic).locator(".ant-select-tree-title").click()
    third = screen.topic_option("Other")
    # Once two are chosen, every other checkbox is disabled, and clicking one changes nothing.
    expect(third.locator(".ant-select-tree-checkbox")).to_have_class(re.compile("ant-select-tree-checkbox-disabled"))
    third.locator(".ant-select-tree-title").click()
    page.screenshot(path=screenshots / "labelling-screen-third-topic-refused.png", animations="disabled")
    screen.close_topics()
    assert screen.chosen_topics() == ["Theft", "Weapons"]

    screen.submit_button().click()
    expect(page.get_by_text(required_message())).to_be_visible()
    page.screenshot(path=screenshots / "labelling-screen-rating-required.png", animations="disabled")
    page.get_by_role("button", name="OK").click()
    # The dialog fades out; until it is gone its backdrop takes the next click.
    expect(page.get_by_text(required_message())).to_be_hidden()
    assert annotations_by(client, browser_project.project_id, user_id) == []

    screen.rating("3").check()
    with screen.saving() as saved:
        screen.submit_button().click()
    assert saved.value.status == 201

    [annotation] = annotations_by(client, browser_project.project_id, user_id)
    assert annotation["task"] == task_id
    assert not annotation["was_cancelled"]
    rating = read_rating(annotation)
    assert (rating.success, set(rating.topics), rating.valid) == (3, {"Theft", "Weapons"}, True)


def test_a_skipped_task_comes_back_cancelled(page, label_studio, browser_project):
    screen = reviewer_screen(page, label_studio, browser_project, "skip")
    task_id = screen.task_id
    expect(screen.skip_button()).to_have_text("Skip")

    with screen.saving() as saved:
        screen.skip_button().click()
    assert saved.value.status == 201
    # The stream moves on to another task.
    expect(screen.current_task()).not_to_have_text(re.compile(rf"^{task_id}\D"))

    [annotation] = annotations_by(label_studio.client(), browser_project.project_id, browser_project.user_ids[READERS["skip"]])
    assert annotation["task"] == task_id
    assert annotation["was_cancelled"] is True
    assert annotation["result"] == []
    assert read_rating(annotation).skipped
