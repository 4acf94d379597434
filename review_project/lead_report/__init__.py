"""The lead's reports, printed, as one self-contained HTML file, and as Markdown.

    render           what both are drawn with: numbers as text, tables, the style, inlined PNG plots
    agreement        "Can I trust these ratings?" (review-project agreement)
    agreement_plots  its plots, and the reviewer and footing names its tables share
    results          "What did the review find?" (review-project results)
    results_plots    its plots, and the proxy and reviewer names its tables share

The HTML makes no request of its own: plots are matplotlib PNGs (Agg backend) inlined as base64
data URIs, styles are inline, and there are no scripts, fonts or images from elsewhere.
"""

from review_project.lead_report.agreement import (
    TITLE,
    headline,
    html_report,
    markdown_report,
    summary_text,
)
from review_project.lead_report.results import (
    RESULTS_TITLE,
    results_headline,
    results_html_report,
    results_markdown_report,
    results_section_html,
    results_text,
)

__all__ = [
    "RESULTS_TITLE",
    "TITLE",
    "headline",
    "html_report",
    "markdown_report",
    "results_headline",
    "results_html_report",
    "results_markdown_report",
    "results_section_html",
    "results_text",
    "summary_text",
]
