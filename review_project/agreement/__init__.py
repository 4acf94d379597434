"""Agreement between the reviewers: can the lead trust the ratings?

    kappa    the numeric core: Fleiss, Krippendorff, Cohen, the bootstrap (numpy arrays in)
    arrays   an annotation table and the manifest to arrays, by the inclusion rules
    summary  every statistic of the lead's summary (pure)
    sources  where the annotations come from: an export file, a table, a live project (all the reads)
    report   agreement_report: a source and a manifest in, the summary out; write_reports

Typical use::

    source = open_source("export.json")
    summary = agreement_report(source, read_manifest("manifest.jsonl"))
    write_reports(summary, html_path="report.html")
"""

from review_project.agreement.report import agreement_report, write_reports
from review_project.agreement.sources import ReviewSource, SourceError, open_source
from review_project.agreement.summary import summarise

__all__ = ["ReviewSource", "SourceError", "agreement_report", "open_source", "summarise", "write_reports"]
