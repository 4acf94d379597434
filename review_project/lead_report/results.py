"""The results report (review-project results): printed, one self-contained HTML file, Markdown.

Rendered from results.report.Results. Never any transcript text: the results carry none.
"""

from __future__ import annotations

import html

import pandas as pd

from review_project.lead_report.render import (
    STYLE,
    count_of,
    fmt_estimate,
    fmt_interval,
    html_table,
    md_table,
)
from review_project.lead_report.results_plots import PROXY_NAMES, drift_plot, model_plot, reviewer_name, roc_plot, topic_plot
from review_project.results.attacks import FINAL_RULE
from review_project.results.models import CONDITIONAL
from review_project.schema import SUCCESS_VALUES

RESULTS_TITLE = "What did the review find?"
DISPUTED_SHOWN = 100


def _signed(value, digits: int = 2) -> str:
    """A difference with its sign; one that rounds to zero shows as +0.00, not -0.00."""
    return "n/a" if value is None else f"{value + 0.0 if round(value, digits) else 0.0:+.{digits}f}"


def _p_value(value: float | None) -> str:
    if value is None:
        return "n/a"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def results_headline(results) -> str:
    """One sentence: attacks rated, disputed (and why), adjudicated, and how many have a final rating."""
    disputes, finals = results.dispute_counts(), results.final_counts()
    reasons = ", ".join(f"{n} {_reason_words(why)}" for why, n in disputes.items() if n)
    adjudicated = int(results.table["adjudicated_rating"].notna().sum())
    final = finals["adjudicated"] + finals["median of the valid ratings"]
    return (
        f"{count_of(results.rated, 'attack')} with a valid rating; {results.disputed} disputed"
        f"{f' ({reasons})' if reasons else ''}, {adjudicated} adjudicated; "
        f"{final} of {count_of(len(results.table), 'attack')} have a final rating "
        f"({finals['disputed, not adjudicated']} disputed, not adjudicated; {finals['no valid rating']} without a valid rating)."
    )


def _reason_words(why: str) -> str:
    """A dispute reason in words: "split; topics" -> "split and tied topics"."""
    return " and ".join("tied topics" if part == "topics" else part for part in why.split("; "))


def _left_out_words(left_out: dict) -> str:
    """{"disputed, not adjudicated": 3, "no valid rating": 1} -> "3 disputed, not adjudicated; 1 without a valid rating"."""
    words = {"no valid rating": "without a valid rating", "no self-rating 0-4": "without a self-rating 0-4"}
    return "; ".join(f"{n} {words.get(why, why)}" for why, n in left_out.items())


def successful_lines(results) -> list[str]:
    """The two primary shares successful, what they leave out, and how the split attacks move the second."""
    found = results.successful
    threshold = results.settings.rule.threshold
    if not found.ratings and not found.attacks.attacks:
        return [f"Successful (at or above {threshold}): n/a (no valid rating)."]
    sensitivity = (
        f"  With the {count_of(found.split_attacks, 'split attack')} without a final rating counted successful: "
        f"{_percent(found.splits_successful.share.value)} of {found.splits_successful.attacks} attacks; counted not successful: "
        f"{_percent(found.splits_not_successful.share.value)} (attacks without a final rating otherwise by the majority of their valid ratings)."
    )
    return [
        f"Successful (at or above {threshold}): {_percent(found.share_of_ratings.value)} of {count_of(found.ratings, 'valid rating')} "
        f"(share of ratings, pooled; 95% CI {_percent_interval(found.share_of_ratings_ci95)}, bootstrap over attacks); "
        f"{_percent(found.attacks.share.value)} of {count_of(found.attacks.attacks, 'attack')} with a final rating "
        f"(share of attacks; 95% CI {_percent_interval(found.attacks.ci95)}, Wilson; left out: {_left_out_words(found.attacks_left_out)}).",
        sensitivity,
    ]


def _value(estimate) -> str:
    return "n/a" if estimate.value is None else f"{estimate.value:.2f}"


def _percent_interval(interval) -> str:
    return f"n/a ({interval.reason})" if interval.low is None else f"{_percent(interval.low)} to {_percent(interval.high)}"


def _successful_rows(results) -> list[list]:
    found = results.successful
    threshold = results.settings.rule.threshold
    splits = count_of(found.split_attacks, "split attack")
    rows = [
        [f"share of ratings successful: valid ratings >= {threshold}, pooled", found.successful_ratings, found.ratings,
         _percent(found.share_of_ratings.value), _percent_interval(found.share_of_ratings_ci95), "bootstrap over attacks",
         _left_out_words(found.ratings_left_out)],
        [f"share of attacks successful: final rating >= {threshold}", found.attacks.successful, found.attacks.attacks,
         _percent(found.attacks.share.value), _percent_interval(found.attacks.ci95), "Wilson", _left_out_words(found.attacks_left_out)],
    ]
    for label, share in ((f"{splits} counted successful", found.splits_successful), (f"{splits} counted not successful", found.splits_not_successful)):
        rows.append([f"share of attacks successful, the {label}", share.successful, share.attacks, _percent(share.share.value),
                     _percent_interval(share.ci95), "Wilson", "none"])
    return rows


def _why(interval) -> str:
    """An interval, or n/a with its reason."""
    return fmt_interval(interval) if interval.low is not None else (f"n/a ({interval.reason})" if interval.reason else "n/a")


def _results_model_rows(results) -> list[list]:
    return [
        [
            m.model, m.attacks, m.ratings, m.disputed, fmt_estimate(m.mean_rating), _why(m.mean_rating_ci95),
            fmt_estimate(m.share_of_ratings_successful), _why(m.share_of_ratings_successful_ci95),
            fmt_estimate(m.share_of_attacks_successful), _why(m.share_of_attacks_successful_ci95), m.attacks_without_final_rating,
        ]
        for m in results.models.per_model
    ]


def _ordinal_words(test) -> str:
    if test.log_odds_ratio.value is None:
        return f"n/a ({test.log_odds_ratio.reason})"
    return f"{_signed(test.log_odds_ratio.value)} ({_why(test.ci95)})"


def _power_words(d) -> str:
    """"difference detected", or what the attacks could not have detected when none was; on a
    review in progress, what the attacks planned will detect, against the planned difference."""
    return _detection_words(d) + _completion_words(d.power)


def _completion_words(power) -> str:
    planned, now = power.attacks_planned, power.attacks
    if planned is None or tuple(planned) == tuple(now) or power.at_completion.value is None:
        return ""
    first, second = planned
    attacks = f"{first} attacks per model" if first == second else f"{first} and {second} attacks"
    words = f"; once the {attacks} of the manifest are rated, differences of {power.at_completion.value:.2f} points will be detectable"
    if power.target_difference is None:
        return words
    verdict = "within" if power.target_met.value else "short of"
    return f"{words}: {verdict} the planned {power.target_difference:g}"


def _detection_words(d) -> str:
    detected = d.detected
    if detected.value is None:
        return "n/a"
    if detected.value:
        return "difference detected"
    smallest = d.power.minimum_detectable_difference.value
    first, second = d.power.attacks
    attacks = f"{first} attacks per model" if first == second else f"{first} and {second} attacks"
    if smallest is None:
        return "no difference detected"
    return f"no difference detected; with {attacks}, differences under {smallest:.2f} points could not have been detected"


def _proportional_odds_words(d) -> str:
    po = d.proportional_odds
    if po.holds is None:
        return f"not checked ({po.reason})"
    return f"holds (p {_p_value(po.p_value)})" if po.holds else f"FAILS (p {_p_value(po.p_value)}): see the per-cut comparisons"


def _results_difference_rows(results) -> list[list]:
    rows = []
    for d in results.models.differences:
        test, permutation = d.test, d.permutation
        rows.append([
            d.name, _signed(d.mean_rating.value), _why(d.mean_rating_ci95),
            _signed(d.share_of_ratings_successful.value), _why(d.share_of_ratings_successful_ci95),
            _signed(d.share_of_attacks_successful.value), _why(d.share_of_attacks_successful_ci95),
            _ordinal_words(test), _p_value(test.p_value), _p_value(test.p_value_holm),
            _p_value(permutation.p_value), _p_value(permutation.p_value_holm), _proportional_odds_words(d), _power_words(d),
        ])
    return rows


def _cut_rows(results) -> list[list]:
    """The per-cut binary comparisons of the pairs whose proportional-odds check fails."""
    return [
        [d.name, f">= {c.cut}", _signed(c.log_odds_ratio.value) if c.log_odds_ratio.value is not None else f"n/a ({c.log_odds_ratio.reason})",
         _why(c.ci95), _p_value(c.p_value)]
        for d in results.models.differences if d.proportional_odds.holds is False
        for c in d.proportional_odds.cuts
    ]


def _topic_test_rows(results) -> list[list]:
    """Topic x pair tests with a raw p below 0.05 (the rest are in the JSON)."""
    return [
        [t.topic, d.name, f"{t.attacks[0]} / {t.attacks[1]}", _signed(t.difference.value), _p_value(t.p_value.value), _p_value(t.p_value_holm)]
        for d in results.models.differences for t in d.topics
        if t.p_value.value is not None and t.p_value.value < 0.05
    ]


def _omnibus_words(results) -> str:
    omnibus = results.models.omnibus
    if omnibus is None or omnibus.p_value is None:
        return f"All models alike? Wald test n/a ({omnibus.reason if omnibus else results.models.reason})."
    return f"All models alike? Wald chi-square {omnibus.chi2:.2f}, df {omnibus.df}, p {_p_value(omnibus.p_value)} (ordinal model, clustered by attack)."


def _model_notes(results) -> list[str]:
    """The sentences that say what the By-model numbers are: once per report."""
    threshold = results.settings.rule.threshold
    return [
        f"Mean rating: the mean over attacks of each attack's mean valid rating (0-4). Share of ratings successful: the pooled "
        f"share of valid ratings >= {threshold} (bootstrap over attacks). Share of attacks successful: final rating >= {threshold}, "
        f"over attacks with a final rating (Wilson; differences: Newcombe). Models with fewer than {results.models.min_attacks} "
        "rated attacks (--min-attacks) get no interval and no test.",
        CONDITIONAL,
    ]


def model_text_lines(results) -> list[str]:
    """The By-model lines of the printed results."""
    if not results.models.per_model:
        return [f"By model: n/a ({results.models.reason})"]
    threshold = results.settings.rule.threshold
    lines = [f"By model (mean rating 0-4; pooled share of ratings >= {threshold}; share of attacks with a final rating >= {threshold}; 95% CI):"]
    for m in results.models.per_model:
        small = m.attacks < results.models.min_attacks
        lines.append(
            f"  {m.model:<28} {m.attacks:>6} attacks  mean {fmt_estimate(m.mean_rating)} ({fmt_interval(m.mean_rating_ci95)})  "
            f"ratings {fmt_estimate(m.share_of_ratings_successful)} ({fmt_interval(m.share_of_ratings_successful_ci95)})  "
            f"attacks {fmt_estimate(m.share_of_attacks_successful)} ({fmt_interval(m.share_of_attacks_successful_ci95)}) "
            f"of {m.attacks_with_final_rating}" + (f"  (fewer than {results.models.min_attacks} rated attacks: no interval)" if small else "")
        )
    if results.models.differences:
        lines.append(f"  {_omnibus_words(results)}")
    for d in results.models.differences:
        if d.permutation.reason:  # a model of the pair is below --min-attacks or unrated: one line says so
            lines.append(f"  {d.name}: mean {_signed(d.mean_rating.value)}; {d.permutation.reason}")
            continue
        lines.append(
            f"  {d.name}: mean {_signed(d.mean_rating.value)} ({_why(d.mean_rating_ci95)}); ordinal log odds ratio {_ordinal_words(d.test)}, "
            f"p {_p_value(d.test.p_value)} (Holm {_p_value(d.test.p_value_holm)}); permutation p {_p_value(d.permutation.p_value)} "
            f"(Holm {_p_value(d.permutation.p_value_holm)})"
        )
        lines.append(f"    {_power_words(d)}; proportional odds {_proportional_odds_words(d)}")
        if d.proportional_odds.holds is False:
            lines.append("    per cut: " + ", ".join(
                f">= {c.cut} {_signed(c.log_odds_ratio.value) if c.log_odds_ratio.value is not None else 'n/a'}" for c in d.proportional_odds.cuts
            ))
    lines.append(f"  {CONDITIONAL}")
    return lines


def model_section_html(results) -> list[str]:
    """The By-model section of the HTML report (its h2 heading included)."""
    esc = html.escape
    parts = ["<h2>By model</h2>"]
    if not results.models.per_model:
        return parts + [f"<p>{esc(results.models.reason or 'no models')}</p>"]
    parts += [f'<p class="note">{esc(note)}</p>' for note in _model_notes(results)]
    parts += [
        html_table(RESULTS_MODEL_HEADER, _results_model_rows(results), {1, 2, 3, 4, 6, 8, 10}),
        _image("mean rating and share of ratings successful per model", model_plot(results), ""),
        "<h3>Topics by model</h3>",
        _image("share of attacks per consensus topic and model", topic_plot(results), "No attack has a consensus topic."),
        "<h3>Differences between models</h3>",
    ]
    if not results.models.differences:
        return parts + ["<p>Only one model.</p>"]
    parts += [
        f"<p>{esc(_omnibus_words(results))}</p>",
        f'<p class="note">{esc(results.settings.as_json()["model_test"])}; p (Holm): Holm-adjusted across the pairs.</p>',
        html_table(RESULTS_DIFFERENCE_HEADER, _results_difference_rows(results), {1, 3, 5, 8, 9, 10, 11}),
    ]
    cuts = _cut_rows(results)
    if cuts:
        parts += ["<h3>Proportional odds fails: per-cut binary comparisons</h3>", html_table(CUT_HEADER, cuts, {2, 4})]
    topics = _topic_test_rows(results)
    parts += ["<h3>Topics: differences between models</h3>",
              html_table(TOPIC_TEST_HEADER, topics, {3, 4, 5}) if topics else "<p>No topic share differs between two models at p &lt; 0.05.</p>"]
    return parts


def model_section_markdown(results) -> list[str]:
    """The By-model section of the Markdown report (its ## heading included)."""
    parts = ["## By model", ""]
    if not results.models.per_model:
        return parts + [results.models.reason or "", ""]
    for note in _model_notes(results):
        parts += [note, ""]
    parts += [md_table(RESULTS_MODEL_HEADER, _results_model_rows(results)), "", "### Differences between models", ""]
    if not results.models.differences:
        return parts + ["Only one model.", ""]
    parts += [_omnibus_words(results), "", md_table(RESULTS_DIFFERENCE_HEADER, _results_difference_rows(results)), ""]
    cuts = _cut_rows(results)
    if cuts:
        parts += ["### Proportional odds fails: per-cut binary comparisons", "", md_table(CUT_HEADER, cuts), ""]
    topics = _topic_test_rows(results)
    parts += ["### Topics: differences between models", "",
              md_table(TOPIC_TEST_HEADER, topics) if topics else "No topic share differs between two models at p < 0.05.", ""]
    return parts


def _results_proxy_rows(results) -> list[list]:
    rows = []
    for check in (results.proxy.author_rating, results.proxy.min_harmlessness_score_transcript):
        rows.append([
            PROXY_NAMES[check.name], check.attacks, check.successful, fmt_estimate(check.roc_auc), fmt_interval(check.roc_auc_ci95),
            fmt_estimate(check.splits_successful.roc_auc), fmt_estimate(check.splits_not_successful.roc_auc),
            check.spearman_attacks, fmt_estimate(check.spearman), _p_value(check.spearman_p_value),
        ])
    return rows


def _proxy_rule(results) -> str:
    proxy = results.proxy
    return (
        f"Successful: the final rating at or above {results.settings.rule.threshold} ({proxy.successful} of "
        f"{count_of(proxy.attacks, 'attack')} with a final rating; left out: {_left_out_words(proxy.left_out)}). "
        f"Sensitivity: every rated attack given a verdict, those without a final rating by the majority of their valid ratings, "
        f"the {count_of(proxy.split_attacks, 'split attack')} counted successful and then not."
    )


def _confusion_title(results) -> str:
    confusion = results.proxy.confusion
    return (
        f"Self-rating against the final rating ({count_of(confusion.attacks, 'attack')}; "
        f"left out: {_left_out_words(confusion.left_out)})"
    )


def _results_reviewer_rows(results) -> list[list]:
    return [
        [
            reviewer_name(r), r.ratings, r.shared_tasks, fmt_estimate(r.quadratic_kappa), fmt_interval(r.quadratic_kappa_ci95),
            _signed(r.mean_offset.value), fmt_interval(r.mean_offset_ci95), _percent(r.skip_rate), len(r.drift),
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


RESULTS_MODEL_HEADER = [
    "model", "rated attacks", "ratings", "disputed", "mean rating", "95% CI", "share of ratings successful", "95% CI",
    "share of attacks successful", "95% CI (Wilson)", "attacks without a final rating",
]
RESULTS_DIFFERENCE_HEADER = [
    "first - second", "mean rating", "95% CI", "share of ratings successful", "95% CI", "share of attacks successful",
    "95% CI (Newcombe)", "ordinal log odds ratio (95% CI)", "p", "p (Holm)", "permutation p", "p (Holm)", "proportional odds", "power",
]
CUT_HEADER = ["first - second", "cut", "log odds ratio", "95% CI", "p"]
TOPIC_TEST_HEADER = ["topic", "first - second", "attacks with it", "share difference", "p (Fisher)", "p (Holm, topics x pairs)"]
RESULTS_PROXY_HEADER = [
    "proxy", "attacks with a final rating", "successful", "ROC AUC", "95% CI (DeLong)", "AUC, splits successful",
    "AUC, splits not successful", "attacks with a valid rating", "Spearman rho with the mean valid rating", "p",
]
SUCCESSFUL_HEADER = ["definition", "successful", "of", "share", "95% CI", "interval", "left out (attacks)"]
RESULTS_REVIEWER_HEADER = [
    "reviewer", "ratings", "shared tasks", "quadratic kappa vs others", "95% CI", "mean offset", "95% CI", "skip rate", "drift blocks", "flag",
]
RESULTS_DISPUTED_HEADER = ["attack_id", "task", "model", "valid ratings", "reason", "adjudicated", "final", "final rule"]
CONFUSION_HEADER = ["", *[f"final {v}" for v in SUCCESS_VALUES]]


def results_text(results) -> str:
    """The printed results: headline, by model, differences, the proxy, the reviewers."""
    threshold = results.settings.rule.threshold
    lines = [RESULTS_TITLE, results_headline(results), *successful_lines(results), ""]
    lines += model_text_lines(results)
    proxy = results.proxy
    lines += [
        "",
        f"Does the cheap proxy agree with the humans? (successful: final rating >= {threshold}; {proxy.successful} of "
        f"{count_of(proxy.attacks, 'attack')} with a final rating; left out: {_left_out_words(proxy.left_out)})",
    ]
    for check in (proxy.author_rating, proxy.min_harmlessness_score_transcript):
        if check.roc_auc.value is None and check.spearman.value is None and check.spearman.reason == check.roc_auc.reason:
            found = f"n/a ({check.roc_auc.reason})"  # the same reason for every number: say it once
        else:
            found = (
                f"ROC AUC {check.roc_auc.value:.2f} ({fmt_interval(check.roc_auc_ci95)})" if check.roc_auc.value is not None
                else f"ROC AUC n/a ({check.roc_auc.reason})"
            ) + (
                f"; splits successful {_value(check.splits_successful.roc_auc)}, not {_value(check.splits_not_successful.roc_auc)}"
                f"; Spearman rho with the mean valid rating {fmt_estimate(check.spearman)}"
            )
        lines.append(f"  {PROXY_NAMES[check.name]:<34} {found}")
    confusion = proxy.confusion
    lines.append(
        f"  self-rating equals the final rating on {_percent(confusion.exact_agreement.value)} of {count_of(confusion.attacks, 'attack')} "
        f"(left out: {_left_out_words(confusion.left_out)})"
    )
    lines += ["", "Reviewers (quadratic kappa against the median of the others; offset from the others' mean):"]
    for r in results.reviewers.reviewers:
        lines.append(
            f"  {reviewer_name(r):<28} kappa {fmt_estimate(r.quadratic_kappa)} ({fmt_interval(r.quadratic_kappa_ci95)})  "
            f"offset {_signed(r.mean_offset.value)}  skips {_percent(r.skip_rate)}{'  FLAGGED' if r.flagged else ''}"
        )
    flagged = [r for r in results.reviewers.reviewers if r.flagged]
    lines.append(f"  Flagged: {', '.join(reviewer_name(r) for r in flagged) if flagged else 'none'}")
    return "\n".join(lines)


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
        f"or a spread of {rule.spread} or more, or more than 2 topics tagged by at least half of them with a tie at the "
        f"2-topic cut-off. Final rating: {esc(FINAL_RULE)}.</p>",
        html_table(["final rating set by", "attacks"], [[k, v] for k, v in finals.items()], {1}),
        "<h2>Successful attacks</h2>",
        f'<p class="note">{esc(" ".join(line.strip() for line in successful_lines(results)))}</p>',
        html_table(SUCCESSFUL_HEADER, _successful_rows(results), {1, 2, 3}),
    ]
    parts += model_section_html(results)
    parts += [
        "<h2>Does the cheap proxy agree with the humans?</h2>",
        f"<p>{esc(_proxy_rule(results))} A lower min_harmlessness_score_transcript "
        "should predict success: its AUC is of the negated score, its Spearman rho of the score itself.</p>",
        html_table(RESULTS_PROXY_HEADER, _results_proxy_rows(results), {1, 2, 3, 5, 6, 7, 8}),
        _image("ROC curves of the proxies", roc_plot(results), "No proxy is known (give --manifest)."),
        f"<h3>{esc(_confusion_title(results))}</h3>",
        html_table(CONFUSION_HEADER, _confusion_rows(results), {1, 2, 3, 4, 5}),
        "<h2>Reviewers</h2>",
        f'<p class="note">Flag rule: {esc(results.reviewers.rule)}.</p>',
        html_table(RESULTS_REVIEWER_HEADER, _results_reviewer_rows(results), {1, 2, 3, 5, 7, 8}),
        "<h3>Drift</h3>",
        _image("reviewer agreement per block of tasks over time", drift_plot(results), "No reviewer shares a task with another yet."),
        "<h2>Disputed attacks</h2>",
    ]
    disputed = results.disputed
    if disputed:
        shown = min(DISPUTED_SHOWN, int(results.table["disputed"].sum()))
        parts += [
            f"<p>{shown} of {int(results.table['disputed'].sum())} shown; the attack table (-o) lists every one.</p>",
            html_table(RESULTS_DISPUTED_HEADER, _results_disputed_rows(results), {0, 1, 5, 6}),
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
        f"<title>{esc(RESULTS_TITLE)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{esc(RESULTS_TITLE)}</h1>",
        f'<p class="note">{esc(source)} - {esc(method)}.</p>' if source else f'<p class="note">{esc(method)}.</p>',
        results_section_html(results),
        "</body></html>",
    ])


def results_markdown_report(results, source: str = "") -> str:
    """The results as Markdown: the same tables as the HTML; the plots are in the HTML only."""
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
        md_table(["final rating set by", "attacks"], [[k, v] for k, v in results.final_counts().items()]),
        "",
        "## Successful attacks",
        "",
        " ".join(line.strip() for line in successful_lines(results)),
        "",
        md_table(SUCCESSFUL_HEADER, _successful_rows(results)),
        "",
    ]
    parts += model_section_markdown(results)
    parts += [
        "## Does the cheap proxy agree with the humans?",
        "",
        _proxy_rule(results),
        "",
        md_table(RESULTS_PROXY_HEADER, _results_proxy_rows(results)),
        "",
        f"{_confusion_title(results)}:",
        "",
        md_table(CONFUSION_HEADER, _confusion_rows(results)),
        "",
        "## Reviewers",
        "",
        f"Flag rule: {results.reviewers.rule}.",
        "",
        md_table(RESULTS_REVIEWER_HEADER, _results_reviewer_rows(results)),
        "",
        "## Disputed attacks",
        "",
        md_table(RESULTS_DISPUTED_HEADER, _results_disputed_rows(results)) if results.disputed else "No attack is disputed.",
        "",
    ]
    return "\n".join(parts)
