"""The plots of the results report, and the names they share with its tables.

Each plot is a matplotlib figure (Agg backend, from render) returned as a PNG data URI, or None
when there is nothing to draw.
"""

from __future__ import annotations

import numpy as np

from review_project.lead_report.render import png_data_uri, pyplot

PROXY_NAMES = {"author_rating": "author's self-rating", "min_harmlessness_score_transcript": "min_harmlessness_score_transcript"}


def reviewer_name(reviewer) -> str:
    """How the reports name a reviewer: their email, else "reviewer <id>"."""
    return reviewer.email or f"reviewer {reviewer.reviewer_id}"


_MODEL_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f")


def model_plot(results) -> str:
    """Each model's mean rating and pooled share of ratings successful, with 95% intervals."""
    plt = pyplot()
    models = results.models.per_model
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 0.55 * len(models) + 1.6), sharey=True)
    for axes, name, limit, label in (
        (left, "mean_rating", 4, "mean rating (0-4)"),
        (right, "share_of_ratings_successful", 1, f"pooled share of ratings >= {results.settings.rule.threshold}"),
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
    figure.suptitle("By model: o estimate, bar 95% bootstrap interval over attacks (none below --min-attacks)", fontsize=10)
    return png_data_uri(figure)


def topic_plot(results) -> str | None:
    """The share of each model's attacks carrying each consensus topic (topics some attack carries)."""
    plt = pyplot()
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
    return png_data_uri(figure)


def roc_plot(results) -> str | None:
    """ROC curves of the two proxies for "successful"."""
    plt = pyplot()
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
    return png_data_uri(figure)


def drift_plot(results) -> str | None:
    """Each reviewer's quadratic kappa against the others per block of tasks, in the order they rated."""
    plt = pyplot()
    reviewers = [r for r in results.reviewers.reviewers if r.drift]
    if not reviewers:
        return None
    figure, axes = plt.subplots(figsize=(9, 4.2))
    colours = plt.colormaps["tab20"]
    for index, r in enumerate(reviewers):
        blocks = [b.block for b in r.drift]
        values = [np.nan if b.quadratic_kappa.value is None else b.quadratic_kappa.value for b in r.drift]
        style = {"linewidth": 3, "color": "#d62728"} if r.flagged else {"linewidth": 1.5, "color": colours(index % 20)}
        axes.plot(blocks, values, marker="o", markersize=5, label=reviewer_name(r) + (" (flagged)" if r.flagged else ""), **style)
    axes.axhline(0, color="#333333", linewidth=0.8)
    axes.set_ylim(min(-0.2, *[b.quadratic_kappa.value for r in reviewers for b in r.drift if b.quadratic_kappa.value is not None], 0) - 0.05, 1.05)
    most = max(len(r.drift) for r in reviewers)
    axes.set_xlim(0.5, most + 0.5)
    axes.set_xticks(range(1, most + 1) if most <= 30 else np.linspace(1, most, 10).round().astype(int))
    axes.set_xlabel(f"block of {results.reviewers.block_size} shared tasks, in the order the reviewer rated them")
    axes.set_ylabel("quadratic kappa vs the others' median")
    axes.grid(color="#eeeeee")
    axes.legend(fontsize=7, ncols=2 if len(reviewers) > 6 else 1, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return png_data_uri(figure)
