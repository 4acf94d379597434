"""`review-project demo` end to end: the 4th demo reviewer, whose queue the demo leaves for the
person trying it, logs in with the printed login and labels a task."""

from __future__ import annotations

import re

import pytest

from review_project import label_studio as ls_api
from review_project.schema import read_rating
from tests.browser.conftest import LabellingScreen, annotations_by, log_in

pytestmark = [pytest.mark.browser, pytest.mark.label_studio]


def test_a_demo_reviewer_logs_in_with_the_printed_login_and_labels_a_task(demo_run, page, screenshots):
    # demo_run (tests/conftest.py) ran `review-project demo` once for the session and stops it at the end.
    folder, output = demo_run.folder, demo_run.output
    url = re.search(r"Label Studio is running at (\S+)", output).group(1)
    project_id = int(re.search(r"Project: \S+/projects/(\d+)/data", output).group(1))
    logins = re.findall(r"Reviewer:\s+(\S+)\s+password (\S+)", output)
    assert len(logins) == 4
    # Reviewers 1-3 have simulated ratings of every task; the 4th reviewer's queue is the person's.
    email, password = logins[3]
    assert f"Your turn: log in as {email} (its queue is untouched)" in output

    log_in(page, url, email, password)
    screen = LabellingScreen(page, url, project_id).open()
    task_id = screen.task_id
    screen.rating("2").check()
    screen.open_topics()
    screen.topic_option("Other").locator(".ant-select-tree-title").click()
    screen.close_topics()
    page.screenshot(path=screenshots / "demo-labelling-screen.png", animations="disabled")
    with screen.saving() as saved:
        screen.submit_button().click()
    assert saved.value.status == 201

    # The lead's key is in the env file the demo wrote for status, export and agreement.
    api_key = re.search(r"LABEL_STUDIO_API_KEY=(\S+)", (folder / "env").read_text()).group(1)
    client = ls_api.connect(url, api_key)
    reviewer_id = ls_api.users_by_email(client)[email.lower()].id
    [annotation] = annotations_by(client, project_id, reviewer_id)
    assert annotation["task"] == task_id
    rating = read_rating(annotation)
    assert (rating.success, rating.topics, rating.valid, rating.skipped) == (2, ("Other",), True, False)
