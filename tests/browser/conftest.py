"""A real browser for the reviewer's and the lead's screens: Debian's chromium driven by Playwright.

Label Studio enforces the 2-topic limit and the required rating only in its browser UI, so
those rules are proven here, in chromium, against the session's real server. The browser is
launched once per test run; each test gets a fresh 1366x768 context (a typical laptop) so no
cookies or drafts leak between tests. A missing chromium fails the tests, never skips them.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

CHROMIUM = Path("/usr/bin/chromium")
# No sandbox (containers), and nothing that phones home: no updates, sync or QUIC probes.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
LAPTOP = {"width": 1366, "height": 768}
SCREENSHOTS = Path(__file__).resolve().parents[2] / ".test-artifacts" / "screenshots"
# Label Studio's own pages and the labelling UI can be slow on a busy 2-core machine.
TIMEOUT_MS = 30_000


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium, launched once; fails (not skips) when it is missing."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) to run the browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    """A fresh laptop-sized tab with its own cookies."""
    context = browser.new_context(viewport=LAPTOP)
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where tests save what they saw (git-ignored), for a person to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


def within_laptop_screen(locator) -> bool:
    """True when the element is on screen at 1366x768 without scrolling."""
    box = locator.bounding_box()
    return (
        box is not None and box["x"] >= 0 and box["y"] >= 0
        and box["x"] + box["width"] <= LAPTOP["width"] and box["y"] + box["height"] <= LAPTOP["height"]
    )


def drawn_share(png: bytes) -> float:
    """Share of pixels that are not the background (the most common colour) in a screenshot."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).reshape(-1, 3)
    colours, counts = np.unique(pixels, axis=0, return_counts=True)
    return 1.0 - counts.max() / counts.sum()


def assert_plots_drawn(plots) -> None:
    """Each plot is an inlined PNG that loads, shows, and is not a blank box."""
    for plot in plots.all():
        assert plot.get_attribute("src").startswith("data:image/png;base64,")
        plot.scroll_into_view_if_needed()
        expect(plot).to_be_visible()
        assert plot.evaluate("img => img.complete && img.naturalWidth > 100 && img.naturalHeight > 100"), plot.get_attribute("alt")
        # Axes, points, bars, cells and lines cover a good share of a real plot's pixels.
        assert drawn_share(plot.screenshot()) > 0.05, plot.get_attribute("alt")


def log_in(page, url: str, email: str, password: str) -> None:
    """Log in through Label Studio's login form, as a reviewer would."""
    page.goto(f"{url}/user/login/")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda address: "/user/login" not in address)


class LabellingScreen:
    """The labelling stream of one project, driven the way a reviewer drives it."""

    def __init__(self, page, url: str, project_id: int):
        self.page = page
        self.url = url
        self.project_id = project_id

    def open(self) -> LabellingScreen:
        """Open the stream, read past the instructions and wait for the first task."""
        self.page.goto(f"{self.url}/projects/{self.project_id}/data?labeling=1")
        instructions = self.page.get_by_text("Labeling Instructions", exact=True)
        instructions.wait_for()
        self.page.keyboard.press("Escape")
        instructions.wait_for(state="hidden")
        self.page.get_by_text("The conversation", exact=True).wait_for()
        return self

    @property
    def task_id(self) -> int:
        """The task on screen, from the "#<id>" in the bottom bar (the "#" is drawn by CSS)."""
        return int(self.current_task().evaluate("box => box.firstChild.textContent"))

    def current_task(self):
        return self.page.locator(".lsf-current-task__task-id")

    def phrases(self) -> list[str]:
        """The chat turns as shown, each "Role text" with whitespace collapsed."""
        turns = self.page.locator('[data-testid^="phrase:"]')
        return [" ".join(turn.inner_text().split()) for turn in turns.all()]

    def rating(self, value: str):
        return self.page.get_by_role("radio", name=re.compile(rf"^{value} "))

    def topics_box(self):
        return self.page.locator(".htx-taxonomy")

    def chosen_topics(self) -> list[str]:
        return [tag.inner_text().strip() for tag in self.topics_box().locator(".ant-select-selection-item").all()]

    def open_topics(self) -> None:
        self.topics_box().click()
        self.page.get_by_test_id("taxonomy-search").wait_for()

    def topic_option(self, topic: str):
        """One row of the open topics dropdown (its list is virtual: search brings the row in)."""
        self.page.get_by_test_id("taxonomy-search").fill(topic)
        return self.page.locator(".ant-select-tree-treenode").filter(
            has=self.page.locator(".ant-select-tree-title", has_text=re.compile(f"^{re.escape(topic)}$"))
        )

    def close_topics(self) -> None:
        self.page.keyboard.press("Escape")
        self.page.get_by_test_id("taxonomy-search").wait_for(state="hidden")

    def submit_button(self):
        return self.page.get_by_role("button", name="Submit current annotation", exact=True)

    def skip_button(self):
        return self.page.get_by_test_id("bottombar-skip-button")

    def saving(self):
        """Wait for the annotation POST the next click makes (submit or skip)."""
        return self.page.expect_response(
            lambda answer: answer.request.method == "POST" and re.search(r"/api/tasks/\d+/annotations", answer.url)
        )


def annotations_by(client, project_id: int, user_id: int) -> list[dict]:
    """Every annotation `user_id` made in the project, from the server's full export."""
    from review_project import label_studio as ls_api

    return [
        {**annotation, "task": task["id"]}
        for task in ls_api.full_export(client, project_id)
        for annotation in task["annotations"]
        if annotation["completed_by"] == user_id
    ]
