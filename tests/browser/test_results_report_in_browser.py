"""The lead's results report opened in chromium: it renders, its plots (by model, topics, ROC,
drift) show and are not blank, the rows of what "successful" means and of the proxy's
sensitivity are there, and it asks nothing of the network."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from playwright.sync_api import expect

from review_project.cli import cli
from review_project.lead_report import RESULTS_TITLE
from tests.browser.conftest import assert_plots_drawn

pytestmark = [pytest.mark.browser, pytest.mark.label_studio]

PLOTS = (
    "mean rating and share of ratings successful per model",
    "share of attacks per consensus topic and model",
    "ROC curves of the proxies",
    "reviewer agreement per block of tasks over time",
)


@pytest.fixture(scope="module")
def report_path(label_studio, reviewed_project, tmp_path_factory):
    """`review-project results --project ... --html F` on four reviewers' live project; blocks of 2 tasks for drift."""
    path = tmp_path_factory.mktemp("results-report") / "results.html"
    result = CliRunner().invoke(
        cli,
        ["results", "--project", str(reviewed_project.project_id), "--manifest", str(reviewed_project.manifest_path),
         "--html", str(path), "--resamples", "200", "--block-size", "2"],
        env=label_studio.env(),
    )
    assert result.exit_code == 0, result.output
    return path


def test_the_results_report_renders_its_plots_without_the_network(report_path, reviewed_project, page, screenshots):
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(report_path.as_uri())
    page.wait_for_load_state("load")

    assert page.title() == RESULTS_TITLE
    expect(page.get_by_role("heading", name=RESULTS_TITLE, level=1)).to_be_visible()
    for section in ("Final labels", "Successful attacks", "By model", "Does the cheap proxy agree with the humans?", "Reviewers", "Disputed attacks"):
        expect(page.get_by_role("heading", name=section, exact=True, level=2)).to_be_visible()
    for section in ("Topics by model", "Differences between models", "Drift"):
        expect(page.get_by_role("heading", name=section, exact=True, level=3)).to_be_visible()
    for email in reviewed_project.reviewer_emails:
        expect(page.get_by_role("cell", name=email, exact=True)).to_be_visible()

    # What "successful" means: the pooled share of ratings, the share of attacks, the splits each way.
    for row in (
        "share of ratings successful: valid ratings >= 3, pooled",
        "share of attacks successful: final rating >= 3",
        "counted successful",
        "counted not successful",
    ):
        expect(page.get_by_role("cell", name=row).first).to_be_visible()
    expect(page.get_by_role("cell", name="bootstrap over attacks", exact=True)).to_be_visible()
    # The proxy's AUC with the splits each way, and what the confusion table leaves out.
    for column in ("AUC, splits successful", "AUC, splits not successful", "Spearman rho with the mean valid rating"):
        expect(page.get_by_role("columnheader", name=column, exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Self-rating against the final rating", level=3)).to_contain_text("disputed, not adjudicated")

    plots = page.locator("img")
    assert [plot.get_attribute("alt") for plot in plots.all()] == list(PLOTS)
    assert_plots_drawn(plots)
    page.screenshot(path=screenshots / "results-report.png", full_page=True)

    assert requests and requests[0] == report_path.as_uri()
    assert [url for url in requests if not url.startswith(("file:", "data:"))] == []
