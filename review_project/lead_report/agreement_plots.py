"""The plots of the agreement report, and the names they share with its tables.

Each plot is a matplotlib figure (Agg backend, from render) returned as a PNG data URI.
"""

from __future__ import annotations

import numpy as np

from review_project.agreement.summary import Summary
from review_project.lead_report.render import SUCCESS_COLOURS, png_data_uri, pyplot
from review_project.schema import SUCCESS_VALUES


def reviewer_name(summary: Summary, reviewer_id: int) -> str:
    """How the reports name a reviewer: their email, else "reviewer <id>"."""
    email = next((r.email for r in summary.reviewers if r.reviewer_id == reviewer_id), None)
    return email or f"reviewer {reviewer_id}"


CI, RANGE = "CI", "range"  # what the bar around a kappa is: a 95% interval, or the range of the left-one-out kappas


def footing_label(summary: Summary) -> str:
    """The raters of the paper's footing with one reviewer more than the paper: "3 of 4 reviewers + author"."""
    kept = summary.success.paper.reviewers
    return f"{kept} of {kept + 1} reviewers + author"


def kappa_plot(summary: Summary) -> str:
    """Point estimates with 95% intervals, and the paper's published values as diamonds."""
    plt = pyplot()
    success, author, paper = summary.success, summary.success.with_author, summary.success.paper
    footing = success.with_author_paper_footing
    rows = []
    if summary.items.reviewers_per_task != paper.reviewers:
        label = footing_label(summary)
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
    return png_data_uri(figure)


def distribution_plot(summary: Summary) -> str:
    """Each reviewer's share of each success value, as stacked bars."""
    plt = pyplot()
    reviewers = summary.reviewers
    shares = np.array([r.ratings.success_counts for r in reviewers], dtype=float)
    totals = shares.sum(axis=1, keepdims=True)
    shares = np.divide(shares, totals, out=np.zeros_like(shares), where=totals > 0)
    names = [f"{reviewer_name(summary, r.reviewer_id)} (n={r.ratings.n})" for r in reviewers]
    figure, axes = plt.subplots(figsize=(7.5, 0.4 * len(reviewers) + 1.3))
    left = np.zeros(len(reviewers))
    for index, value in enumerate(SUCCESS_VALUES):
        axes.barh(names, shares[:, index], left=left, color=SUCCESS_COLOURS[index], label=value)
        left += shares[:, index]
    axes.invert_yaxis()
    axes.set_xlim(0, 1)
    axes.set_xlabel("share of the reviewer's ratings")
    axes.legend(title="success", ncols=5, loc="upper center", bbox_to_anchor=(0.5, -0.25), frameon=False)
    return png_data_uri(figure)


def reviewer_heatmap(summary: Summary) -> str:
    """Cohen's kappa between every two reviewers on the tasks they share."""
    plt = pyplot()
    pairs = summary.reviewer_pairs
    reviewers = pairs.reviewer_ids
    matrix = np.array([[np.nan if e.value is None else e.value for e in row] for row in pairs.cohen_kappa], dtype=float)
    size = max(4.0, 0.6 * len(reviewers) + 2)
    figure, axes = plt.subplots(figsize=(size + 1, size))
    colours = plt.colormaps["RdYlGn"].with_extremes(bad="#dddddd")
    image = axes.imshow(np.ma.masked_invalid(matrix), cmap=colours, vmin=-0.2, vmax=1.0)
    names = [reviewer_name(summary, r) for r in reviewers]
    axes.set_xticks(range(len(names)), names, rotation=45, ha="right")
    axes.set_yticks(range(len(names)), names)
    if len(reviewers) <= 15:
        for i in range(len(reviewers)):
            for j in range(len(reviewers)):
                if not np.isnan(matrix[i, j]):
                    axes.text(j, i, f"{matrix[i, j]:.2f}\n({pairs.shared_tasks[i][j]})", ha="center", va="center", fontsize=8)
    figure.colorbar(image, ax=axes, label="Cohen's kappa (shared tasks)")
    return png_data_uri(figure)


def tag_plot(summary: Summary) -> str:
    """Per-tag Fleiss' kappa (did the reviewer pick this tag?), with each tag's prevalence."""
    plt = pyplot()
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
    return png_data_uri(figure)
