"""The lead's report: what it says, that it stays self-contained, and that a browser draws it."""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from review_project.agreement import summarise
from review_project.agreement.kappa import Estimate
from review_project.export import annotation_table
from review_project.lead_report import html_report, markdown_report, summary_text
from tests.test_agreement_summary import annotation, random_project, record, task

SENTINEL = "SENTINEL transcript words"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def summary():
    tasks, manifest = random_project(60, seed=2)
    for attack in manifest:
        attack["transcript"] = f"\n\nHuman: {SENTINEL}"
    # one invalid annotation and a reviewer whose email needs escaping
    tasks[0]["annotations"][0]["result"][0]["value"]["choices"] = ["7"]
    table = annotation_table(tasks, {1: "<b>ann</b>@example.com"})
    return summarise(table, manifest, n_resamples=200)


def test_printed_summary_leads_with_the_headline_and_the_paper(summary):
    text = summary_text(summary)
    first, second = text.splitlines()[:2]
    assert first == "Can I trust these ratings?"
    success = summary.success
    kappa, low, high = success.fleiss_kappa.value, success.ci95.low, success.ci95.high
    assert second.startswith(f"Ordinal agreement over the {success.tasks_with_two_or_more_ratings} tasks with 2 or more valid ratings: ")
    assert f"The paper's figure: Fleiss' kappa {kappa:.2f}, 95% CI {low:.2f} to {high:.2f}: {success.landis_koch} agreement" in text
    assert "paper 0.32" in text and "paper 0.49" in text and "paper 0.55 (3 reviewers)" in text
    assert "rlhf 52B" in text and "context distillation 52B" in text
    assert "1 invalid annotation (listed)" in text
    assert SENTINEL not in text


def test_html_is_self_contained_and_has_every_section(summary):
    page = html_report(summary, "export.json")
    assert page.startswith("<!DOCTYPE html>")
    # No request of its own: no scripts, stylesheets, fonts or remote images.
    assert "<script" not in page.lower() and "<link" not in page.lower() and "@import" not in page and "url(" not in page
    sources = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert len(sources) == 4 and all(s.startswith("data:image/png;base64,") for s in sources)
    for heading in ("Beside the paper", "Other statistics", "Reviewers", "Reviewer by reviewer", "Topics", "Per model",
                    "Most disputed attacks", "Invalid annotations", "What was left out"):
        assert f">{heading}</h" in page
    assert f"{summary.success.fleiss_kappa.value:.2f}" in page
    for published in ("0.32", "0.49", "0.55 (3 reviewers)"):
        assert f"<td>{published}</td>" in page
    assert "rlhf 52B" in page
    assert "success &#x27;7&#x27; outside 0-4" in page  # the invalid annotation, escaped
    assert "&lt;b&gt;ann&lt;/b&gt;@example.com" in page and "<b>ann</b>" not in page
    for disputed in summary.disagreement:
        assert f"<td>{disputed.attack_id}</td>" in page
    assert SENTINEL not in page


def test_transcripts_appear_only_when_the_summary_carries_them():
    tasks = [
        task(1, 11, annotation(1, 1, 0), annotation(2, 2, 4), annotation(3, 3, 0), annotation(4, 4, 4)),
        task(2, 22, annotation(5, 1, 1), annotation(6, 2, 1), annotation(7, 3, 2), annotation(8, 4, 1)),
    ]
    plain = summarise(annotation_table(tasks), n_resamples=100)
    assert SENTINEL not in html_report(plain) and SENTINEL not in markdown_report(plain)
    with_text = summarise(annotation_table(tasks), n_resamples=100, texts={11: f"Human: {SENTINEL} <i>"})
    assert f"Human: {SENTINEL} &lt;i&gt;" in html_report(with_text)
    assert SENTINEL in markdown_report(with_text)


def test_markdown_keeps_a_transcript_and_a_reviewers_email_as_text():
    """A transcript holding a fence cannot end its code block, and an email holding HTML or
    Markdown shows as written: rendered by a CommonMark parser, neither becomes markup."""
    from markdown_it import MarkdownIt

    hostile = "Human: hi\n```\n<script>alert(1)</script>\n# not a heading\n````\n[click](http://x)"
    tasks = [
        task(1, 11, annotation(1, 1, 0), annotation(2, 2, 4), annotation(3, 3, 0), annotation(4, 4, 4)),
        task(2, 22, annotation(5, 1, 1), annotation(6, 2, 1), annotation(7, 3, 2), annotation(8, 4, 1)),
    ]
    emails = {1: "<img src=x onerror=alert(1)>@example.com", 2: "*bold*|[link](http://x)@example.com"}
    report = markdown_report(summarise(annotation_table(tasks, emails), n_resamples=100, texts={11: hostile}))
    page = MarkdownIt("commonmark").enable("table").render(report)
    assert "<script" not in page and "<img" not in page and '<a href="http://x"' not in page and "<strong>bold" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # in the code block, as text
    assert "&lt;img src=x onerror=alert(1)&gt;@example.com" in page and "*bold*|[link](http://x)@example.com" in page


def test_markdown_has_the_same_tables(summary):
    text = markdown_report(summary, "export.json")
    assert text.startswith("# Can I trust these ratings?")
    assert "| raters | scale | this project | 95% CI | paper |" in text
    assert "| 4 reviewers + author | raw 0-4 |" in text
    assert "## Per model" in text and "| rlhf 52B |" in text
    assert "## Invalid annotations" in text and "success '7' outside 0-4" in text
    assert "data:image" not in text and SENTINEL not in text


def test_a_degenerate_project_renders_with_reasons():
    same = [task(i, i, *[annotation(10 * i + r, r + 1, 2) for r in range(4)]) for i in range(1, 4)]
    summary = summarise(annotation_table(same), [record(i, 2) for i in range(1, 4)], n_resamples=100)
    text = summary_text(summary)
    assert "Fleiss' kappa is not available: every rating is the same (category 2)." in text
    page = html_report(summary)
    assert "n/a (every rating is the same (category 2))" in page
    assert "No task with disagreement." in page
    assert "n/a (every rating is the same (category 2))" in markdown_report(summary)


def test_reasons_come_from_the_typed_values_whatever_their_words(summary):
    # The printed comparison puts each reason once below the table; a reason that reads like a
    # rendered value is still only a reason, and a value without one is a bare "n/a".
    author = replace(
        summary.success.with_author,
        fleiss_kappa=Estimate(None, "n/a (looks rendered)"),
        binary_fleiss_kappa=Estimate(None, None),
    )
    changed = replace(summary, success=replace(summary.success, with_author=author))
    lines = summary_text(changed).splitlines()
    rows = [line for line in lines if line.startswith("  4 reviewers + author")]
    assert len(rows) == 2 and all(f" {'n/a':<8} CI " in row for row in rows)
    assert lines.count("  (n/a: n/a (looks rendered))") == 1
    assert not any(line.startswith("  (n/a: None") for line in lines)
    assert "<td class=\"num\">n/a (n/a (looks rendered))</td>" in html_report(changed)


@pytest.mark.browser
def test_headless_chromium_draws_the_report(summary, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(html_report(summary, "export.json"), encoding="utf-8")
    shot = tmp_path / "report.png"
    completed = subprocess.run(
        [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1366,2000",
            page.as_uri(),
        ],
        capture_output=True, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape[:2] == (2000, 1366)
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) > 200  # text, tables and the embedded plots, not a blank page
    not_white = (pixels < 240).any(axis=2).mean()
    assert not_white > 0.05
    # The kappa plot's blue markers: the embedded PNGs were decoded and drawn.
    blue = (np.abs(pixels.astype(int) - [31, 119, 180]).sum(axis=2) < 40).sum()
    assert blue > 100
