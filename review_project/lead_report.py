"""The lead's agreement report: a printed summary, one self-contained HTML file, and Markdown.

Everything is rendered from the typed summary (agreement.summary.Summary): a statistic without
a value shows "n/a" and its reason. The HTML makes no request of its own: plots are matplotlib
PNGs (Agg backend) inlined as base64 data URIs, styles are inline, and there are no scripts,
fonts or images from elsewhere. Transcript text appears only when the summary carries it (the
lead asked with --include-text).
"""

from __future__ import annotations

import base64
import html
import io
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from review_project.agreement.kappa import Estimate, Interval  # noqa: E402
from review_project.agreement.summary import Summary  # noqa: E402
from review_project.results.attacks import FINAL_RULE  # noqa: E402
from review_project.schema import SUCCESS_VALUES  # noqa: E402

TITLE = "Can I trust these ratings?"
# One colour per success value 0..4, from "not successful" (calm) to "very successful" (alarm).
SUCCESS_COLOURS = ("#4575b4", "#91bfdb", "#e0e0a0", "#fc8d59", "#d73027")


def _number(value, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _interval(interval: Interval, digits: int = 2) -> str:
    return "n/a" if interval.low is None else f"{interval.low:.{digits}f} to {interval.high:.{digits}f}"


def _with_reason(estimate: Estimate, digits: int = 2) -> str:
    """A value, or "n/a (why)" when it is undefined."""
    if estimate.value is not None:
        return f"{estimate.value:.{digits}f}"
    return f"n/a ({estimate.reason})" if estimate.reason else "n/a"


def _reviewer_name(summary: Summary, reviewer_id: int) -> str:
    email = next((r.email for r in summary.reviewers if r.reviewer_id == reviewer_id), None)
    return email or f"reviewer {reviewer_id}"


CI, RANGE = "CI", "range"


def _footing_label(summary: Summary) -> str:
    """The raters of the paper's footing with one reviewer more than the paper: "3 of 4 reviewers + author"."""
    kept = summary.success.paper.reviewers
    return f"{kept} of {kept + 1} reviewers + author"


def _paper_rows(summary: Summary) -> list[tuple[str, str, Estimate, Interval, str, str]]:
    """(raters, scale, this project's kappa, its interval, paper, CI or RANGE) for the comparison.

    With one reviewer more than the paper, the paper's footing (each reviewer left out in turn)
    comes first; the reviewers + author figure is beside the paper's numbers only as a
    different footing, unless the project has the paper's number of reviewers.
    """
    success, author, paper = summary.success, summary.success.with_author, summary.success.paper
    footing = success.with_author_paper_footing
    reviewers = summary.items.reviewers_per_task
    scale = f"binary (success >= {success.threshold})"
    with_author, alone = f"{reviewers} reviewers + author", f"{reviewers} reviewers"
    same_footing = reviewers == paper.reviewers
    rows = []
    if not same_footing:
        label = _footing_label(summary)
        rows += [
            (label, "raw 0-4", footing.fleiss_kappa, footing.fleiss_kappa_range, f"{paper.with_author_fleiss_kappa:.2f}", RANGE),
            (label, scale, footing.binary_fleiss_kappa, footing.binary_fleiss_kappa_range, f"{paper.with_author_binary_fleiss_kappa:.2f}", RANGE),
        ]
    other = "" if same_footing else f" ({paper.reviewers} reviewers + author)"
    return rows + [
        (with_author, "raw 0-4", author.fleiss_kappa, author.ci95, f"{paper.with_author_fleiss_kappa:.2f}{other}", CI),
        (with_author, scale, author.binary_fleiss_kappa, author.binary_ci95, f"{paper.with_author_binary_fleiss_kappa:.2f}{other}", CI),
        (alone, scale, success.binary_fleiss_kappa, success.binary_ci95, f"{paper.reviewers_binary_fleiss_kappa:.2f} ({paper.reviewers} reviewers)", CI),
        (alone, "raw 0-4", success.fleiss_kappa, success.ci95, 'not given ("modest increase")', CI),
    ]


def _interval_cell(interval: Interval, kind: str) -> str:
    """A 95% interval as "low to high"; a range of kappas says so ("range low to high")."""
    if kind == RANGE and interval.low is not None:
        return f"range {_interval(interval)}"
    return _interval(interval)


def _paper_table(summary: Summary) -> list[list[str]]:
    return [
        [raters, scale, _with_reason(value), _interval_cell(interval, kind), paper]
        for raters, scale, value, interval, paper, kind in _paper_rows(summary)
    ]


def _footing_notes(summary: Summary) -> list[str]:
    """What each footing is: which figure is like-for-like with the paper, and which is not."""
    paper = summary.success.paper
    reviewers = summary.items.reviewers_per_task
    if reviewers == paper.reviewers:
        return [f"{reviewers} reviewers + author is the paper's footing: {paper.reviewers} reviewers and the red team member's self-rating."]
    difference = reviewers - paper.reviewers
    more = f"{abs(difference)} rater{'s' if abs(difference) > 1 else ''} {'more' if difference > 0 else 'fewer'}"
    return [
        f"{_footing_label(summary)} is the paper's footing, {paper.reviewers} reviewers and the red team member's self-rating: "
        f"each task's ratings are ordered by reviewer id and each of the {paper.reviewers + 1} positions is left out in turn, "
        f"giving the mean of the {paper.reviewers + 1} kappas and their range (not a confidence interval).",
        f"{reviewers} reviewers + author has {more} than the paper: a different footing, not like-for-like with the paper's "
        f"{paper.with_author_fleiss_kappa:.2f} and {paper.with_author_binary_fleiss_kappa:.2f}.",
    ]


def headline(summary: Summary) -> str:
    """One sentence: the headline kappa, its interval and band, and what it was computed on."""
    success, items = summary.success, summary.items
    if success.fleiss_kappa.value is None:
        return f"Fleiss' kappa is not available: {success.fleiss_kappa.reason}."
    band = success.landis_koch
    interval = f", 95% CI {_interval(success.ci95)}" if success.ci95.low is not None else f" (no interval: {success.ci95.reason})"
    return (
        f"Fleiss' kappa {success.fleiss_kappa.value:.2f}{interval}: {band} agreement (Landis & Koch), "
        f"on {items.complete} of {items.total} tasks with exactly {items.reviewers_per_task} valid ratings."
    )


def _count(n: int, thing: str, things: str | None = None) -> str:
    return f"{n} {thing if n == 1 else (things or thing + 's')}"


def _exclusions(summary: Summary) -> list[str]:
    items, notes = summary.items, summary.annotations
    per_task = items.reviewers_per_task
    lines = [
        f"{_count(items.excluded_incomplete, 'task')} with fewer than {per_task} ratings (not yet reviewed, or skipped)",
        f"{_count(items.excluded_invalid, 'task')} short of ratings because of an invalid annotation",
        f"{_count(items.excluded_extra_ratings, 'task')} with more than {per_task} ratings",
        f"{_count(notes.skipped, 'skip')} (not ratings) and {_count(notes.invalid, 'invalid annotation')} (listed)",
        f"{_count(notes.replaced_by_later, 'annotation')} replaced by the same reviewer's later one",
        f"{_count(notes.edited_by_other, 'annotation')} last edited by someone other than their reviewer",
    ]
    if notes.without_reviewer:
        lines.append(f"{_count(notes.without_reviewer, 'annotation')} without a reviewer (left out)")
    return lines


def summary_text(summary: Summary) -> str:
    """The printed summary: headline, the paper's comparison, other statistics and exclusions."""
    success = summary.success
    lines = [TITLE, headline(summary)]
    lines.append(f"Binary (success >= {success.threshold}): {_with_reason(success.binary_fleiss_kappa)}, 95% CI {_interval(success.binary_ci95)}")
    lines.append("")
    lines.append("Beside the paper (Ganguli et al. 2022):")
    reasons = []
    for raters, scale, value, interval, paper, kind in _paper_rows(summary):
        # The table stays narrow: reasons go below it, each once.
        if value.value is None and value.reason:
            reasons.append(value.reason)
            ours = "n/a"
        else:
            ours = _with_reason(value)
        lines.append(f"  {raters:<26} {scale:<22} {ours:<8} {kind:<5} {_interval(interval):<14} paper {paper}")
    lines.extend(f"  (n/a: {reason})" for reason in dict.fromkeys(reasons))
    lines.extend(
        textwrap.fill(f"({note})", 100, initial_indent="  ", subsequent_indent="   ", break_on_hyphens=False)
        for note in _footing_notes(summary)
    )
    lines.append("")
    lines.append(
        f"Krippendorff's alpha: ordinal {_with_reason(success.krippendorff_alpha_ordinal)}, "
        f"nominal {_with_reason(success.krippendorff_alpha_nominal)} "
        f"({summary.items.with_two_or_more_ratings} tasks with 2+ ratings)"
    )
    spearman = success.spearman
    lines.append(
        f"Spearman of mean success with the author's rating: {_with_reason(spearman.author_rating.rho)}; "
        f"with min_harmlessness_score_transcript: {_with_reason(spearman.min_harmlessness_score_transcript.rho)}"
    )
    lines.append(f"Topics: MASI alpha {_with_reason(summary.topics.masi_alpha)}")
    if not summary.per_model:
        lines.append(f"Per model: n/a ({summary.per_model_reason})")
    else:
        lines.append("")
        lines.append("Per model:")
        for section in summary.per_model:
            lines.append(
                f"  {section.model:<28} kappa {_with_reason(section.fleiss_kappa):<8} CI {_interval(section.ci95):<14} "
                f"binary {_with_reason(section.binary_fleiss_kappa)} ({section.complete} complete tasks)"
            )
    lines.append("")
    lines.append("Left out of Fleiss' kappa:")
    lines.extend(f"  {line}" for line in _exclusions(summary))
    return "\n".join(lines)


# --- plots ---------------------------------------------------------------------------------

def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _kappa_plot(summary: Summary) -> str:
    """Point estimates with 95% intervals, and the paper's published values as diamonds."""
    success, author, paper = summary.success, summary.success.with_author, summary.success.paper
    footing = success.with_author_paper_footing
    rows = []
    if summary.items.reviewers_per_task != paper.reviewers:
        label = _footing_label(summary)
        rows += [
            (f"{label}, raw", footing.fleiss_kappa.value, footing.fleiss_kappa_range.as_list(), paper.with_author_fleiss_kappa, RANGE),
            (f"{label}, binary", footing.binary_fleiss_kappa.value, footing.binary_fleiss_kappa_range.as_list(), paper.with_author_binary_fleiss_kappa, RANGE),
        ]
        # The paper's numbers sit beside its footing only.
        published_with_author = (None, None)
    else:
        published_with_author = (paper.with_author_fleiss_kappa, paper.with_author_binary_fleiss_kappa)
    rows += [
        ("reviewers + author, raw", author.fleiss_kappa.value, author.ci95.as_list(), published_with_author[0], CI),
        ("reviewers + author, binary", author.binary_fleiss_kappa.value, author.binary_ci95.as_list(), published_with_author[1], CI),
        ("reviewers, binary", success.binary_fleiss_kappa.value, success.binary_ci95.as_list(), paper.reviewers_binary_fleiss_kappa, CI),
        ("reviewers, raw", success.fleiss_kappa.value, success.ci95.as_list(), None, CI),
    ]
    for section in summary.per_model:
        rows.append((f"{section.model}, raw", section.fleiss_kappa.value, section.ci95.as_list(), None, CI))
    figure, axes = plt.subplots(figsize=(7.5, 0.45 * len(rows) + 1.2))
    for y, (label, value, interval, published, kind) in enumerate(rows):
        if interval:
            axes.plot(interval, [y, y], color="#333333", linewidth=2, linestyle=":" if kind == RANGE else "-")
        if value is not None:
            axes.plot(value, y, "o", color="#1f77b4", markersize=7)
        if published is not None:
            axes.plot(published, y, "D", color="#d62728", markersize=6, fillstyle="none", markeredgewidth=1.5)
    for edge in (0.2, 0.4, 0.6, 0.8):
        axes.axvline(edge, color="#cccccc", linewidth=0.8, zorder=0)
    axes.set_yticks(range(len(rows)), [r[0] for r in rows])
    axes.invert_yaxis()
    lowest = [r[1] for r in rows if r[1] is not None] + [r[2][0] for r in rows if r[2]]
    axes.set_xlim(min([-0.05, *lowest]) - 0.05, 1.0)
    axes.set_xlabel("Fleiss' kappa (o this project with 95% CI, or the range of 4 dotted; \u25c7 paper)")
    return _png(figure)


def _distribution_plot(summary: Summary) -> str:
    """Each reviewer's share of each success value, as stacked bars."""
    reviewers = summary.reviewers
    shares = np.array([r.ratings.success_counts for r in reviewers], dtype=float)
    totals = shares.sum(axis=1, keepdims=True)
    shares = np.divide(shares, totals, out=np.zeros_like(shares), where=totals > 0)
    names = [f"{_reviewer_name(summary, r.reviewer_id)} (n={r.ratings.n})" for r in reviewers]
    figure, axes = plt.subplots(figsize=(7.5, 0.4 * len(reviewers) + 1.3))
    left = np.zeros(len(reviewers))
    for index, value in enumerate(SUCCESS_VALUES):
        axes.barh(names, shares[:, index], left=left, color=SUCCESS_COLOURS[index], label=value)
        left += shares[:, index]
    axes.invert_yaxis()
    axes.set_xlim(0, 1)
    axes.set_xlabel("share of the reviewer's ratings")
    axes.legend(title="success", ncols=5, loc="upper center", bbox_to_anchor=(0.5, -0.25), frameon=False)
    return _png(figure)


def _heatmap(summary: Summary) -> str:
    """Cohen's kappa between every two reviewers on the tasks they share."""
    pairs = summary.reviewer_pairs
    reviewers = pairs.reviewer_ids
    matrix = np.array([[np.nan if e.value is None else e.value for e in row] for row in pairs.cohen_kappa], dtype=float)
    size = max(4.0, 0.6 * len(reviewers) + 2)
    figure, axes = plt.subplots(figsize=(size + 1, size))
    colours = matplotlib.colormaps["RdYlGn"].with_extremes(bad="#dddddd")
    image = axes.imshow(np.ma.masked_invalid(matrix), cmap=colours, vmin=-0.2, vmax=1.0)
    names = [_reviewer_name(summary, r) for r in reviewers]
    axes.set_xticks(range(len(names)), names, rotation=45, ha="right")
    axes.set_yticks(range(len(names)), names)
    if len(reviewers) <= 15:
        for i in range(len(reviewers)):
            for j in range(len(reviewers)):
                if not np.isnan(matrix[i, j]):
                    axes.text(j, i, f"{matrix[i, j]:.2f}\n({pairs.shared_tasks[i][j]})", ha="center", va="center", fontsize=8)
    figure.colorbar(image, ax=axes, label="Cohen's kappa (shared tasks)")
    return _png(figure)


def _tag_plot(summary: Summary) -> str:
    """Per-tag Fleiss' kappa (did the reviewer pick this tag?), with each tag's prevalence."""
    tags = summary.topics.per_tag
    names = [tag.topic for tag in tags]
    values = [tag.fleiss_kappa.value for tag in tags]
    figure, axes = plt.subplots(figsize=(8, 0.32 * len(names) + 1.2))
    shown = [0.0 if v is None else v for v in values]
    axes.barh(range(len(names)), shown, color=["#bbbbbb" if v is None else "#1f77b4" for v in values])
    for y, tag in enumerate(tags):
        note = f"{tag.prevalence * 100:.1f}%" + ("" if values[y] is not None else f" - {tag.fleiss_kappa.reason}")
        axes.text(max(shown[y], 0) + 0.01, y, note, va="center", fontsize=8)
    axes.set_yticks(range(len(names)), [n if len(n) < 45 else n[:42] + "..." for n in names], fontsize=8)
    axes.invert_yaxis()
    axes.set_xlim(min([-0.1, *shown]) - 0.05, 1.15)
    axes.axvline(0, color="#333333", linewidth=0.8)
    axes.set_xlabel("Fleiss' kappa per tag (label: share of ratings with the tag)")
    return _png(figure)


# --- HTML ------------------------------------------------------------------------------------

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.7em}h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.headline{font-size:1.25em;background:#f3f6fa;border-left:5px solid #1f77b4;padding:.8em 1em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;height:auto}.note{color:#555;font-size:.9em}
pre{white-space:pre-wrap;background:#fafafa;border:1px solid #eee;padding:.5em;max-height:20em;overflow:auto}
"""


def _table(header: list[str], rows: list[list], numeric: set[int] = frozenset()) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(
            f'<td class="num">{html.escape(str(c))}</td>' if i in numeric else f"<td>{html.escape(str(c))}</td>"
            for i, c in enumerate(row)
        ) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _reviewer_rows(summary: Summary) -> list[list]:
    rows = []
    for reviewer in summary.reviewers:
        ratings, activity = reviewer.ratings, reviewer.activity
        rows.append([
            _reviewer_name(summary, reviewer.reviewer_id), ratings.n, _number(ratings.mean_success.value),
            f"{activity.skip_rate * 100:.1f}%", activity.invalid,
            _with_reason(ratings.cohen_kappa_vs_others), _with_reason(ratings.quadratic_kappa_vs_others),
            _number(activity.median_lead_time.value, 1),
        ])
    return rows


REVIEWER_HEADER = ["reviewer", "ratings", "mean success", "skip rate", "invalid", "Cohen's kappa vs others", "quadratic kappa vs others", "median seconds"]
MODEL_HEADER = ["model", "tasks", "complete", "kappa", "95% CI", "binary kappa", "binary 95% CI", "kappa with author", "alpha (ordinal)", "mean success", "mean author rating"]
DISPUTE_HEADER = ["attack_id", "task", "ratings (reviewer: value)", "author", "model", "disagreement"]
INVALID_HEADER = ["attack_id", "task", "annotation", "reviewer", "reason"]


def _model_rows(summary: Summary) -> list[list]:
    return [
        [
            s.model, s.items, s.complete, _with_reason(s.fleiss_kappa), _interval(s.ci95),
            _with_reason(s.binary_fleiss_kappa), _interval(s.binary_ci95),
            _with_reason(s.with_author.fleiss_kappa), _with_reason(s.krippendorff_alpha_ordinal),
            _number(s.mean_success.value), _number(s.mean_author_rating.value),
        ]
        for s in summary.per_model
    ]


def _dispute_rows(summary: Summary) -> list[list]:
    return [
        [
            d.attack_id, d.task_id,
            ", ".join(f"{_reviewer_name(summary, r)}: {v}" for r, v in d.ratings),
            "n/a" if d.author_rating is None else d.author_rating, d.model or "n/a", f"{d.disagreement:.2f}",
        ]
        for d in summary.disagreement
    ]


def _invalid_rows(summary: Summary) -> list[list]:
    return [
        [i.attack_id, i.task_id, i.annotation_id, i.reviewer_email or f"reviewer {i.reviewer}", i.reason]
        for i in summary.invalid_annotations
    ]


def _other_rows(summary: Summary) -> list[list]:
    success, spearman = summary.success, summary.success.spearman
    rows = [
        ["Krippendorff's alpha, ordinal (tasks with 2+ ratings)", _with_reason(success.krippendorff_alpha_ordinal, 3)],
        ["Krippendorff's alpha, nominal", _with_reason(success.krippendorff_alpha_nominal, 3)],
        [f"Krippendorff's alpha, binary (>= {success.threshold})", _with_reason(success.krippendorff_alpha_binary, 3)],
        ["Percent agreement (share of agreeing reviewer pairs)", _with_reason(success.percent_agreement, 3)],
        ["Percent agreement, binary", _with_reason(success.binary_percent_agreement, 3)],
        [f"Spearman: mean success vs author's self-rating (n={spearman.author_rating.n})", _with_reason(spearman.author_rating.rho, 3)],
        [
            f"Spearman: mean success vs min_harmlessness_score_transcript (n={spearman.min_harmlessness_score_transcript.n})",
            _with_reason(spearman.min_harmlessness_score_transcript.rho, 3),
        ],
        ["Topics: Krippendorff's alpha over tag sets (MASI)", _with_reason(summary.topics.masi_alpha, 3)],
    ]
    rows += [
        [f"Kappa of success = {value} against the rest", _with_reason(estimate, 3)]
        for value, estimate in zip(SUCCESS_VALUES, success.per_category_kappa)
    ]
    return rows


def html_report(summary: Summary, source: str = "") -> str:
    """The whole report as one self-contained HTML document."""
    esc = html.escape
    success = summary.success
    parts = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>{esc(TITLE)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{esc(TITLE)}</h1>",
        f'<p class="note">{esc(source)} - {esc(success.ci_method)}.</p>' if source else f'<p class="note">{esc(success.ci_method)}.</p>',
        f'<p class="headline">{esc(headline(summary))}</p>',
        f"<p>Binary scale (success &gt;= {success.threshold}): kappa {esc(_with_reason(success.binary_fleiss_kappa))}, "
        f"95% CI {esc(_interval(success.binary_ci95))}, {esc(success.binary_landis_koch or 'no band')}.</p>",
        "<h2>Beside the paper</h2>",
        f"<p>Ganguli et al. (2022) report Fleiss' kappa of {success.paper.reviewers} reviewers with the red team member's own "
        "self-rating as one more rater, without intervals.</p>",
        _table(["raters", "scale", "this project", "95% CI", "paper"], _paper_table(summary), {2}),
        *(f'<p class="note">{esc(note)}</p>' for note in _footing_notes(summary)),
        f'<img alt="kappa with intervals beside the paper" src="{_kappa_plot(summary)}">',
        "<h2>Other statistics</h2>",
        _table(["statistic", "value"], _other_rows(summary), {1}),
        "<h2>Reviewers</h2>",
        f'<img alt="success distribution per reviewer" src="{_distribution_plot(summary)}">' if summary.reviewers else "<p>No ratings yet.</p>",
        _table(REVIEWER_HEADER, _reviewer_rows(summary), {1, 2, 3, 4, 5, 6, 7}),
        "<h3>Reviewer by reviewer</h3>",
        f'<img alt="Cohen kappa between reviewers" src="{_heatmap(summary)}">' if len(summary.reviewers) >= 2 else "<p>Fewer than 2 reviewers.</p>",
        "<h2>Topics</h2>",
        f"<p>Agreement on each tag as a yes/no question over complete tasks; {_number((summary.topics.no_topic_share.value or 0) * 100, 1)}% "
        "of ratings carry no tag.</p>",
        f'<img alt="agreement per tag" src="{_tag_plot(summary)}">',
        "<h2>Per model</h2>",
        _table(MODEL_HEADER, _model_rows(summary), set(range(1, 11))) if summary.per_model
        else f"<p>{esc(summary.per_model_reason or 'no models')}</p>",
        "<h2>Most disputed attacks</h2>",
        "<p>Tasks with 2 or more ratings, by the mean squared difference between two reviewers' ratings.</p>",
        _table(DISPUTE_HEADER, _dispute_rows(summary), {5}) if summary.disagreement else "<p>No task with disagreement.</p>",
    ]
    for entry in summary.disagreement:
        if entry.text:
            parts.append(f"<details><summary>attack {entry.attack_id}: transcript</summary><pre>{esc(entry.text)}</pre></details>")
    parts += [
        "<h2>Invalid annotations</h2>",
        _table(INVALID_HEADER, _invalid_rows(summary)) if summary.invalid_annotations else "<p>None.</p>",
        "<h2>What was left out</h2><ul>",
        "".join(f"<li>{esc(line)}</li>" for line in _exclusions(summary)),
        "</ul></body></html>",
    ]
    return "\n".join(parts)


# --- Markdown --------------------------------------------------------------------------------

def _md_cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _md_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown_report(summary: Summary, source: str = "") -> str:
    """The report as Markdown: the same tables as the HTML; the plots are in the HTML only."""
    success = summary.success
    parts = [f"# {TITLE}", ""]
    if source:
        parts += [f"_{source} - {success.ci_method}._", ""]
    parts += [f"**{headline(summary)}**", ""]
    parts += [
        f"Binary scale (success >= {success.threshold}): kappa {_with_reason(success.binary_fleiss_kappa)}, "
        f"95% CI {_interval(success.binary_ci95)}.",
        "",
        "## Beside the paper",
        "",
        _md_table(["raters", "scale", "this project", "95% CI", "paper"], _paper_table(summary)),
        "",
        *[line for note in _footing_notes(summary) for line in (note, "")],
        "## Other statistics",
        "",
        _md_table(["statistic", "value"], _other_rows(summary)),
        "",
        "## Reviewers",
        "",
        _md_table(REVIEWER_HEADER, _reviewer_rows(summary)),
        "",
        "## Topics",
        "",
        _md_table(
            ["tag", "share of ratings", "kappa"],
            [[tag.topic, f"{tag.prevalence * 100:.1f}%", _with_reason(tag.fleiss_kappa)] for tag in summary.topics.per_tag],
        ),
        "",
        "## Per model",
        "",
        _md_table(MODEL_HEADER, _model_rows(summary)) if summary.per_model else summary.per_model_reason or "",
        "",
        "## Most disputed attacks",
        "",
        "Tasks with 2 or more ratings, by the mean squared difference between two reviewers' ratings.",
        "",
        _md_table(DISPUTE_HEADER, _dispute_rows(summary)) if summary.disagreement else "No task with disagreement.",
        "",
    ]
    for entry in summary.disagreement:
        if entry.text:
            parts += [f"<details><summary>attack {entry.attack_id}: transcript</summary>", "", "```", entry.text, "```", "</details>", ""]
    parts += [
        "## Invalid annotations",
        "",
        _md_table(INVALID_HEADER, _invalid_rows(summary)) if summary.invalid_annotations else "None.",
        "",
        "## What was left out",
        "",
        *[f"- {line}" for line in _exclusions(summary)],
        "",
    ]
    return "\n".join(parts)


# --- results: the study's answers (review-project results) -----------------------------------
# Rendered from results.report.Results, with the helpers above. Never any transcript text: the
# results carry none.

RESULTS_TITLE = "What did the review find?"
DISPUTED_SHOWN = 100
PROXY_NAMES = {"author_rating": "author's self-rating", "min_harmlessness_score_transcript": "min_harmlessness_score_transcript"}


def _signed(value, digits: int = 2) -> str:
    """A difference with its sign; one that rounds to zero shows as +0.00, not -0.00."""
    return "n/a" if value is None else f"{value + 0.0 if round(value, digits) else 0.0:+.{digits}f}"


def _p_value(value: float | None) -> str:
    if value is None:
        return "n/a"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _results_reviewer_name(reviewer) -> str:
    return reviewer.email or f"reviewer {reviewer.reviewer_id}"


def results_headline(results) -> str:
    """One sentence: attacks rated, disputed (and why), adjudicated, and how many have a final rating."""
    disputes, finals = results.dispute_counts(), results.final_counts()
    reasons = ", ".join(f"{n} {why.replace('; ', ' and ')}" for why, n in disputes.items() if n)
    adjudicated = int(results.table["adjudicated_rating"].notna().sum())
    final = finals["adjudicated"] + finals["median of the valid ratings"]
    return (
        f"{_count(results.rated, 'attack')} with a valid rating; {results.disputed} disputed"
        f"{f' ({reasons})' if reasons else ''}, {adjudicated} adjudicated; "
        f"{final} of {_count(len(results.table), 'attack')} have a final rating "
        f"({finals['disputed, not adjudicated']} disputed, not adjudicated; {finals['no valid rating']} without a valid rating)."
    )


def _results_model_rows(results) -> list[list]:
    return [
        [
            m.model, m.attacks, m.ratings, m.disputed, _with_reason(m.mean_rating), _interval(m.mean_rating_ci95),
            _with_reason(m.share_successful), _interval(m.share_successful_ci95),
        ]
        for m in results.models.per_model
    ]


def _results_difference_rows(results) -> list[list]:
    rows = []
    for d in results.models.differences:
        test = d.test
        rows.append([
            d.name, _signed(d.mean_rating.value), _interval(d.mean_rating_ci95), _signed(d.share_successful.value),
            _interval(d.share_successful_ci95),
            _signed(test.log_odds_ratio.value) if test.log_odds_ratio.value is not None else f"n/a ({test.log_odds_ratio.reason})",
            _interval(test.ci95), _p_value(test.p_value),
        ])
    return rows


def _results_proxy_rows(results) -> list[list]:
    rows = []
    for check in (results.proxy.author_rating, results.proxy.min_harmlessness_score_transcript):
        rows.append([
            PROXY_NAMES[check.name], check.attacks, check.successful, _with_reason(check.roc_auc), _interval(check.roc_auc_ci95),
            _with_reason(check.spearman), _p_value(check.spearman_p_value),
        ])
    return rows


def _results_reviewer_rows(results) -> list[list]:
    return [
        [
            _results_reviewer_name(r), r.ratings, r.shared_tasks, _with_reason(r.quadratic_kappa), _interval(r.quadratic_kappa_ci95),
            _signed(r.mean_offset.value), _interval(r.mean_offset_ci95), _percent(r.skip_rate), len(r.drift),
            "FLAGGED: " + r.flag_reason if r.flagged else "no",
        ]
        for r in results.reviewers.reviewers
    ]


def _results_disputed_rows(results) -> list[list]:
    disputed = results.table[results.table["disputed"]].head(DISPUTED_SHOWN)
    return [
        [
            row.attack_id, row.task_id, row.model or "n/a", ", ".join(str(v) for v in row.ratings), row.dispute_reason,
            "n/a" if _missing(row.adjudicated_rating) else int(row.adjudicated_rating),
            "n/a" if _missing(row.final_rating) else int(row.final_rating), row.final_reason,
        ]
        for row in disputed.itertuples()
    ]


def _missing(value) -> bool:
    return value is None or bool(pd.isna(value))


def _confusion_rows(results) -> list[list]:
    return [[f"self-rating {i}", *row] for i, row in enumerate(results.proxy.confusion.counts)]


RESULTS_MODEL_HEADER = ["model", "rated attacks", "ratings", "disputed", "mean rating", "95% CI", "share successful", "95% CI"]
RESULTS_DIFFERENCE_HEADER = [
    "first - second", "mean rating", "95% CI", "share successful", "95% CI", "ordinal log odds ratio", "95% CI", "p",
]
RESULTS_PROXY_HEADER = ["proxy", "attacks", "successful", "ROC AUC", "95% CI (DeLong)", "Spearman rho (mean rating)", "p"]
RESULTS_REVIEWER_HEADER = [
    "reviewer", "ratings", "shared tasks", "quadratic kappa vs others", "95% CI", "mean offset", "95% CI", "skip rate", "drift blocks", "flag",
]
RESULTS_DISPUTED_HEADER = ["attack_id", "task", "model", "valid ratings", "reason", "adjudicated", "final", "final rule"]
CONFUSION_HEADER = ["", *[f"final {v}" for v in SUCCESS_VALUES]]


def results_text(results) -> str:
    """The printed results: headline, by model, differences, the proxy, the reviewers."""
    threshold = results.settings.rule.threshold
    lines = [RESULTS_TITLE, results_headline(results), ""]
    if not results.models.per_model:
        lines.append(f"By model: n/a ({results.models.reason})")
    else:
        lines.append(f"By model (mean of each attack's mean rating 0-4; share of ratings >= {threshold}; 95% CI):")
        for m in results.models.per_model:
            lines.append(
                f"  {m.model:<28} {m.attacks:>6} attacks  mean {_with_reason(m.mean_rating)} ({_interval(m.mean_rating_ci95)})  "
                f"successful {_with_reason(m.share_successful)} ({_interval(m.share_successful_ci95)})"
            )
        for d in results.models.differences:
            test = d.test
            ordinal = (
                f"log odds ratio {test.log_odds_ratio.value:+.2f} ({_interval(test.ci95)}), p {_p_value(test.p_value)}"
                if test.log_odds_ratio.value is not None else f"ordinal test n/a ({test.log_odds_ratio.reason})"
            )
            lines.append(
                f"  {d.name}: mean {_signed(d.mean_rating.value)} ({_interval(d.mean_rating_ci95)}), "
                f"successful {_signed(d.share_successful.value)} ({_interval(d.share_successful_ci95)}); {ordinal}"
            )
    proxy = results.proxy
    lines += ["", f"Does the cheap proxy agree with the humans? ({proxy.successful} of {proxy.attacks} attacks successful)"]
    for check in (proxy.author_rating, proxy.min_harmlessness_score_transcript):
        if check.roc_auc.value is None:
            found = f"n/a ({check.roc_auc.reason})"
        else:
            found = f"ROC AUC {check.roc_auc.value:.2f} ({_interval(check.roc_auc_ci95)}), Spearman {_with_reason(check.spearman)}"
        lines.append(f"  {PROXY_NAMES[check.name]:<34} {found}")
    agreement = proxy.confusion.exact_agreement
    lines.append(f"  self-rating equals the final rating on {_percent(agreement.value)} of {proxy.confusion.attacks} attacks")
    lines += ["", "Reviewers (quadratic kappa against the median of the others; offset from the others' mean):"]
    for r in results.reviewers.reviewers:
        lines.append(
            f"  {_results_reviewer_name(r):<28} kappa {_with_reason(r.quadratic_kappa)} ({_interval(r.quadratic_kappa_ci95)})  "
            f"offset {_signed(r.mean_offset.value)}  skips {_percent(r.skip_rate)}{'  FLAGGED' if r.flagged else ''}"
        )
    flagged = [r for r in results.reviewers.reviewers if r.flagged]
    lines.append(f"  Flagged: {', '.join(_results_reviewer_name(r) for r in flagged) if flagged else 'none'}")
    return "\n".join(lines)


# --- results plots ---

_MODEL_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f")


def _results_model_plot(results) -> str:
    """Each model's mean rating and share successful, with 95% intervals."""
    models = results.models.per_model
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 0.55 * len(models) + 1.6), sharey=True)
    for axes, name, limit, label in (
        (left, "mean_rating", 4, "mean rating (0-4)"),
        (right, "share_successful", 1, f"share of ratings >= {results.settings.rule.threshold}"),
    ):
        for y, m in enumerate(models):
            value, interval = getattr(m, name).value, getattr(m, f"{name}_ci95").as_list()
            colour = _MODEL_COLOURS[y % len(_MODEL_COLOURS)]
            if interval:
                axes.plot(interval, [y, y], color=colour, linewidth=3, alpha=0.6)
            if value is not None:
                axes.plot(value, y, "o", color=colour, markersize=8)
        axes.set_xlim(0, limit)
        axes.set_xlabel(label)
        axes.grid(axis="x", color="#dddddd")
    left.set_yticks(range(len(models)), [f"{m.model} (n={m.attacks})" for m in models])
    left.invert_yaxis()
    figure.suptitle("By model: o estimate, bar 95% bootstrap interval", fontsize=10)
    return _png(figure)


def _results_topic_plot(results) -> str | None:
    """The share of each model's attacks carrying each consensus topic (topics some attack carries)."""
    models = results.models.per_model
    shown = [t for t in range(len(models[0].topics)) if any(m.topics[t].attacks for m in models)] if models else []
    if not shown:
        return None
    figure, axes = plt.subplots(figsize=(9, 0.38 * len(shown) * max(1, len(models)) ** 0.5 + 1.5))
    height = 0.8 / len(models)
    for index, m in enumerate(models):
        ys = np.arange(len(shown)) + index * height
        shares = [m.topics[t].share.value or 0.0 for t in shown]
        errors = np.array([
            [share - (m.topics[t].ci95.low or share), (m.topics[t].ci95.high or share) - share]
            for share, t in zip(shares, shown)
        ]).T
        axes.barh(ys, shares, height=height, color=_MODEL_COLOURS[index % len(_MODEL_COLOURS)], label=m.model)
        axes.errorbar(shares, ys, xerr=errors, fmt="none", elinewidth=0.8, ecolor="#333333")
    names = [models[0].topics[t].topic for t in shown]
    axes.set_yticks(np.arange(len(shown)) + 0.4 - height / 2, [n if len(n) < 45 else n[:42] + "..." for n in names], fontsize=8)
    axes.invert_yaxis()
    axes.set_xlim(0, 1)
    axes.set_xlabel("share of the model's rated attacks with the consensus topic (bar: 95% CI)")
    axes.legend(fontsize=8, loc="lower right")
    return _png(figure)


def _results_roc_plot(results) -> str | None:
    """ROC curves of the two proxies for "successful"."""
    checks = [c for c in (results.proxy.author_rating, results.proxy.min_harmlessness_score_transcript) if c.roc is not None]
    if not checks:
        return None
    figure, axes = plt.subplots(figsize=(5.2, 5))
    for colour, check in zip(("#1f77b4", "#d62728"), checks):
        fpr, tpr = check.roc
        axes.plot(fpr, tpr, color=colour, linewidth=2, drawstyle="default", label=f"{PROXY_NAMES[check.name]} (AUC {check.roc_auc.value:.2f})")
    axes.plot([0, 1], [0, 1], color="#999999", linestyle="--", linewidth=1, label="chance")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_xlabel("false positive rate")
    axes.set_ylabel("true positive rate")
    axes.legend(fontsize=8, loc="lower right")
    return _png(figure)


def _drift_plot(results) -> str | None:
    """Each reviewer's quadratic kappa against the others per block of tasks, in the order they rated."""
    reviewers = [r for r in results.reviewers.reviewers if r.drift]
    if not reviewers:
        return None
    figure, axes = plt.subplots(figsize=(9, 4.2))
    colours = matplotlib.colormaps["tab20"]
    for index, r in enumerate(reviewers):
        blocks = [b.block for b in r.drift]
        values = [np.nan if b.quadratic_kappa.value is None else b.quadratic_kappa.value for b in r.drift]
        style = {"linewidth": 3, "color": "#d62728"} if r.flagged else {"linewidth": 1.5, "color": colours(index % 20)}
        axes.plot(blocks, values, marker="o", markersize=5, label=_results_reviewer_name(r) + (" (flagged)" if r.flagged else ""), **style)
    axes.axhline(0, color="#333333", linewidth=0.8)
    axes.set_ylim(min(-0.2, *[b.quadratic_kappa.value for r in reviewers for b in r.drift if b.quadratic_kappa.value is not None], 0) - 0.05, 1.05)
    most = max(len(r.drift) for r in reviewers)
    axes.set_xlim(0.5, most + 0.5)
    axes.set_xticks(range(1, most + 1) if most <= 30 else np.linspace(1, most, 10).round().astype(int))
    axes.set_xlabel(f"block of {results.reviewers.block_size} shared tasks, in the order the reviewer rated them")
    axes.set_ylabel("quadratic kappa vs the others' median")
    axes.grid(color="#eeeeee")
    axes.legend(fontsize=7, ncols=2 if len(reviewers) > 6 else 1, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return _png(figure)


def _image(alt: str, source: str | None, missing: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="{source}">' if source else f"<p>{html.escape(missing)}</p>"


def results_section_html(results) -> str:
    """The results section of the lead's report (h2 headings and below), HTML."""
    esc = html.escape
    threshold = results.settings.rule.threshold
    rule = results.settings.rule
    finals = results.final_counts()
    parts = [
        f'<p class="headline">{esc(results_headline(results))}</p>',
        "<h2>Final labels</h2>",
        f"<p>Disputed: {rule.min_ratings} or more valid ratings and either exactly half of them at or above {threshold}, "
        f"or a spread of {rule.spread} or more. Final rating: {esc(FINAL_RULE)}.</p>",
        _table(["final rating set by", "attacks"], [[k, v] for k, v in finals.items()], {1}),
        "<h2>By model</h2>",
    ]
    if results.models.per_model:
        parts += [
            _table(RESULTS_MODEL_HEADER, _results_model_rows(results), {1, 2, 3, 4, 6}),
            _image("mean rating and share successful per model", _results_model_plot(results), ""),
            "<h3>Topics by model</h3>",
            _image("share of attacks per consensus topic and model", _results_topic_plot(results), "No attack has a consensus topic."),
            "<h3>Differences between models</h3>",
            f'<p class="note">{esc(results.settings.as_json()["model_test"])}.</p>',
            _table(RESULTS_DIFFERENCE_HEADER, _results_difference_rows(results), {1, 3, 5, 7})
            if results.models.differences else "<p>Only one model.</p>",
        ]
    else:
        parts.append(f"<p>{esc(results.models.reason or 'no models')}</p>")
    parts += [
        "<h2>Does the cheap proxy agree with the humans?</h2>",
        f"<p>Successful: at least half of an attack's valid ratings at or above {threshold} "
        f"({results.proxy.successful} of {results.proxy.attacks} attacks). A lower min_harmlessness_score_transcript "
        "should predict success: its AUC is of the negated score, its Spearman rho of the score itself.</p>",
        _table(RESULTS_PROXY_HEADER, _results_proxy_rows(results), {1, 2, 3, 5}),
        _image("ROC curves of the proxies", _results_roc_plot(results), "No proxy is known (give --manifest)."),
        f"<h3>Self-rating against the final rating ({results.proxy.confusion.attacks} attacks)</h3>",
        _table(CONFUSION_HEADER, _confusion_rows(results), {1, 2, 3, 4, 5}),
        "<h2>Reviewers</h2>",
        f'<p class="note">Flag rule: {esc(results.reviewers.rule)}.</p>',
        _table(RESULTS_REVIEWER_HEADER, _results_reviewer_rows(results), {1, 2, 3, 5, 7, 8}),
        "<h3>Drift</h3>",
        _image("reviewer agreement per block of tasks over time", _drift_plot(results), "No reviewer shares a task with another yet."),
        "<h2>Disputed attacks</h2>",
    ]
    disputed = results.disputed
    if disputed:
        shown = min(DISPUTED_SHOWN, int(results.table["disputed"].sum()))
        parts += [
            f"<p>{shown} of {int(results.table['disputed'].sum())} shown; the attack table (-o) lists every one.</p>",
            _table(RESULTS_DISPUTED_HEADER, _results_disputed_rows(results), {0, 1, 5, 6}),
        ]
    else:
        parts.append("<p>No attack is disputed.</p>")
    return "\n".join(parts)


def results_html_report(results, source: str = "") -> str:
    """The results as one self-contained HTML document (plots inlined, no requests)."""
    esc = html.escape
    method = results.settings.as_json()["ci_method"]
    return "\n".join([
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>{esc(RESULTS_TITLE)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{esc(RESULTS_TITLE)}</h1>",
        f'<p class="note">{esc(source)} - {esc(method)}.</p>' if source else f'<p class="note">{esc(method)}.</p>',
        results_section_html(results),
        "</body></html>",
    ])


def results_markdown_report(results, source: str = "") -> str:
    """The results as Markdown: the same tables as the HTML; the plots are in the HTML only."""
    threshold = results.settings.rule.threshold
    parts = [f"# {RESULTS_TITLE}", ""]
    if source:
        parts += [f"_{source} - {results.settings.as_json()['ci_method']}._", ""]
    parts += [
        f"**{results_headline(results)}**",
        "",
        "## Final labels",
        "",
        f"Final rating: {FINAL_RULE}.",
        "",
        _md_table(["final rating set by", "attacks"], [[k, v] for k, v in results.final_counts().items()]),
        "",
        "## By model",
        "",
    ]
    if results.models.per_model:
        parts += [
            _md_table(RESULTS_MODEL_HEADER, _results_model_rows(results)),
            "",
            "### Differences between models",
            "",
            _md_table(RESULTS_DIFFERENCE_HEADER, _results_difference_rows(results)) if results.models.differences else "Only one model.",
            "",
        ]
    else:
        parts += [results.models.reason or "", ""]
    parts += [
        "## Does the cheap proxy agree with the humans?",
        "",
        f"Successful: at least half of an attack's valid ratings at or above {threshold} "
        f"({results.proxy.successful} of {results.proxy.attacks} attacks).",
        "",
        _md_table(RESULTS_PROXY_HEADER, _results_proxy_rows(results)),
        "",
        f"Self-rating against the final rating ({results.proxy.confusion.attacks} attacks):",
        "",
        _md_table(CONFUSION_HEADER, _confusion_rows(results)),
        "",
        "## Reviewers",
        "",
        f"Flag rule: {results.reviewers.rule}.",
        "",
        _md_table(RESULTS_REVIEWER_HEADER, _results_reviewer_rows(results)),
        "",
        "## Disputed attacks",
        "",
        _md_table(RESULTS_DISPUTED_HEADER, _results_disputed_rows(results)) if results.disputed else "No attack is disputed.",
        "",
    ]
    return "\n".join(parts)
