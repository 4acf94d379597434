"""Agreement between the reviewers: can the lead trust the ratings?

    kappa         the numeric core: Fleiss, Krippendorff, Cohen, the bootstrap (numpy arrays in)
    ordinal       every task with 2+ ratings: ICC(2,1)/ICC(2,k), Gwet's AC1/AC2, Fleiss' kappa for any n;
                  Spearman's rho
    arrays        an annotation table and the manifest to arrays, by the inclusion rules
    contract      the JSON rule (null beside `<name>_reason`) and the one walker every record's JSON uses
    summary       summarise and statistics: every statistic as the typed Summary, and its JSON (pure)
    success       the headline (every task with 2+ ratings), Spearman, the precision
    paper         the paper's equal-n figure: Fleiss' kappa of complete tasks, with the author, its footing
    models        per model, and the kappa difference of every two models
    topics        the topic tags: per-tag kappa, MASI alpha
    reviewers     each reviewer against the others, every pair, what each did
    disagreement  the most disputed tasks
    items         how every task and annotation counted; the manifest check
    sources       where the annotations come from: an export file, a table, a live project (all the reads)
    report        agreement_report: a source and a manifest in, the Summary out; write_reports

Typical use::

    source = open_source("export.json")
    summary = agreement_report(source, read_manifest("manifest.jsonl"))
    write_reports(summary, html_path="report.html")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from review_project.agreement.report import agreement_report, write_reports
    from review_project.agreement.sources import ReviewSource, SourceError, open_source
    from review_project.agreement.summary import Summary, summarise

# Loaded on first use, so the numeric core (kappa) imports with numpy alone, not pandas, scipy
# or the Label Studio SDK.
_HOMES = {
    "agreement_report": "report",
    "write_reports": "report",
    "ReviewSource": "sources",
    "SourceError": "sources",
    "open_source": "sources",
    "Summary": "summary",
    "summarise": "summary",
}
# Written out, not derived from _HOMES, so tools see the names the TYPE_CHECKING import serves.
__all__ = ["ReviewSource", "SourceError", "Summary", "agreement_report", "open_source", "summarise", "write_reports"]


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
