"""The agreement report in one call: a source and a manifest in, the summary out; and its files.

This is what `review-project agreement` does between parsing its options and printing.
"""

from __future__ import annotations

import json
import os

from review_project.agreement.sources import ReviewSource, manifest_in_table, transcript_texts
from review_project.agreement.summary import Summary, summarise
from review_project.manifest import write_atomically
from review_project.planning import DEFAULT_HALF_WIDTH


def agreement_report(
    source: ReviewSource,
    manifest: list[dict] | None = None,
    *,
    threshold: int = 3,
    n_resamples: int = 2000,
    seed: int = 0,
    top_disagreements: int = 20,
    include_text: bool = False,
    target_half_width: float | None = DEFAULT_HALF_WIDTH,
) -> Summary:
    """The agreement summary of a source (see sources.open_source).

    manifest : the sample manifest's records; without one, the manifest fields `export
    --manifest` joined into a table serve. include_text : put the transcripts of the most
    disputed attacks in the summary (offensive text: only when the lead asks). target_half_width :
    the planned half-width of kappa's interval, for the summary's `precision`.
    """
    if manifest is None:
        manifest = manifest_in_table(source.table)
    return summarise(
        source.table, manifest, source.tasks, reviewers_per_task=source.reviewers_per_task, threshold=threshold,
        n_resamples=n_resamples, seed=seed, top_disagreements=top_disagreements,
        texts=transcript_texts(source, manifest) if include_text else None, source=source.label,
        lists_every_task=source.lists_every_task, target_half_width=target_half_width,
    )


def write_reports(
    summary: Summary,
    *,
    json_path: str | os.PathLike | None = None,
    html_path: str | os.PathLike | None = None,
    md_path: str | os.PathLike | None = None,
) -> None:
    """Write the summary as JSON, the lead's HTML report and its Markdown, each when given a path."""
    # The renderers load matplotlib: only when a report is drawn.
    from review_project import lead_report

    label = summary.settings.source or ""
    if json_path:
        write_atomically(json_path, json.dumps(summary.as_json(), indent=2, allow_nan=False, ensure_ascii=False) + "\n")
    if html_path:
        write_atomically(html_path, lead_report.html_report(summary, label))
    if md_path:
        write_atomically(md_path, lead_report.markdown_report(summary, label))
