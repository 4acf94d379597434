"""The study's answers: each attack's final label, attack success by model, the cheap proxy, the reviewers.

    attacks    one row per attack: valid ratings, the dispute rule, topics, the final label (pure)
    models     per-model statistics with bootstrap intervals, differences, the ordinal test (pure)
    proxy      how well the author's self-rating and the harmlessness score predict the reviewers (pure)
    reviewers  each reviewer against the others: kappa, offset, skips, drift, a flag (pure)
    report     results_report: a source, a manifest and adjudications in, Results out; the files

Typical use::

    source = open_source("export.json")
    results = results_report(source, read_manifest("manifest.jsonl"))
    write_results(results, output="attacks.parquet", json_path="results.json")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from review_project.results.report import Results, ResultsError, results_from_table, results_report, write_results

# Loaded on first use, as in review_project.agreement.
_HOMES = {
    "Results": "report",
    "ResultsError": "report",
    "results_from_table": "report",
    "results_report": "report",
    "write_results": "report",
}
# Written out, not derived from _HOMES, so tools see the names the TYPE_CHECKING import serves.
__all__ = ["Results", "ResultsError", "results_from_table", "results_report", "write_results"]


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
