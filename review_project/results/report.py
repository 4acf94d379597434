"""The study's answers in one call: a source, the manifest and the adjudications in, Results out; and the files.

This is what `review-project results` does between parsing its options and printing.
`results_from_table` is the same from an annotation table, with no reading at all (tests and
the benchmark call it). `Results.as_json()` is the dict `results --json` writes, a contract
documented key by key in docs/results.md: an undefined statistic is null beside its
`<name>_reason`, never NaN.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from review_project.adjudication import Adjudication
from review_project.agreement import arrays
from review_project.agreement.sources import ReviewSource, manifest_in_table
from review_project.disputes import DISPUTE_REASONS, DisputeRule
from review_project.manifest import model_key, write_atomically
from review_project.results.attacks import CONSENSUS_RULE, FINAL_REASONS, FINAL_RULE, Attacks, final_labels
from review_project.results.models import BOOTSTRAP, DEFAULT_DIFFERENCE, DEFAULT_MIN_ATTACKS, NO_MODELS, ORDINAL_METHOD, ModelResults, model_results
from review_project.results.proxy import Proxy, proxy_results
from review_project.results.reviewers import DEFAULT_BLOCK_SIZE, ReviewerResults, reviewer_results
from review_project.results.successful import Successful, successful_shares
from review_project.shared import ReviewError
from review_project.spreadsheet import neutralised

TABLE_SUFFIXES = (".parquet", ".csv", ".jsonl")


class ResultsError(ReviewError):
    """Results options or files that cannot work (names the option or file)."""

    exit_code = 2


@dataclass(frozen=True)
class ResultsSettings:
    """How the results were computed, as the JSON's `settings` says."""

    source: str | None
    rule: DisputeRule
    n_resamples: int
    seed: int
    block_size: int
    manifest: bool
    adjudications: int
    unmatched_adjudications: tuple[int, ...]

    def as_json(self) -> dict:
        return {
            "source": self.source,
            "threshold": self.rule.threshold,
            "dispute_rule": {"threshold": self.rule.threshold, "spread": self.rule.spread, "min_ratings": self.rule.min_ratings},
            "n_resamples": self.n_resamples,
            "seed": self.seed,
            "drift_block_size": self.block_size,
            "manifest": self.manifest,
            "adjudications": self.adjudications,
            "adjudications_not_in_project": list(self.unmatched_adjudications),
            "final_rule": FINAL_RULE,
            "consensus_rule": CONSENSUS_RULE,
            "ci_method": BOOTSTRAP + f", {self.n_resamples} resamples, seed {self.seed}",
            "model_test": ORDINAL_METHOD,
        }


@dataclass(frozen=True, eq=False)  # holds tables
class Results:
    """Everything `results` reports: the attacks, the shares successful, by model, the proxy, the reviewers, the settings."""

    attacks: Attacks
    successful: Successful
    models: ModelResults
    proxy: Proxy
    reviewers: ReviewerResults
    settings: ResultsSettings

    @property
    def table(self) -> pd.DataFrame:
        """One row per attack (attacks.COLUMNS)."""
        return self.attacks.table

    @property
    def rated(self) -> int:
        """Attacks with at least one valid rating."""
        table = self.table
        return int(table.loc[table["n_ratings"] > 0, "attack_id"].nunique())

    @property
    def disputed(self) -> int:
        table = self.table
        return int(table.loc[table["disputed"], "attack_id"].nunique())

    def final_counts(self) -> dict[str, int]:
        """Attacks (tasks) by how their final rating was set, in the order of attacks.FINAL_REASONS."""
        found = self.table["final_reason"].value_counts()
        return {reason: int(found.get(reason, 0)) for reason in FINAL_REASONS}

    def dispute_counts(self) -> dict[str, int]:
        """Attacks (tasks) by dispute reason, in the order of disputes.DISPUTE_REASONS."""
        found = self.table["dispute_reason"].value_counts()
        return {reason: int(found.get(reason, 0)) for reason in DISPUTE_REASONS}

    def as_json(self) -> dict:
        settings = {**self.settings.as_json(), "reviewer_flag_rule": self.reviewers.rule}
        return {
            "attacks": self.rated,
            "disputed": self.disputed,
            "tasks": int(len(self.table)),
            "dispute_reasons": self.dispute_counts(),
            "adjudicated": int(self.table["adjudicated_rating"].notna().sum()),
            "final_ratings": self.final_counts(),
            **self.successful.as_json(),
            **self.models.as_json(),  # per_model, per_model_reason, model_differences, model_tests
            "proxy": self.proxy.as_json(),
            "reviewers": self.reviewers.as_json(),
            "settings": settings,
        }


def results_from_table(
    table: pd.DataFrame,
    manifest: list[dict] | None = None,
    tasks: pd.DataFrame | None = None,
    adjudications: Mapping[int, Adjudication] | None = None,
    *,
    rule: DisputeRule = DisputeRule(),
    n_resamples: int = 2000,
    seed: int = 0,
    block_size: int = DEFAULT_BLOCK_SIZE,
    source: str | None = None,
    min_attacks: int = DEFAULT_MIN_ATTACKS,
    target_difference: float | None = DEFAULT_DIFFERENCE,
) -> Results:
    """The results of an annotation table (export.COLUMNS), with the same inclusion rules as `agreement`.

    tasks : optional DataFrame (task_id, attack_id) of every task, so unannotated attacks get a
    row; adjudications : attack_id -> Adjudication; target_difference : the difference in mean
    rating the review is planned to detect (each pair's power at completion, from the manifest).
    """
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    reviewed = arrays.reviews(table, manifest, tasks)
    found = final_labels(reviewed.arrays, adjudications, rule)
    rows = found.table
    final_reason = rows["final_reason"].to_numpy()
    models = model_results(
        found.counts, found.consensus, rows["model"].to_numpy(), rows["disputed"].to_numpy(),
        rule.threshold, n_resamples, seed, final_rating=found.final_rating, min_attacks=min_attacks,
        attacks_planned=None if manifest is None else Counter(model_key(r) for r in manifest if r.get("model_type") is not None),
        target_difference=target_difference,
    )
    if manifest is not None and models.reason == NO_MODELS:
        # A manifest was given: "no manifest" would be false; say what is missing instead.
        models = dataclasses.replace(models, reason=_no_model_reason(rows))
    return Results(
        attacks=found,
        successful=successful_shares(found.counts, found.final_rating, final_reason, rule.threshold, n_resamples, seed),
        models=models,
        proxy=proxy_results(
            found.final_rating, final_reason, rows["share_successful"].to_numpy(), rows["mean_rating"].to_numpy(),
            rows["author_rating"].to_numpy(), rows["min_harmlessness_score_transcript"].to_numpy(), rule.threshold,
        ),
        reviewers=reviewer_results(reviewed.arrays, reviewed.latest, block_size, n_resamples, seed),
        settings=ResultsSettings(
            source=source,
            rule=rule,
            n_resamples=n_resamples,
            seed=seed,
            block_size=block_size,
            manifest=manifest is not None,
            adjudications=len(adjudications or {}),
            unmatched_adjudications=found.unmatched_adjudications,
        ),
    )


def _no_model_reason(rows: pd.DataFrame) -> str:
    """Why no model is known although a manifest was given."""
    if rows.empty:
        return "no rated attack (the source holds no task)"
    return "no attack of the source is in the manifest (its model is unknown)"


def results_report(
    source: ReviewSource,
    manifest: list[dict] | None = None,
    adjudications: Mapping[int, Adjudication] | None = None,
    *,
    rule: DisputeRule = DisputeRule(),
    n_resamples: int = 2000,
    seed: int = 0,
    block_size: int = DEFAULT_BLOCK_SIZE,
    min_attacks: int = DEFAULT_MIN_ATTACKS,
    target_difference: float | None = DEFAULT_DIFFERENCE,
) -> Results:
    """The results of a source (agreement.sources.open_source).

    manifest : the sample manifest's records; without one, the manifest fields `export
    --manifest` joined into a table serve. adjudications : attack_id -> Adjudication (from the
    adjudication project). Transcripts are never read.
    """
    if manifest is None:
        manifest = manifest_in_table(source.table)
    return results_from_table(
        source.table, manifest, source.tasks, adjudications, rule=rule, n_resamples=n_resamples, seed=seed,
        block_size=block_size, source=source.label, min_attacks=min_attacks, target_difference=target_difference,
    )


def write_results(
    results: Results,
    *,
    output: str | os.PathLike | None = None,
    json_path: str | os.PathLike | None = None,
    html_path: str | os.PathLike | None = None,
    md_path: str | os.PathLike | None = None,
) -> None:
    """Write the attack table (-o), the JSON, and the lead's results report (HTML, Markdown), each when given."""
    if output:
        write_attack_table(results.table, output)
    if json_path:
        write_atomically(json_path, json.dumps(results.as_json(), indent=2, allow_nan=False, ensure_ascii=False) + "\n")
    if html_path or md_path:
        # The renderers load matplotlib: only when a report is drawn.
        from review_project import lead_report

        label = results.settings.source or ""
        if html_path:
            write_atomically(html_path, lead_report.results_html_report(results, label))
        if md_path:
            write_atomically(md_path, lead_report.results_markdown_report(results, label))


_LIST_COLUMNS = ("ratings", "consensus_topics", "adjudicated_topics", "final_topics", "topic_votes")


def write_attack_table(table: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write the attack table as .parquet, .csv or .jsonl (by suffix).

    Lists stay lists and topic_votes a topic -> votes map in Parquet and JSON Lines; CSV holds
    them as JSON text. Missing values are null (empty in CSV), never NaN.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ResultsError(f"{path}: unknown table format {suffix or '(none)'}: use .parquet, .csv or .jsonl")
    if suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = _arrow_schema(pa)
        # An empty table has no values to say its list columns hold lists: the schema says it.
        arrow = schema.empty_table() if table.empty else pa.Table.from_pandas(table, schema=schema, preserve_index=False)
        temporary = path.with_name(f".{path.name}.partial")
        try:
            pq.write_table(arrow, temporary)
            os.replace(temporary, path)
        except OSError as error:
            temporary.unlink(missing_ok=True)
            raise ResultsError(f"{path}: cannot be written ({error.strerror or error})") from None
    elif suffix == ".csv":
        flat = table.copy()
        for column in _LIST_COLUMNS:
            flat[column] = [None if value is None else json.dumps(value, ensure_ascii=False) for value in flat[column]]
        write_atomically(path, neutralised(flat).to_csv(index=False))
    else:
        write_atomically(path, table.to_json(orient="records", lines=True, force_ascii=False))


def _arrow_schema(pa):
    integer, number, text = pa.int64(), pa.float64(), pa.string()
    topics = pa.list_(text)
    return pa.schema(
        [
            ("attack_id", integer), ("task_id", integer), ("model", text), ("ratings", pa.list_(integer)),
            ("n_ratings", integer), ("mean_rating", number), ("median_rating", number), ("share_successful", number),
            ("spread", integer), ("disputed", pa.bool_()), ("dispute_reason", text),
            ("topic_votes", pa.map_(text, integer)), ("consensus_topics", topics), ("adjudicated_rating", integer),
            ("adjudicated_topics", topics), ("final_rating", integer), ("final_topics", topics), ("final_reason", text),
            ("author_rating", number), ("min_harmlessness_score_transcript", number), ("invalid_annotations", integer),
        ]
    )
