"""The lead's HTML agreement report opened in chromium: it renders, its plots show, it asks nothing of the network."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from playwright.sync_api import expect

from review_project.cli import cli
from review_project.lead_report import TITLE
from review_project.lead_report.agreement import NOMINAL_HEADING, ORDINAL_HEADING
from tests.browser.conftest import assert_plots_drawn

pytestmark = [pytest.mark.browser, pytest.mark.label_studio]


@pytest.fixture(scope="module")
def report_path(reviewed_project, tmp_path_factory):
    """`review-project agreement EXPORT --html F` on four reviewers' real export."""
    path = tmp_path_factory.mktemp("lead-report") / "report.html"
    result = CliRunner().invoke(
        cli,
        ["agreement", str(reviewed_project.export_path), "--manifest", str(reviewed_project.manifest_path),
         "--html", str(path), "--resamples", "200"],
    )
    assert result.exit_code == 0, result.output
    return path


def test_the_report_renders_its_plots_without_the_network(report_path, page, screenshots):
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(report_path.as_uri())
    page.wait_for_load_state("load")

    assert page.title() == TITLE
    expect(page.get_by_role("heading", name=TITLE, level=1)).to_be_visible()
    for section in ("Beside the paper", "Reviewers", "Topics", "Most disputed attacks", "Invalid annotations"):
        expect(page.get_by_role("heading", name=section, exact=True)).to_be_visible()
    expect(page.get_by_role("table").first).to_be_visible()

    # The headline leads with the measures that respect the order of the scale; the paper's figure follows.
    headline = page.locator("p.headline")
    expect(headline).to_contain_text("Ordinal agreement over the 8 tasks with 2 or more valid ratings")
    expect(headline).to_contain_text("Krippendorff's alpha (ordinal)")
    headings = page.locator("h2").all_inner_texts()
    ordinal, nominal = ORDINAL_HEADING, NOMINAL_HEADING
    assert headings.index(ordinal) < headings.index(nominal) < headings.index("The paper's figure") < headings.index("Beside the paper")
    ordinal_table = page.locator("h2", has_text=ordinal).locator("xpath=following-sibling::table[1]")
    for row in ("Krippendorff's alpha, ordinal", "ICC(2,1): one reviewer's rating, absolute agreement",
                "ICC(2,4): the mean of 4 reviewers' ratings", "Gwet's AC2, ordinal weights"):
        expect(ordinal_table.get_by_role("cell", name=row, exact=True)).to_be_visible()
    nominal_table = page.locator("h2", has_text=nominal).locator("xpath=following-sibling::table[1]")
    for row in ("Fleiss' kappa, 0-4, any number of ratings per task", "Gwet's AC1, 0-4, unweighted"):
        expect(nominal_table.get_by_role("cell", name=row, exact=True)).to_be_visible()
    expect(page.get_by_text("Every interval is conditional on these reviewers", exact=False)).to_have_count(1)
    expect(page.get_by_role("cell", name="context distillation 52B - rlhf 52B", exact=True)).to_be_visible()

    plots = page.locator("img")
    assert plots.count() == 4
    assert_plots_drawn(plots)
    page.screenshot(path=screenshots / "lead-report.png", full_page=True)

    # Self-contained: the document itself and inlined images, nothing fetched from anywhere else.
    assert requests and requests[0] == report_path.as_uri()
    assert [url for url in requests if not url.startswith(("file:", "data:"))] == []
