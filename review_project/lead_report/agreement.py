"""The agreement report: a printed summary, one self-contained HTML file, and Markdown.

Everything is rendered from the typed summary (agreement.summary.Summary): a statistic without
a value shows "n/a" and its reason. Transcript text appears only when the summary carries it
(the lead asked with --include-text).
"""

from __future__ import annotations

import html
import textwrap


from review_project.agreement.kappa import Estimate, Interval
from review_project.agreement.success import ALL_TASKS_CI, CONDITIONAL, ICC_CI
from review_project.agreement.summary import Summary
from review_project.lead_report.agreement_plots import (
    CI,
    RANGE,
    distribution_plot,
    footing_label,
    kappa_plot,
    reviewer_heatmap,
    reviewer_name,
    tag_plot,
)
from review_project.lead_report.render import (
    STYLE,
    count_of,
    fmt_estimate,
    fmt_interval,
    fmt_number,
    html_table,
    md_code_block,
    md_table,
)
from review_project.schema import SUCCESS_VALUES

TITLE = "Can I trust these ratings?"


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
        label = footing_label(summary)
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
        return f"range {fmt_interval(interval)}"
    return fmt_interval(interval)


def _paper_table(summary: Summary) -> list[list[str]]:
    return [
        [raters, scale, fmt_estimate(value), _interval_cell(interval, kind), paper]
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
        f"{footing_label(summary)} is the paper's footing, {paper.reviewers} reviewers and the red team member's self-rating: "
        f"each task's ratings are ordered by reviewer id and each of the {paper.reviewers + 1} positions is left out in turn, "
        f"giving the mean of the {paper.reviewers + 1} kappas and their range (not a confidence interval).",
        f"{reviewers} reviewers + author has {more} than the paper: a different footing, not like-for-like with the paper's "
        f"{paper.with_author_fleiss_kappa:.2f} and {paper.with_author_binary_fleiss_kappa:.2f}.",
    ]


def _with_interval(estimate: Estimate, interval: Interval) -> str:
    """"0.58 (95% CI 0.49 to 0.68)", or "n/a (why)"."""
    if estimate.value is None:
        return fmt_estimate(estimate)
    return f"{estimate.value:.2f} (95% CI {fmt_interval(interval)})" if interval.low is not None else f"{estimate.value:.2f} (no interval: {interval.reason})"


def headline(summary: Summary) -> str:
    """One sentence: the measures that respect the order of the scale, with what they were computed on."""
    success = summary.success
    icc = success.icc
    block = f" on the {icc.n} tasks rated by the same {icc.k} reviewers" if icc.icc_2_1.value is not None else ""
    return (
        f"Ordinal agreement over the {success.tasks_with_two_or_more_ratings} tasks with 2 or more valid ratings: "
        f"Krippendorff's alpha (ordinal) {fmt_estimate(success.krippendorff_alpha_ordinal)}; "
        f"Gwet's AC2 (ordinal weights) {_with_interval(success.gwet_ac2_ordinal.value, success.gwet_ac2_ordinal.ci95)}; "
        f"ICC(2,1) {_with_interval(icc.icc_2_1, icc.icc_2_1_ci95)}{block}."
    )


def precision_line(summary: Summary) -> str:
    """One sentence: Fleiss' kappa's half-width now, and projected to the attacks planned, against the target."""
    projection = summary.precision.projection
    now, target = projection.half_width_now, projection.target_half_width
    if now is None:
        why = summary.success.fleiss_kappa_all_tasks.ci95.reason or "no interval yet"
        return f"Precision: n/a, Fleiss' kappa over every task has no interval ({why})."
    rated = count_of(projection.attacks_now, "attack")
    planned, projected = projection.attacks_planned, projection.projected_half_width
    where = {"manifest": " of the manifest", "project": " of the project"}.get(summary.precision.planned_from, "")
    line = f"Precision: Fleiss' kappa (every task with 2+ ratings) +/- {now:.3f}"
    if projected is None:
        return f"{line} now, over the {rated} with 2 or more valid ratings; at completion: unknown ({projection.projected_half_width_reason})."
    if planned == projection.attacks_now:
        line += f" over all {count_of(planned, 'attack')}{where}"
    else:
        line += (f" now, over the {rated} with 2 or more valid ratings; projected +/- {projected:.3f} once the "
                 f"{count_of(planned, 'attack')}{where} are rated")
    if target is None:
        return line + "."
    if projection.target_met:
        return line + f": within the planned +/- {target:g}."
    return line + f": short of the planned +/- {target:g} (about {projection.attacks_needed:,} attacks would reach it)."


def paper_figure(summary: Summary) -> str:
    """One sentence: the paper's figure, Fleiss' kappa of the tasks with exactly --reviewers-per-task ratings."""
    success, items = summary.success, summary.items
    if success.fleiss_kappa.value is None:
        return f"The paper's figure: Fleiss' kappa is not available: {success.fleiss_kappa.reason}."
    band = success.landis_koch
    interval = f", 95% CI {fmt_interval(success.ci95)}" if success.ci95.low is not None else f" (no interval: {success.ci95.reason})"
    return (
        f"The paper's figure: Fleiss' kappa {success.fleiss_kappa.value:.2f}{interval}: {band} agreement (Landis & Koch), "
        f"on the {items.complete} of {items.total} tasks with exactly {items.reviewers_per_task} valid ratings."
    )


ORDINAL_HEADING = "Agreement that respects the order of the 0-4 scale (every task with 2 or more valid ratings)"
NOMINAL_HEADING = "Agreement on categories, every category equally far from the others (every task with 2 or more valid ratings)"
MEASURE_HEADER = ["measure", "value", "95% CI", "computed on"]


def _measure_rows(summary: Summary) -> tuple[list[tuple], list[tuple]]:
    """(ordinal rows, nominal rows), each (label, Estimate, Interval or None, what it was computed on)."""
    success, icc = summary.success, summary.success.icc
    tasks = count_of(success.tasks_with_two_or_more_ratings, "task")
    block = f"{count_of(icc.n, 'task')} x the same {icc.k} reviewers" if icc.k else "no block of tasks x reviewers"
    k = icc.k or "k"
    ordinal_rows = [
        ("Krippendorff's alpha, ordinal", success.krippendorff_alpha_ordinal, None, tasks),
        ("ICC(2,1): one reviewer's rating, absolute agreement", icc.icc_2_1, icc.icc_2_1_ci95, block),
        (f"ICC(2,{k}): the mean of {k} reviewers' ratings", icc.icc_2_k, icc.icc_2_k_ci95, block),
        ("Gwet's AC2, ordinal weights", success.gwet_ac2_ordinal.value, success.gwet_ac2_ordinal.ci95, tasks),
    ]
    nominal_rows = [
        ("Fleiss' kappa, 0-4, any number of ratings per task", success.fleiss_kappa_all_tasks.value, success.fleiss_kappa_all_tasks.ci95, tasks),
        (f"Fleiss' kappa, binary (success >= {success.threshold}), any number of ratings per task",
         success.binary_fleiss_kappa_all_tasks.value, success.binary_fleiss_kappa_all_tasks.ci95, tasks),
        ("Gwet's AC1, 0-4, unweighted", success.gwet_ac1.value, success.gwet_ac1.ci95, tasks),
    ]
    return ordinal_rows, nominal_rows


def _measure_table(rows: list[tuple]) -> list[list[str]]:
    return [
        [label, fmt_estimate(value), "not computed" if interval is None else fmt_interval(interval), where]
        for label, value, interval, where in rows
    ]


def _interval_notes(summary: Summary) -> list[str]:
    """How the intervals were made, and, once, that they are conditional on these reviewers."""
    success = summary.success
    return [
        f"Intervals: Gwet's AC and Fleiss' kappa over every task, {ALL_TASKS_CI}; ICC, {ICC_CI}; "
        f"the paper's figure, {success.ci_method}.",
        CONDITIONAL,
    ]


LEFT_OUT = "What was left out"


def _tasks_read(summary: Summary) -> str:
    """What the source listed: whether tasks nobody annotated are among the tasks counted."""
    items = summary.items
    listed = items.source_lists_unannotated_tasks
    if items.total == 0:
        return "0 tasks read"
    if listed:
        return f"{count_of(items.total, 'task')} read, tasks nobody has annotated included ({items.without_rating} without a valid rating yet)"
    if listed is False:
        return (
            f"{count_of(items.total, 'task')} read: a table lists only tasks with an annotation, so tasks nobody has annotated "
            "yet are not counted here (--project counts them, or keep the export's audit copy beside the table)"
        )
    return (
        f"{count_of(items.total, 'task')} read, each with an annotation: an export of annotated tasks only leaves out the "
        "tasks nobody has annotated yet, which are then not counted here (--project counts them)"
    )


def _exclusions(summary: Summary) -> list[str]:
    items, notes = summary.items, summary.annotations
    per_task = items.reviewers_per_task
    paper = "from the paper's equal-n Fleiss' kappa:"
    lines = [
        _tasks_read(summary),
        f"{count_of(items.total - items.with_two_or_more_ratings, 'task')} with fewer than 2 valid ratings: left out of every agreement measure",
        f"{paper} {count_of(items.excluded_incomplete, 'task')} with fewer than {per_task} valid ratings (not yet reviewed, or skipped)",
        f"{paper} {count_of(items.excluded_invalid, 'task')} short of ratings because of an invalid annotation",
        f"{paper} {count_of(items.excluded_extra_ratings, 'task')} with more than {per_task} valid ratings",
        f"{count_of(notes.skipped, 'skip')} (not ratings) and {count_of(notes.invalid, 'invalid annotation')} (listed)",
        f"{count_of(notes.replaced_by_later, 'annotation')} replaced by the same reviewer's later one",
        f"{count_of(notes.edited_by_other, 'annotation')} last edited by someone other than their reviewer",
    ]
    if notes.without_reviewer:
        lines.append(f"{count_of(notes.without_reviewer, 'annotation')} without a reviewer (left out)")
    return lines


def summary_text(summary: Summary) -> str:
    """The printed summary: headline, the paper's comparison, other statistics and exclusions."""
    success = summary.success
    lines = [TITLE, headline(summary), precision_line(summary), ""]
    for heading, rows in zip((ORDINAL_HEADING, NOMINAL_HEADING), _measure_rows(summary)):
        lines.append(f"{heading}:")
        for label, value, interval, where in _measure_table(rows):
            lines.append(f"  {label:<72} {value:<8} 95% CI {interval:<16} {where}")
    lines.extend(
        textwrap.fill(f"({note})", 100, initial_indent="  ", subsequent_indent="   ", break_on_hyphens=False)
        for note in _interval_notes(summary)
    )
    lines.append("")
    lines.append(paper_figure(summary))
    lines.append(f"  Binary (success >= {success.threshold}): {fmt_estimate(success.binary_fleiss_kappa)}, 95% CI {fmt_interval(success.binary_ci95)}")
    lines.append("")
    lines.append("Beside the paper (Ganguli et al. 2022):")
    reasons = []
    for raters, scale, value, interval, paper, kind in _paper_rows(summary):
        # The table stays narrow: reasons go below it, each once.
        if value.value is None and value.reason:
            reasons.append(value.reason)
            ours = "n/a"
        else:
            ours = fmt_estimate(value)
        lines.append(f"  {raters:<26} {scale:<22} {ours:<8} {kind:<5} {fmt_interval(interval):<14} paper {paper}")
    lines.extend(f"  (n/a: {reason})" for reason in dict.fromkeys(reasons))
    lines.extend(
        textwrap.fill(f"({note})", 100, initial_indent="  ", subsequent_indent="   ", break_on_hyphens=False)
        for note in _footing_notes(summary)
    )
    lines.append("")
    lines.append(
        f"Krippendorff's alpha, nominal: {fmt_estimate(success.krippendorff_alpha_nominal)} "
        f"({summary.items.with_two_or_more_ratings} tasks with 2+ ratings)"
    )
    spearman = success.spearman
    lines.append(
        f"Spearman's rho of each task's mean valid rating with the author's self-rating: {fmt_estimate(spearman.author_rating.rho)}; "
        f"with min_harmlessness_score_transcript: {fmt_estimate(spearman.min_harmlessness_score_transcript.rho)}"
    )
    lines.append(f"Topics: MASI alpha {fmt_estimate(summary.topics.masi_alpha)}")
    if not summary.per_model:
        lines.append(f"Per model: n/a ({summary.per_model_reason})")
    else:
        lines.append("")
        lines.append("Per model:")
        for section in summary.per_model:
            lines.append(
                f"  {section.model:<28} AC2 {fmt_estimate(section.gwet_ac2_ordinal.value):<8} "
                f"kappa {fmt_estimate(section.fleiss_kappa_all_tasks.value):<8} CI {fmt_interval(section.fleiss_kappa_all_tasks.ci95):<14} "
                f"({section.tasks_with_two_or_more_ratings} tasks with 2+ ratings); "
                f"paper's kappa {fmt_estimate(section.fleiss_kappa)} ({section.complete} complete tasks)"
            )
        if summary.model_kappa_differences:
            lines.append(f"  {DIFFERENCES_NOTE}:")
            for row in _difference_rows(summary):
                lines.append(f"    {row[0]:<56} {row[1]:<8} CI {row[2]:<16} binary {row[3]:<8} CI {row[4]}")
    lines.append("")
    lines.append(f"{LEFT_OUT}:")
    lines.extend(f"  {line}" for line in _exclusions(summary))
    return "\n".join(lines)


# --- HTML ------------------------------------------------------------------------------------


def _reviewer_rows(summary: Summary) -> list[list]:
    rows = []
    for reviewer in summary.reviewers:
        ratings, activity = reviewer.ratings, reviewer.activity
        rows.append([
            reviewer_name(summary, reviewer.reviewer_id), ratings.n, fmt_number(ratings.mean_success.value),
            f"{activity.skip_rate * 100:.1f}%", activity.invalid,
            fmt_estimate(ratings.cohen_kappa_vs_others), fmt_estimate(ratings.quadratic_kappa_vs_others),
            fmt_number(activity.median_lead_time.value, 1),
        ])
    return rows


REVIEWER_HEADER = ["reviewer", "ratings", "mean success", "skip rate", "invalid", "Cohen's kappa vs others", "quadratic kappa vs others", "median seconds"]
MODEL_HEADER = [
    "model", "tasks", "tasks with 2+ ratings", "alpha (ordinal)", "AC2 (ordinal)", "AC2 95% CI", "ICC(2,1)",
    "kappa, all tasks", "kappa 95% CI", "binary kappa, all tasks", "complete", "paper's kappa (complete)", "paper's 95% CI",
    "paper's kappa with author", "mean valid rating", "mean author rating",
]
DIFFERENCE_HEADER = ["first - second", "kappa difference", "95% CI", "binary kappa difference", "binary 95% CI"]
DIFFERENCES_NOTE = (
    "Differences of Fleiss' kappa over each model's tasks with 2+ ratings, first - second, "
    "95% percentile bootstrap interval over attacks (resampled within each model)"
)
DISPUTE_HEADER = ["attack_id", "task", "ratings (reviewer: value)", "author", "model", "disagreement"]
INVALID_HEADER = ["attack_id", "task", "annotation", "reviewer", "reason"]


def _model_rows(summary: Summary) -> list[list]:
    return [
        [
            s.model, s.items, s.tasks_with_two_or_more_ratings, fmt_estimate(s.krippendorff_alpha_ordinal),
            fmt_estimate(s.gwet_ac2_ordinal.value), fmt_interval(s.gwet_ac2_ordinal.ci95), fmt_estimate(s.icc.icc_2_1),
            fmt_estimate(s.fleiss_kappa_all_tasks.value), fmt_interval(s.fleiss_kappa_all_tasks.ci95),
            fmt_estimate(s.binary_fleiss_kappa_all_tasks.value), s.complete, fmt_estimate(s.fleiss_kappa), fmt_interval(s.ci95),
            fmt_estimate(s.with_author.fleiss_kappa), fmt_number(s.mean_success.value), fmt_number(s.mean_author_rating.value),
        ]
        for s in summary.per_model
    ]


def _difference_rows(summary: Summary) -> list[list[str]]:
    return [
        [
            " - ".join(d.models), fmt_estimate(d.fleiss_kappa_all_tasks), fmt_interval(d.fleiss_kappa_all_tasks_ci95),
            fmt_estimate(d.binary_fleiss_kappa_all_tasks), fmt_interval(d.binary_fleiss_kappa_all_tasks_ci95),
        ]
        for d in summary.model_kappa_differences
    ]


def _dispute_rows(summary: Summary) -> list[list]:
    return [
        [
            d.attack_id, d.task_id,
            ", ".join(f"{reviewer_name(summary, r)}: {v}" for r, v in d.ratings),
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
        ["Krippendorff's alpha, nominal (tasks with 2+ ratings)", fmt_estimate(success.krippendorff_alpha_nominal, 3)],
        [f"Krippendorff's alpha, binary (>= {success.threshold}; tasks with 2+ ratings)", fmt_estimate(success.krippendorff_alpha_binary, 3)],
        ["Percent agreement: mean share of agreeing reviewer pairs per complete task", fmt_estimate(success.percent_agreement, 3)],
        [f"Percent agreement, binary (>= {success.threshold}), complete tasks", fmt_estimate(success.binary_percent_agreement, 3)],
        [f"Spearman's rho: each task's mean valid rating vs the author's self-rating (n={spearman.author_rating.n})", fmt_estimate(spearman.author_rating.rho, 3)],
        [
            f"Spearman's rho: each task's mean valid rating vs min_harmlessness_score_transcript (n={spearman.min_harmlessness_score_transcript.n})",
            fmt_estimate(spearman.min_harmlessness_score_transcript.rho, 3),
        ],
        ["Topics: Krippendorff's alpha over tag sets (MASI)", fmt_estimate(summary.topics.masi_alpha, 3)],
    ]
    rows += [
        [f"Kappa of success = {value} against the rest (complete tasks)", fmt_estimate(estimate, 3)]
        for value, estimate in zip(SUCCESS_VALUES, success.per_category_kappa)
    ]
    return rows


def html_report(summary: Summary, source: str = "") -> str:
    """The whole report as one self-contained HTML document."""
    esc = html.escape
    success = summary.success
    parts = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>{esc(TITLE)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{esc(TITLE)}</h1>",
        f'<p class="note">{esc(source)} - {esc(success.ci_method)}.</p>' if source else f'<p class="note">{esc(success.ci_method)}.</p>',
        f'<p class="headline">{esc(headline(summary))}</p>',
        f'<p class="precision">{esc(precision_line(summary))}</p>',
        *(
            part
            for heading, rows in zip((ORDINAL_HEADING, NOMINAL_HEADING), _measure_rows(summary))
            for part in (f"<h2>{esc(heading)}</h2>", html_table(MEASURE_HEADER, _measure_table(rows), {1, 2}))
        ),
        *(f'<p class="note">{esc(note)}</p>' for note in _interval_notes(summary)),
        "<h2>The paper's figure</h2>",
        f"<p>{esc(paper_figure(summary))}</p>",
        f"<p>Binary scale (success &gt;= {success.threshold}): kappa {esc(fmt_estimate(success.binary_fleiss_kappa))}, "
        f"95% CI {esc(fmt_interval(success.binary_ci95))}, {esc(success.binary_landis_koch or 'no band')}.</p>",
        "<h2>Beside the paper</h2>",
        f"<p>Ganguli et al. (2022) report Fleiss' kappa of {success.paper.reviewers} reviewers with the red team member's own "
        "self-rating as one more rater, without intervals.</p>",
        html_table(["raters", "scale", "this project", "95% CI", "paper"], _paper_table(summary), {2}),
        *(f'<p class="note">{esc(note)}</p>' for note in _footing_notes(summary)),
        f'<img alt="kappa with intervals beside the paper" src="{kappa_plot(summary)}">',
        "<h2>Other statistics</h2>",
        html_table(["statistic", "value"], _other_rows(summary), {1}),
        "<h2>Reviewers</h2>",
        f'<img alt="success distribution per reviewer" src="{distribution_plot(summary)}">' if summary.reviewers else "<p>No ratings yet.</p>",
        html_table(REVIEWER_HEADER, _reviewer_rows(summary), {1, 2, 3, 4, 5, 6, 7}),
        "<h3>Reviewer by reviewer</h3>",
        f'<img alt="Cohen kappa between reviewers" src="{reviewer_heatmap(summary)}">' if len(summary.reviewers) >= 2 else "<p>Fewer than 2 reviewers.</p>",
        "<h2>Topics</h2>",
        f"<p>Agreement on each tag as a yes/no question over complete tasks; {fmt_number((summary.topics.no_topic_share.value or 0) * 100, 1)}% "
        "of ratings carry no tag.</p>",
        f'<img alt="agreement per tag" src="{tag_plot(summary)}">',
        "<h2>Per model</h2>",
        html_table(MODEL_HEADER, _model_rows(summary), set(range(1, len(MODEL_HEADER)))) if summary.per_model
        else f"<p>{esc(summary.per_model_reason or 'no models')}</p>",
        *(
            (f"<p>{esc(DIFFERENCES_NOTE)}.</p>", html_table(DIFFERENCE_HEADER, _difference_rows(summary), {1, 2, 3, 4}))
            if summary.model_kappa_differences else ()
        ),
        "<h2>Most disputed attacks</h2>",
        "<p>Tasks with 2 or more ratings, by the mean squared difference between two reviewers' ratings.</p>",
        html_table(DISPUTE_HEADER, _dispute_rows(summary), {5}) if summary.disagreement else "<p>No task with disagreement.</p>",
    ]
    for entry in summary.disagreement:
        if entry.text:
            parts.append(f"<details><summary>attack {entry.attack_id}: transcript</summary><pre>{esc(entry.text)}</pre></details>")
    parts += [
        "<h2>Invalid annotations</h2>",
        html_table(INVALID_HEADER, _invalid_rows(summary)) if summary.invalid_annotations else "<p>None.</p>",
        f"<h2>{LEFT_OUT}</h2><ul>",
        "".join(f"<li>{esc(line)}</li>" for line in _exclusions(summary)),
        "</ul></body></html>",
    ]
    return "\n".join(parts)


# --- Markdown --------------------------------------------------------------------------------


def markdown_report(summary: Summary, source: str = "") -> str:
    """The report as Markdown: the same tables as the HTML; the plots are in the HTML only."""
    success = summary.success
    parts = [f"# {TITLE}", ""]
    if source:
        parts += [f"_{source} - {success.ci_method}._", ""]
    parts += [f"**{headline(summary)}**", "", precision_line(summary), ""]
    for heading, rows in zip((ORDINAL_HEADING, NOMINAL_HEADING), _measure_rows(summary)):
        parts += [f"## {heading}", "", md_table(MEASURE_HEADER, _measure_table(rows)), ""]
    parts += [line for note in _interval_notes(summary) for line in (f"_{note}_", "")]
    parts += [
        "## The paper's figure",
        "",
        paper_figure(summary),
        "",
        f"Binary scale (success >= {success.threshold}): kappa {fmt_estimate(success.binary_fleiss_kappa)}, "
        f"95% CI {fmt_interval(success.binary_ci95)}.",
        "",
        "## Beside the paper",
        "",
        md_table(["raters", "scale", "this project", "95% CI", "paper"], _paper_table(summary)),
        "",
        *[line for note in _footing_notes(summary) for line in (note, "")],
        "## Other statistics",
        "",
        md_table(["statistic", "value"], _other_rows(summary)),
        "",
        "## Reviewers",
        "",
        md_table(REVIEWER_HEADER, _reviewer_rows(summary)),
        "",
        "## Topics",
        "",
        md_table(
            ["tag", "share of ratings", "kappa"],
            [[tag.topic, f"{tag.prevalence * 100:.1f}%", fmt_estimate(tag.fleiss_kappa)] for tag in summary.topics.per_tag],
        ),
        "",
        "## Per model",
        "",
        md_table(MODEL_HEADER, _model_rows(summary)) if summary.per_model else summary.per_model_reason or "",
        "",
        *((f"{DIFFERENCES_NOTE}.", "", md_table(DIFFERENCE_HEADER, _difference_rows(summary)), "") if summary.model_kappa_differences else ()),
        "## Most disputed attacks",
        "",
        "Tasks with 2 or more ratings, by the mean squared difference between two reviewers' ratings.",
        "",
        md_table(DISPUTE_HEADER, _dispute_rows(summary)) if summary.disagreement else "No task with disagreement.",
        "",
    ]
    for entry in summary.disagreement:
        if entry.text:
            parts += [f"<details><summary>attack {entry.attack_id}: transcript</summary>", "", md_code_block(entry.text), "</details>", ""]
    parts += [
        "## Invalid annotations",
        "",
        md_table(INVALID_HEADER, _invalid_rows(summary)) if summary.invalid_annotations else "None.",
        "",
        f"## {LEFT_OUT}",
        "",
        *[f"- {line}" for line in _exclusions(summary)],
        "",
    ]
    return "\n".join(parts)
