"""The agreement summary a lead reads: every statistic, typed, and how each task and annotation counted.

`summarise` gives a Summary: frozen dataclasses in which every statistic is a kappa.Estimate (a
value, or None and the reason) and every interval a kappa.Interval. `Summary.as_json()` is the
dict `review-project agreement --json` writes, a contract: an undefined statistic is null beside
its `<name>_reason`, never NaN. `statistics` is the numeric part over arrays (agreement.arrays),
which the benchmark times alone. Pure: no I/O.

Which ratings each statistic uses:
- the headline measures use every task with 2 or more valid ratings: Krippendorff's alpha,
  Gwet's AC1 and AC2, Fleiss' kappa generalised to a varying number of ratings
  (`*_all_tasks`), percent agreement on pairs and pairwise Cohen's kappa; ICC(2,1) and ICC(2,k)
  use the block of tasks rated by one and the same set of reviewers (ordinal.icc_block);
- the paper's equal-n figure (`fleiss_kappa`, `binary_fleiss_kappa`, their intervals, the
  with-author and paper-footing views, per-category and per-tag kappa) uses only complete tasks
  (exactly `reviewers_per_task` valid ratings);
- every task is counted once in `items`: complete + excluded_incomplete + excluded_invalid
  (short of ratings because an annotation was invalid) + excluded_extra_ratings = total.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from review_project.agreement import arrays, kappa, ordinal
from review_project.agreement.arrays import ReviewedTasks
from review_project.agreement.kappa import Estimate, Interval
from review_project.planning import DEFAULT_HALF_WIDTH, Projection, interval_half_width, projected_half_width
from review_project.schema import SUCCESS_VALUES, TOPICS

N_CATEGORIES = len(SUCCESS_VALUES)
N_AUTHOR = 1  # the red team member's own self-rating counts as one more rater
NO_AUTHOR = "no author self-rating for these tasks (it comes from the sample manifest: --manifest)"
NO_MANIFEST = "no manifest given (models come from the sample manifest)"
CONDITIONAL = (
    "Every interval is conditional on these reviewers: it covers the sampling of attacks, not the choice of "
    "reviewers; the ICC intervals alone, from a two-way random-effects model, also treat the reviewers as a sample."
)
ALL_TASKS_CI = "Gwet's (2014) variance over tasks, conditional on the reviewers; t interval with n - 1 df, upper end capped at 1"
ICC_CI = "F-based (Shrout & Fleiss 1979; McGraw & Wong 1996, ICC(A,1) and ICC(A,k))"


def _put(out: dict, name: str, statistic: Estimate | Interval) -> None:
    """The JSON pair of a statistic: `name` (a value, [low, high], or null) and `name_reason`."""
    out[name] = statistic.as_list() if isinstance(statistic, Interval) else statistic.value
    out[f"{name}_reason"] = statistic.reason


def _put_coefficient(out: dict, name: str, coefficient: ordinal.Coefficient) -> None:
    """A coefficient's JSON keys: `name`, `name_reason`, `name_se`, `name_ci95`, `name_ci95_reason`."""
    _put(out, name, coefficient.value)
    out[f"{name}_se"] = coefficient.se
    _put(out, f"{name}_ci95", coefficient.ci95)


def _put_icc(out: dict, icc: ordinal.Icc, reviewer_ids) -> None:
    """ICC(2,1), ICC(2,k), their intervals, and the block they were computed on."""
    for name in ("icc_2_1", "icc_2_1_ci95", "icc_2_k", "icc_2_k_ci95"):
        _put(out, name, getattr(icc, name))
    out["icc_tasks"] = icc.n
    out["icc_reviewers"] = [int(reviewer_ids[r]) for r in icc.reviewers]


def _fields(instance) -> dict:
    """A dataclass's fields, one level deep (dataclasses.asdict would turn Estimates into dicts)."""
    return {field.name: getattr(instance, field.name) for field in dataclasses.fields(instance)}


# --- the typed summary --------------------------------------------------------------------------


@dataclass(frozen=True)
class FleissKappas:
    """Fleiss' kappa of the complete tasks on the 0-4 scale and the binary one, with 95% intervals.

    An interval around an undefined kappa carries the kappa's reason.
    """

    fleiss_kappa: Estimate
    binary_fleiss_kappa: Estimate
    ci95: Interval
    binary_ci95: Interval

    @property
    def landis_koch(self) -> str | None:
        return kappa.landis_koch(self.fleiss_kappa.value)

    @property
    def binary_landis_koch(self) -> str | None:
        return kappa.landis_koch(self.binary_fleiss_kappa.value)

    def as_json(self) -> dict:
        out: dict = {}
        _put(out, "fleiss_kappa", self.fleiss_kappa)
        out["landis_koch"] = self.landis_koch
        _put(out, "binary_fleiss_kappa", self.binary_fleiss_kappa)
        out["binary_landis_koch"] = self.binary_landis_koch
        _put(out, "ci95", self.ci95)
        _put(out, "binary_ci95", self.binary_ci95)
        return out


@dataclass(frozen=True)
class AuthorKappas(FleissKappas):
    """The paper's view: the same kappas with the author's self-rating as one more rater.

    items : complete tasks whose self-rating is known; raters : reviewers per task + the
    author, None without complete tasks.
    """

    items: int
    raters: int | None

    def as_json(self) -> dict:
        return {"items": self.items, "raters": self.raters, **super().as_json()}


@dataclass(frozen=True)
class PaperFooting:
    """The paper's footing with 4 reviewers per task: 3 reviewers and the author, as Ganguli et al.
    rated. Each complete task's ratings are ordered by reviewer id and each position is left out
    in turn, giving 4 kappas; fleiss_kappa and binary_fleiss_kappa are their mean, the *_range
    their lowest and highest (not a confidence interval).

    items : complete tasks (exactly 4 valid ratings) whose self-rating is known; raters : 3 + the
    author, None when undefined.
    """

    items: int
    raters: int | None
    fleiss_kappa: Estimate
    fleiss_kappa_range: Interval
    binary_fleiss_kappa: Estimate
    binary_fleiss_kappa_range: Interval

    def as_json(self) -> dict:
        out: dict = {"items": self.items, "raters": self.raters}
        for name in ("fleiss_kappa", "fleiss_kappa_range", "binary_fleiss_kappa", "binary_fleiss_kappa_range"):
            _put(out, name, getattr(self, name))
        return out


@dataclass(frozen=True)
class Correlation:
    """Spearman's rho between each task's mean valid rating and another value, over tasks with both.

    p_value is None exactly when rho is undefined (rho.reason says why).
    """

    n: int
    rho: Estimate
    p_value: float | None

    def as_json(self) -> dict:
        return {"n": self.n, "rho": self.rho.value, "p_value": self.p_value, "rho_reason": self.rho.reason}


@dataclass(frozen=True)
class Spearman:
    """Each task's mean valid rating against the author's self-rating and the harmlessness score."""

    author_rating: Correlation
    min_harmlessness_score_transcript: Correlation

    def as_json(self) -> dict:
        return {
            "author_rating": self.author_rating.as_json(),
            "min_harmlessness_score_transcript": self.min_harmlessness_score_transcript.as_json(),
        }


@dataclass(frozen=True)
class Paper:
    """What Ganguli et al. 2022 report (section 3.5): Fleiss' kappa, no intervals given."""

    with_author_fleiss_kappa: float = 0.32
    with_author_binary_fleiss_kappa: float = 0.49
    reviewers_binary_fleiss_kappa: float = 0.55
    reviewers: int = 3
    source: str = "Ganguli et al. 2022, Red Teaming Language Models to Reduce Harms, section 3.5"


PAPER = Paper()


@dataclass(frozen=True)
class SuccessAgreement(FleissKappas):
    """Agreement on the success rating, the headline of the report.

    The headline (every task with 2 or more ratings, ordinal first): krippendorff_alpha_ordinal;
    icc, ICC(2,1) and ICC(2,k) on one block of tasks x reviewers; gwet_ac2_ordinal, gwet_ac1,
    fleiss_kappa_all_tasks and binary_fleiss_kappa_all_tasks with Gwet's standard error and
    interval. The inherited fleiss_kappa, binary_fleiss_kappa and their ci95 are the paper's
    equal-n figure (complete tasks). per_category_kappa : one per SUCCESS_VALUES, that value
    against the rest (complete tasks); distribution : valid ratings of each success value;
    reviewer_ids : the column order of icc.reviewers.
    """

    tasks_with_two_or_more_ratings: int
    icc: ordinal.Icc
    reviewer_ids: tuple[int, ...]
    gwet_ac2_ordinal: ordinal.Coefficient
    gwet_ac1: ordinal.Coefficient
    fleiss_kappa_all_tasks: ordinal.Coefficient
    binary_fleiss_kappa_all_tasks: ordinal.Coefficient
    with_author: AuthorKappas
    with_author_paper_footing: PaperFooting
    per_category_kappa: tuple[Estimate, ...]
    percent_agreement: Estimate
    binary_percent_agreement: Estimate
    krippendorff_alpha_ordinal: Estimate
    krippendorff_alpha_nominal: Estimate
    krippendorff_alpha_binary: Estimate
    distribution: tuple[int, ...]
    threshold: int
    spearman: Spearman
    ci_method: str
    paper: Paper = PAPER

    def as_json(self) -> dict:
        out: dict = {"tasks_with_two_or_more_ratings": self.tasks_with_two_or_more_ratings}
        _put(out, "krippendorff_alpha_ordinal", self.krippendorff_alpha_ordinal)
        _put_icc(out, self.icc, self.reviewer_ids)
        for name in ("gwet_ac2_ordinal", "gwet_ac1", "fleiss_kappa_all_tasks", "binary_fleiss_kappa_all_tasks"):
            _put_coefficient(out, name, getattr(self, name))
        out["all_tasks_ci_method"] = ALL_TASKS_CI
        out["icc_ci_method"] = ICC_CI
        out["intervals_conditional_on_reviewers"] = CONDITIONAL
        out.update(super().as_json())
        out["with_author"] = self.with_author.as_json()
        out["with_author_paper_footing"] = self.with_author_paper_footing.as_json()
        out["per_category_kappa"] = {}
        for value, estimate in zip(SUCCESS_VALUES, self.per_category_kappa):
            _put(out["per_category_kappa"], value, estimate)
        for name in (
            "percent_agreement", "binary_percent_agreement", "krippendorff_alpha_nominal", "krippendorff_alpha_binary",
        ):
            _put(out, name, getattr(self, name))
        out["distribution"] = dict(zip(SUCCESS_VALUES, self.distribution))
        out["threshold"] = self.threshold
        out["paper"] = dataclasses.asdict(self.paper)
        out["spearman"] = self.spearman.as_json()
        out["ci_method"] = self.ci_method
        return out


@dataclass(frozen=True)
class ModelAgreement(FleissKappas):
    """Agreement on the attacks made on one model. items : its tasks; complete : those complete
    (the paper's equal-n kappa); tasks_with_two_or_more_ratings : those the other measures use."""

    model: str
    items: int
    complete: int
    with_author: AuthorKappas
    krippendorff_alpha_ordinal: Estimate
    mean_success: Estimate
    mean_author_rating: Estimate
    tasks_with_two_or_more_ratings: int
    gwet_ac2_ordinal: ordinal.Coefficient
    fleiss_kappa_all_tasks: ordinal.Coefficient
    binary_fleiss_kappa_all_tasks: ordinal.Coefficient
    icc: ordinal.Icc
    reviewer_ids: tuple[int, ...]

    def as_json(self) -> dict:
        out = {"items": self.items, **super().as_json(), "with_author": self.with_author.as_json(), "complete": self.complete}
        _put(out, "krippendorff_alpha_ordinal", self.krippendorff_alpha_ordinal)
        out["tasks_with_two_or_more_ratings"] = self.tasks_with_two_or_more_ratings
        for name in ("gwet_ac2_ordinal", "fleiss_kappa_all_tasks", "binary_fleiss_kappa_all_tasks"):
            _put_coefficient(out, name, getattr(self, name))
        _put_icc(out, self.icc, self.reviewer_ids)
        out["mean_success"] = self.mean_success.value
        out["mean_author_rating"] = self.mean_author_rating.value
        return out


@dataclass(frozen=True)
class ModelKappaDifference:
    """first - second (models in name order): the generalised Fleiss' kappa over each model's
    tasks with 2 or more ratings, raw and binary, each with a percentile bootstrap interval of
    the difference resample by resample (tasks resampled within each model)."""

    models: tuple[str, str]
    fleiss_kappa_all_tasks: Estimate
    fleiss_kappa_all_tasks_ci95: Interval
    binary_fleiss_kappa_all_tasks: Estimate
    binary_fleiss_kappa_all_tasks_ci95: Interval

    def as_json(self) -> dict:
        out: dict = {"models": list(self.models)}
        for name in ("fleiss_kappa_all_tasks", "fleiss_kappa_all_tasks_ci95", "binary_fleiss_kappa_all_tasks", "binary_fleiss_kappa_all_tasks_ci95"):
            _put(out, name, getattr(self, name))
        return out


@dataclass(frozen=True)
class TagAgreement:
    """One topic as a yes/no question. prevalence : share of valid ratings with it; uses : how many."""

    topic: str
    prevalence: float
    uses: int
    fleiss_kappa: Estimate

    def as_json(self) -> dict:
        out = {"prevalence": self.prevalence, "uses": self.uses}
        _put(out, "fleiss_kappa", self.fleiss_kappa)
        return out


@dataclass(frozen=True)
class Topics:
    """Agreement on the topic tags. ratings : valid ratings; per_tag : one per schema.TOPICS."""

    ratings: int
    no_topic_share: Estimate
    per_tag: tuple[TagAgreement, ...]
    masi_alpha: Estimate

    def as_json(self) -> dict:
        out = {
            "ratings": self.ratings,
            "no_topic_share": self.no_topic_share.value,
            "per_tag": {tag.topic: tag.as_json() for tag in self.per_tag},
        }
        _put(out, "masi_alpha", self.masi_alpha)
        return out


@dataclass(frozen=True)
class ReviewerRatings:
    """One reviewer's valid ratings and how far they agree with the others' (Cohen's kappa,
    weighted by shared tasks). success_counts : one per SUCCESS_VALUES."""

    reviewer_id: int
    n: int
    mean_success: Estimate
    success_counts: tuple[int, ...]
    cohen_kappa_vs_others: Estimate
    quadratic_kappa_vs_others: Estimate

    def as_json(self) -> dict:
        out = {
            "n": self.n,
            "mean_success": self.mean_success.value,
            "success_counts": dict(zip(SUCCESS_VALUES, self.success_counts)),
        }
        _put(out, "cohen_kappa_vs_others", self.cohen_kappa_vs_others)
        _put(out, "quadratic_kappa_vs_others", self.quadratic_kappa_vs_others)
        return out


@dataclass(frozen=True)
class ReviewerActivity:
    """What one reviewer did, counted on their latest annotation of each task."""

    email: str | None
    annotations: int
    skipped: int
    invalid: int
    median_lead_time: Estimate

    @property
    def skip_rate(self) -> float:
        return self.skipped / self.annotations

    def as_json(self) -> dict:
        return {
            "email": self.email,
            "annotations": self.annotations,
            "skipped": self.skipped,
            "invalid": self.invalid,
            "skip_rate": self.skip_rate,
            "median_lead_time": self.median_lead_time.value,
        }


@dataclass(frozen=True)
class Reviewer:
    """One reviewer: their ratings (from the arrays) and their activity (from the table)."""

    ratings: ReviewerRatings
    activity: ReviewerActivity

    @property
    def reviewer_id(self) -> int:
        return self.ratings.reviewer_id

    @property
    def email(self) -> str | None:
        return self.activity.email

    def as_json(self) -> dict:
        return {**self.ratings.as_json(), **self.activity.as_json()}


@dataclass(frozen=True)
class ReviewerPairs:
    """Cohen's kappa of every two reviewers on the tasks both rated: (R, R) tables in the order
    of reviewer_ids, plain and quadratic-weighted; shared_tasks : tasks both rated."""

    reviewer_ids: tuple[int, ...]
    cohen_kappa: tuple[tuple[Estimate, ...], ...]
    quadratic_kappa: tuple[tuple[Estimate, ...], ...]
    shared_tasks: tuple[tuple[int, ...], ...]

    def as_json(self) -> dict:
        return {
            "reviewers": [str(reviewer) for reviewer in self.reviewer_ids],
            "cohen_kappa": [[e.value for e in row] for row in self.cohen_kappa],
            "quadratic_kappa": [[e.value for e in row] for row in self.quadratic_kappa],
            "shared_tasks": [list(row) for row in self.shared_tasks],
            # One table of reasons in the JSON: the weights never change why a kappa is undefined.
            "reasons": [[e.reason for e in row] for row in self.quadratic_kappa],
        }


@dataclass(frozen=True)
class DisputedTask:
    """A task whose reviewers disagree: disagreement is the mean squared difference over rating
    pairs; ratings : (reviewer_id, success) pairs; text : its transcript, when the lead asked."""

    attack_id: int
    task_id: int
    disagreement: float
    ratings: tuple[tuple[int, int], ...]
    author_rating: int | None
    model: str | None
    text: str | None = None

    def as_json(self, with_text: bool) -> dict:
        out = {
            "attack_id": self.attack_id,
            "task_id": self.task_id,
            "disagreement": self.disagreement,
            "ratings": {str(reviewer): value for reviewer, value in self.ratings},
            "author_rating": self.author_rating,
            "model": self.model,
        }
        if with_text:
            out["text"] = self.text
        return out


@dataclass(frozen=True)
class Items:
    """Every task counted once: complete + the three exclusions = total.

    without_rating : tasks with no valid rating; source_lists_unannotated_tasks : whether the
    source lists the tasks nobody annotated (True: a live project, or an export that holds such
    tasks; False: a table, which lists annotated tasks only; None: unknown, an export whose every
    task has an annotation, as an export of annotated tasks only has).
    """

    total: int
    complete: int
    excluded_incomplete: int
    excluded_invalid: int
    excluded_extra_ratings: int
    with_two_or_more_ratings: int
    reviewers_per_task: int
    without_rating: int = 0
    source_lists_unannotated_tasks: bool | None = None


@dataclass(frozen=True)
class AnnotationCounts:
    """What happened to the annotations: replaced, without a reviewer, skips, invalid, ratings."""

    total: int
    replaced_by_later: int
    without_reviewer: int
    skipped: int
    invalid: int
    ratings: int
    edited_by_other: int


@dataclass(frozen=True)
class InvalidAnnotation:
    """An annotation left out because it breaks the labelling contract, and why."""

    task_id: int
    attack_id: int | None
    annotation_id: int | None
    reviewer: int
    reviewer_email: str | None
    reason: str


@dataclass(frozen=True)
class ManifestCheck:
    """How the project and the sample manifest match."""

    attacks: int
    tasks_not_in_manifest: int
    attacks_not_in_project: int
    duplicate_attack_ids_in_project: int


@dataclass(frozen=True)
class Settings:
    """What the summary was asked for. source : how reports name the annotations' source;
    include_text : whether disputed tasks carry their transcripts (not a JSON key: each
    disputed task then has `text`)."""

    reviewers_per_task: int
    threshold: int
    n_resamples: int
    seed: int
    manifest: bool
    source: str | None = None
    include_text: bool = False

    def as_json(self) -> dict:
        out = {name: getattr(self, name) for name in ("reviewers_per_task", "threshold", "n_resamples", "seed", "manifest")}
        if self.source is not None:
            out["source"] = self.source
        return out


@dataclass(frozen=True)
class Statistics:
    """Every statistic computed from the arrays alone (see `statistics`)."""

    items: Items
    success: SuccessAgreement
    per_model: tuple[ModelAgreement, ...]
    per_model_reason: str | None
    model_kappa_differences: tuple[ModelKappaDifference, ...]
    topics: Topics
    reviewers: tuple[ReviewerRatings, ...]
    reviewer_pairs: ReviewerPairs
    disagreement: tuple[DisputedTask, ...]


PRECISION_STATISTIC = "fleiss_kappa_all_tasks"
PLANNED_UNKNOWN = (
    "the attacks the review will have are not known: give --manifest (every attack sampled), or read the live "
    "project with --project (every task imported)"
)


@dataclass(frozen=True)
class Precision:
    """How precise the review is so far, and will be at completion: the half-width of Fleiss' kappa's
    95% interval (every task with 2 or more valid ratings) now and projected, x sqrt(now / planned),
    to the attacks planned (the manifest's, else a live project's tasks), against the target."""

    projection: Projection
    planned_from: str | None

    def as_json(self) -> dict:
        out = {"statistic": PRECISION_STATISTIC, "attacks_planned_from": self.planned_from, **self.projection.as_json()}
        if self.planned_from is None and out["projected_half_width"] is None and out["attacks_now"]:
            out["projected_half_width_reason"] = PLANNED_UNKNOWN
            if out["target_met"] is None and out["target_half_width"] is not None:
                out["target_met_reason"] = PLANNED_UNKNOWN
        return out


def precision(success: SuccessAgreement, items: Items, manifest: list[dict] | None, target: float | None) -> Precision:
    """The review's precision now and at completion (see Precision)."""
    interval = success.fleiss_kappa_all_tasks.ci95
    if manifest is not None:
        planned, planned_from = len({record["attack_id"] for record in manifest}), "manifest"
    elif items.source_lists_unannotated_tasks:
        planned, planned_from = items.total, "project"
    else:
        planned, planned_from = None, None
    now = interval_half_width(interval.low, interval.high)
    projection = projected_half_width(now, items.with_two_or_more_ratings, planned, target)
    return Precision(projection, planned_from)


@dataclass(frozen=True)
class Summary:
    """The agreement summary: the statistics, and how every task and annotation counted.

    per_model is empty, with per_model_reason, when no model is known; manifest is None
    without a manifest.
    """

    items: Items
    success: SuccessAgreement
    per_model: tuple[ModelAgreement, ...]
    per_model_reason: str | None
    model_kappa_differences: tuple[ModelKappaDifference, ...]
    topics: Topics
    reviewers: tuple[Reviewer, ...]
    reviewer_pairs: ReviewerPairs
    disagreement: tuple[DisputedTask, ...]
    annotations: AnnotationCounts
    invalid_annotations: tuple[InvalidAnnotation, ...]
    manifest: ManifestCheck | None
    settings: Settings
    precision: Precision

    def as_json(self) -> dict:
        """The dict `review-project agreement --json` writes (JSON-ready: no NaN, no numpy types)."""
        return {
            "items": dataclasses.asdict(self.items),
            "success": self.success.as_json(),
            "per_model": {section.model: section.as_json() for section in self.per_model},
            "per_model_reason": self.per_model_reason,
            "model_kappa_differences": {" - ".join(d.models): d.as_json() for d in self.model_kappa_differences},
            "topics": self.topics.as_json(),
            "reviewers": {str(reviewer.reviewer_id): reviewer.as_json() for reviewer in self.reviewers},
            "reviewer_pairs": self.reviewer_pairs.as_json(),
            "disagreement": [task.as_json(self.settings.include_text) for task in self.disagreement],
            "annotations": dataclasses.asdict(self.annotations),
            "invalid_annotations": [dataclasses.asdict(entry) for entry in self.invalid_annotations],
            "manifest": None if self.manifest is None else dataclasses.asdict(self.manifest),
            "precision": self.precision.as_json(),
            "settings": self.settings.as_json(),
        }


# --- from an annotation table -------------------------------------------------------------------


def summarise(
    table: pd.DataFrame,
    manifest: list[dict] | None = None,
    tasks: pd.DataFrame | None = None,
    reviewers_per_task: int = 4,
    threshold: int = 3,
    n_resamples: int = 2000,
    seed: int = 0,
    top_disagreements: int = 20,
    texts: dict[int, str] | None = None,
    source: str | None = None,
    lists_every_task: bool = False,
    target_half_width: float | None = DEFAULT_HALF_WIDTH,
) -> Summary:
    """The agreement summary of an annotation table (export.COLUMNS).

    tasks : optional DataFrame (task_id, attack_id) of every task the source lists, so tasks
    nobody annotated still count in items.total; lists_every_task : the source is a live
    project, whose tasks are all of them; texts : attack_id -> transcript text, put beside the
    most disputed tasks only when the lead asks for it (--include-text); source : how reports
    name where the table came from; target_half_width : the planned half-width of kappa's interval
    (`precision`).
    """
    if reviewers_per_task < 2:
        raise ValueError(f"reviewers_per_task must be at least 2, got {reviewers_per_task}")
    reviewed = arrays.reviews(table, manifest, tasks)
    result = statistics(reviewed.arrays, reviewers_per_task, threshold, n_resamples, seed, top_disagreements)
    activity = _activity(reviewed.latest)
    disputed = result.disagreement
    if texts is not None:
        disputed = tuple(dataclasses.replace(task, text=texts.get(task.attack_id)) for task in disputed)
    latest = reviewed.latest
    unannotated = int((~reviewed.all_tasks["task_id"].isin(table["task_id"].dropna())).sum())
    listed = True if lists_every_task or unannotated else (False if tasks is None else None)
    items = dataclasses.replace(result.items, source_lists_unannotated_tasks=listed)
    return Summary(
        **{
            **_fields(result),
            "items": items,
            "reviewers": tuple(Reviewer(ratings, activity[ratings.reviewer_id]) for ratings in result.reviewers),
            "disagreement": disputed,
        },
        annotations=AnnotationCounts(
            total=reviewed.annotations,
            replaced_by_later=reviewed.replaced,
            without_reviewer=reviewed.without_reviewer,
            skipped=int(latest["skipped"].sum()),
            invalid=int(latest["invalid"].sum()),
            ratings=int(latest["rating"].sum()),
            edited_by_other=int(latest["edited_by_other"].astype(bool).sum()),
        ),
        invalid_annotations=_invalid_annotations(latest),
        manifest=_manifest_check(reviewed.all_tasks, manifest),
        settings=Settings(
            reviewers_per_task=reviewers_per_task,
            threshold=threshold,
            n_resamples=n_resamples,
            seed=seed,
            manifest=manifest is not None,
            source=source,
            include_text=texts is not None,
        ),
        precision=precision(result.success, items, manifest, target_half_width),
    )


def _activity(latest: pd.DataFrame) -> dict[int, ReviewerActivity]:
    """Each reviewer's annotations, skips, invalid annotations, median lead time and email."""
    by_reviewer = latest.groupby(latest["reviewer_id"].astype(np.int64))
    counts = pd.DataFrame(
        {
            "annotations": by_reviewer.size(),
            "skipped": by_reviewer["skipped"].sum(),
            "invalid": by_reviewer["invalid"].sum(),
            "median_lead_time": by_reviewer["lead_time"].median(),
        }
    )
    emails = latest.dropna(subset=["reviewer_email"]).groupby(latest["reviewer_id"].astype(np.int64))["reviewer_email"].last()
    activity = {}
    for reviewer, row in counts.iterrows():
        lead = row["median_lead_time"]
        activity[int(reviewer)] = ReviewerActivity(
            email=emails.get(int(reviewer)),
            annotations=int(row["annotations"]),
            skipped=int(row["skipped"]),
            invalid=int(row["invalid"]),
            median_lead_time=Estimate(None, "no lead time recorded") if pd.isna(lead) else Estimate(float(lead)),
        )
    return activity


def _invalid_annotations(latest: pd.DataFrame) -> tuple[InvalidAnnotation, ...]:
    invalid = latest[latest["invalid"]].sort_values(["task_id", "reviewer_id"])
    return tuple(
        InvalidAnnotation(
            task_id=int(r.task_id),
            attack_id=None if pd.isna(r.attack_id) else int(r.attack_id),
            annotation_id=None if pd.isna(r.annotation_id) else int(r.annotation_id),
            reviewer=int(r.reviewer_id),
            reviewer_email=r.reviewer_email,
            reason=r.invalid_reason or "invalid",
        )
        for r in invalid.itertuples()
    )


def _manifest_check(all_tasks: pd.DataFrame, manifest: list[dict] | None) -> ManifestCheck | None:
    if manifest is None:
        return None
    in_manifest = {r["attack_id"] for r in manifest}
    in_project = set(all_tasks["attack_id"].astype(np.int64).tolist())
    return ManifestCheck(
        attacks=len(in_manifest),
        tasks_not_in_manifest=int(len(in_project - in_manifest)),
        attacks_not_in_project=int(len(in_manifest - in_project)),
        duplicate_attack_ids_in_project=int(all_tasks["attack_id"].duplicated().sum()),
    )


# --- from the arrays ----------------------------------------------------------------------------


def statistics(
    tasks: ReviewedTasks,
    reviewers_per_task: int = 4,
    threshold: int = 3,
    n_resamples: int = 2000,
    seed: int = 0,
    top_disagreements: int = 20,
) -> Statistics:
    """Every agreement statistic of the summary, from arrays (no table, no I/O)."""
    counts = kappa.count_table(tasks.ratings, N_CATEGORIES)
    n_valid = counts.sum(axis=1)
    complete = n_valid == reviewers_per_task
    author = _author_category(tasks.author)
    # factorize codes known models 0..; None becomes -1, mapped to its own stratum below.
    model_code, models = pd.factorize(tasks.model, sort=True)
    models = [str(m) for m in models]
    model_code = np.where(model_code < 0, len(models), model_code).astype(np.int64)

    items = Items(
        total=int(len(n_valid)),
        complete=int(complete.sum()),
        excluded_incomplete=int(((n_valid < reviewers_per_task) & (tasks.invalid == 0)).sum()),
        excluded_invalid=int(((n_valid < reviewers_per_task) & (tasks.invalid > 0)).sum()),
        excluded_extra_ratings=int((n_valid > reviewers_per_task).sum()),
        with_two_or_more_ratings=int((n_valid >= 2).sum()),
        reviewers_per_task=reviewers_per_task,
        without_rating=int((n_valid == 0).sum()),
    )
    pairable = n_valid >= 2

    # One stratified bootstrap (by model when known: the sample's design) serves every interval.
    intervals = None
    if complete.sum() >= 2:
        intervals = _bootstrap_intervals(
            counts[complete], author[complete], model_code[complete], len(models), threshold, n_resamples, seed
        )
    reviewers_kappas, with_author = _kappa_sections(counts[complete], author[complete], intervals[0] if intervals else None, threshold)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_success = np.where(n_valid > 0, (counts @ np.arange(N_CATEGORIES)) / np.maximum(n_valid, 1), np.nan)
    reviewer_ids = tuple(int(r) for r in tasks.reviewer_ids)
    success = SuccessAgreement(
        **_fields(reviewers_kappas),
        **_all_task_measures(counts[pairable], tasks.ratings, threshold),
        tasks_with_two_or_more_ratings=int(pairable.sum()),
        reviewer_ids=reviewer_ids,
        with_author=with_author,
        with_author_paper_footing=paper_footing(tasks.ratings[complete], author[complete], reviewers_per_task, threshold),
        per_category_kappa=tuple(kappa.fleiss_kappa_per_category(counts[complete])),
        percent_agreement=kappa.percent_agreement(counts[complete]),
        binary_percent_agreement=kappa.percent_agreement(kappa.binarise(counts[complete], threshold)),
        krippendorff_alpha_ordinal=kappa.krippendorff_alpha(counts, "ordinal"),
        krippendorff_alpha_nominal=kappa.krippendorff_alpha(counts, "nominal"),
        krippendorff_alpha_binary=kappa.krippendorff_alpha(kappa.binarise(counts, threshold), "nominal"),
        distribution=tuple(counts.sum(axis=0).tolist()),
        threshold=threshold,
        spearman=Spearman(
            author_rating=_spearman(mean_success, np.where(author >= 0, author, np.nan).astype(float)),
            min_harmlessness_score_transcript=_spearman(mean_success, tasks.harmlessness),
        ),
        ci_method=(
            f"percentile bootstrap over complete tasks, {n_resamples} resamples, seed {seed}"
            + (", stratified by model" if models else "")
        ),
    )

    per_model = []
    for code, model in enumerate(models):
        in_model = model_code == code
        mask = complete & in_model
        model_kappas, model_author = _kappa_sections(counts[mask], author[mask], intervals[code + 1] if intervals else None, threshold)
        per_model.append(
            ModelAgreement(
                **_fields(model_kappas),
                model=model,
                items=int(in_model.sum()),
                complete=int(mask.sum()),
                with_author=model_author,
                krippendorff_alpha_ordinal=kappa.krippendorff_alpha(counts[in_model], "ordinal"),
                mean_success=_mean(mean_success[in_model & (n_valid > 0)], "no valid rating of this model's tasks"),
                mean_author_rating=_mean(author[in_model & (author >= 0)], "no known self-rating of this model's attacks"),
                tasks_with_two_or_more_ratings=int((in_model & pairable).sum()),
                **{
                    name: value
                    for name, value in _all_task_measures(counts[in_model & pairable], tasks.ratings[in_model], threshold).items()
                    if name != "gwet_ac1"
                },
                reviewer_ids=reviewer_ids,
            )
        )
    differences = _model_kappa_differences(
        counts[pairable], model_code[pairable], per_model, threshold, n_resamples, seed
    )

    pairs, versus_others = _pairs(tasks)
    given = ~np.isnan(tasks.ratings)
    reviewers = []
    for index, reviewer in enumerate(tasks.reviewer_ids):
        column = tasks.ratings[given[:, index], index].astype(np.int64)
        reviewers.append(
            ReviewerRatings(
                reviewer_id=int(reviewer),
                n=int(column.size),
                mean_success=_mean(column, "no valid rating"),
                success_counts=tuple(np.bincount(column, minlength=N_CATEGORIES).tolist()),
                cohen_kappa_vs_others=versus_others["none"][index],
                quadratic_kappa_vs_others=versus_others["quadratic"][index],
            )
        )

    return Statistics(
        items=items,
        success=success,
        per_model=tuple(per_model),
        per_model_reason=None if models else NO_MANIFEST,
        model_kappa_differences=differences,
        topics=_topics(tasks, complete, reviewers_per_task),
        reviewers=tuple(reviewers),
        reviewer_pairs=pairs,
        disagreement=_most_disagreement(tasks, counts, author, top_disagreements),
    )


def _all_task_measures(counts: np.ndarray, ratings: np.ndarray, threshold: int) -> dict:
    """The measures over every task with 2 or more ratings. counts : (M, K) those tasks;
    ratings : (N, R) for the ICC's block (it picks its own tasks)."""
    return {
        "icc": ordinal.icc(ratings),
        "gwet_ac2_ordinal": ordinal.gwet_ac2_ordinal(counts),
        "gwet_ac1": ordinal.gwet_ac1(counts),
        "fleiss_kappa_all_tasks": ordinal.fleiss_kappa_all_tasks(counts),
        "binary_fleiss_kappa_all_tasks": ordinal.fleiss_kappa_all_tasks(kappa.binarise(counts, threshold)),
    }


def _model_kappa_differences(counts, model_code, per_model, threshold: int, n_resamples: int, seed: int) -> tuple:
    """Every pair of models: the difference of their generalised Fleiss' kappa (raw, binary) with a
    percentile bootstrap interval, the difference taken resample by resample.

    counts : (M, K) tasks with 2 or more ratings; model_code : (M,), len(per_model) = unknown.
    Tasks are resampled within each model (the sample's design), as the equal-n intervals are.
    """
    n_models = len(per_model)
    if n_models < 2:
        return ()
    draws = kappa.resample_tasks(counts, n_resamples, seed, model_code)
    rows = draws.rows
    rows_binary = np.pad(kappa.binarise(rows, threshold), ((0, 0), (0, N_CATEGORIES - 2)))
    masks = [(draws.stratum == code)[:, None] for code in range(n_models)]
    tables = np.stack([table * mask for mask in masks for table in (rows, rows_binary)])  # (2 * models, D, K)
    resampled = ordinal.fleiss_kappa_all_tasks_resampled(tables, draws.weights).reshape(n_models, 2, -1)
    out = []
    for first in range(n_models):
        for second in range(first + 1, n_models):
            a, b = per_model[first], per_model[second]
            pair = []
            for scale, name in enumerate(("fleiss_kappa_all_tasks", "binary_fleiss_kappa_all_tasks")):
                left, right = getattr(a, name).value, getattr(b, name).value
                if left.value is None or right.value is None:
                    reason = f"{(a if left.value is None else b).model}: {(left if left.value is None else right).reason}"
                    pair += [Estimate(None, reason), Interval(None, None, reason)]
                else:
                    pair += [
                        Estimate(left.value - right.value),
                        kappa.percentile_interval(resampled[first, scale] - resampled[second, scale]),
                    ]
            out.append(ModelKappaDifference((a.model, b.model), *pair))
    return tuple(out)


def _mean(values: np.ndarray, reason: str) -> Estimate:
    return Estimate(float(np.mean(values))) if values.size else Estimate(None, reason)


def _author_category(author: np.ndarray) -> np.ndarray:
    """Self-ratings as categories 0..4, -1 where unknown or not a whole number 0-4."""
    usable = np.isfinite(author) & (author == np.round(author)) & (author >= 0) & (author < N_CATEGORIES)
    return np.where(usable, np.nan_to_num(author), -1).astype(np.int64)


def _with_author(counts: np.ndarray, author: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts with the author's rating added, and which rows have one. counts (M, K), author (M,)."""
    known = author >= 0
    added = counts[known].copy()
    added[np.arange(known.sum()), author[known]] += 1
    return added, known


STATISTICS = ("raw", "binary", "with_author", "with_author_binary")


def _kappa_sections(counts, author, intervals: dict | None, threshold: int) -> tuple[FleissKappas, AuthorKappas]:
    """Fleiss' kappa (raw, binary) of complete tasks, alone and with the author, with intervals.

    counts : (M, K) complete tasks; author : (M,) categories or -1; intervals : one
    kappa.Interval per name of STATISTICS, or None when there was no bootstrap.
    """
    too_few = Interval(None, None, f"fewer than 2 tasks with complete ratings ({len(counts)})")
    intervals = intervals or dict.fromkeys(STATISTICS, too_few)
    reviewers = _kappas(counts, threshold, intervals["raw"], intervals["binary"])
    with_author, known = _with_author(counts, author)
    no_author = NO_AUTHOR if len(counts) and not known.any() else None
    author_kappas = _kappas(with_author, threshold, intervals["with_author"], intervals["with_author_binary"], no_author)
    raters = int(counts[0].sum() + N_AUTHOR) if len(counts) else None
    return reviewers, AuthorKappas(**_fields(author_kappas), items=int(known.sum()), raters=raters)


def paper_footing(ratings: np.ndarray, author: np.ndarray, reviewers_per_task: int, threshold: int) -> PaperFooting:
    """3 reviewers + the author on tasks rated by 4: each reviewer position left out in turn.

    ratings : (M, R) complete tasks, NaN where a reviewer gave none, columns in reviewer-id order;
    author : (M,) self-rating categories, -1 where unknown. Only tasks with a self-rating count.
    """
    kept = PAPER.reviewers
    if reviewers_per_task != kept + 1:
        if reviewers_per_task == kept:
            reason = f"with {kept} reviewers per task, the reviewers + author figure is already the paper's footing"
        else:
            reason = (
                f"the paper's footing leaves one of {kept + 1} reviewers out ({kept} + the author); "
                f"this summary counts tasks with {reviewers_per_task} ratings"
            )
        return _undefined_footing(0, reason)
    known = author >= 0
    if len(ratings) and not known.any():
        return _undefined_footing(0, NO_AUTHOR)
    rows, author = ratings[known], author[known]
    if len(rows) < 2:
        return _undefined_footing(int(len(rows)), f"fewer than 2 tasks with complete ratings ({len(rows)})")
    # Each row holds exactly kept + 1 ratings; a stable sort of "missing" keeps reviewer-id order.
    order = np.argsort(np.isnan(rows), axis=1, kind="stable")
    ordered = np.take_along_axis(rows, order, axis=1)[:, : kept + 1]
    raw, binary = [], []
    for position in range(kept + 1):
        counts = kappa.count_table(np.delete(ordered, position, axis=1), N_CATEGORIES)
        counts[np.arange(len(counts)), author] += 1
        raw.append(kappa.fleiss_kappa(counts))
        binary.append(kappa.fleiss_kappa(kappa.binarise(counts, threshold)))
    fleiss, fleiss_range = _mean_and_range(raw)
    binary_fleiss, binary_range = _mean_and_range(binary)
    return PaperFooting(
        items=int(len(rows)),
        raters=kept + N_AUTHOR if fleiss.value is not None or binary_fleiss.value is not None else None,
        fleiss_kappa=fleiss,
        fleiss_kappa_range=fleiss_range,
        binary_fleiss_kappa=binary_fleiss,
        binary_fleiss_kappa_range=binary_range,
    )


def _undefined_footing(items: int, reason: str) -> PaperFooting:
    return PaperFooting(items, None, Estimate(None, reason), Interval(None, None, reason), Estimate(None, reason), Interval(None, None, reason))


def _mean_and_range(kappas: list[Estimate]) -> tuple[Estimate, Interval]:
    """The mean of the left-one-out kappas and their range; undefined if any one is."""
    undefined = [(position, k.reason) for position, k in enumerate(kappas, start=1) if k.value is None]
    if undefined:
        reasons = {reason for _, reason in undefined}
        if len(undefined) == len(kappas) and len(reasons) == 1:
            reason = reasons.pop()
        else:
            position, why = undefined[0]
            reason = f"undefined leaving out reviewer position {position} of {len(kappas)}: {why}"
        return Estimate(None, reason), Interval(None, None, reason)
    values = np.array([k.value for k in kappas])
    return Estimate(float(values.mean())), Interval(float(values.min()), float(values.max()))


def _kappas(counts, threshold: int, ci95: Interval, binary_ci95: Interval, reason: str | None = None) -> FleissKappas:
    """Fleiss' kappa of count rows (M, K), raw and binary; `reason`, when given, replaces theirs."""
    raw = kappa.fleiss_kappa(counts)
    binary = kappa.fleiss_kappa(kappa.binarise(counts, threshold))
    if reason:
        raw, binary = Estimate(raw.value, reason), Estimate(binary.value, reason)
    return FleissKappas(raw, binary, _around(raw, ci95), _around(binary, binary_ci95))


def _around(point: Estimate, interval: Interval) -> Interval:
    """No interval around an undefined kappa: the kappa's reason instead."""
    return interval if point.value is not None else Interval(None, None, point.reason)


def _bootstrap_intervals(counts, author, model_code, n_models: int, threshold: int, n_resamples: int, seed: int) -> list[dict]:
    """Intervals of every STATISTICS for the whole sample (entry 0) and each model (1..n_models).

    counts : (M, K) complete tasks; author : (M,); model_code : (M,), n_models = unknown.
    One stratified resampling serves all; one matrix product gives every kappa of every resample.
    """
    keys = np.column_stack([counts, author])
    draws = kappa.resample_tasks(keys, n_resamples, seed, model_code if n_models else None)
    rows, known = draws.rows[:, :N_CATEGORIES], draws.rows[:, N_CATEGORIES] >= 0
    with_author = rows.copy()
    with_author[known, draws.rows[known, N_CATEGORIES]] += 1
    with_author[~known] = 0

    def padded(table):
        return np.pad(kappa.binarise(table, threshold), ((0, 0), (0, N_CATEGORIES - 2)))

    tables = np.stack([rows, padded(rows), with_author, padded(with_author)])  # (4, D, K)
    masks = [np.ones(len(rows), dtype=bool)] + [draws.stratum == code for code in range(n_models)]
    stacked = np.concatenate([tables * mask[None, :, None] for mask in masks])  # (4 * sections, D, K)
    kappas = kappa.fleiss_kappa_resampled(stacked, draws.weights).reshape(len(masks), len(STATISTICS), -1)
    return [
        {name: kappa.percentile_interval(section[i]) for i, name in enumerate(STATISTICS)}
        for section in kappas
    ]


def _spearman(x: np.ndarray, y: np.ndarray) -> Correlation:
    """Spearman's rho over the tasks where both x (N,) and y (N,) are known."""
    both = np.isfinite(x) & np.isfinite(y)
    x, y = x[both], y[both]
    n = int(both.sum())
    if n < 3:
        return Correlation(n, Estimate(None, f"fewer than 3 tasks with both values ({n})"), None)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return Correlation(n, Estimate(None, "one of the two is the same on every task"), None)
    rho, p_value = stats.spearmanr(x, y)
    return Correlation(n, Estimate(float(rho)), float(p_value))


def _topics(tasks: ReviewedTasks, complete: np.ndarray, reviewers_per_task: int) -> Topics:
    """Per-tag kappa over complete tasks, each tag's prevalence, and MASI alpha over tag sets."""
    members = tasks.topic_members
    n_tasks, n_topics = len(tasks.task_id), members.shape[1]
    rated, tagged = np.nonzero(members)
    per_task = np.bincount(tasks.topic_task[rated] * n_topics + tagged, minlength=n_tasks * n_topics)
    present = per_task.reshape(n_tasks, n_topics)[complete]
    n_ratings = len(members)
    kappas = kappa.binary_fleiss_kappas(present, reviewers_per_task) if reviewers_per_task >= 2 else []
    prevalence = members.sum(axis=0) / n_ratings if n_ratings else np.zeros(n_topics)
    per_tag = tuple(
        TagAgreement(
            topic=topic,
            prevalence=float(prevalence[index]),
            uses=int(members[:, index].sum()),
            fleiss_kappa=kappas[index] if kappas else Estimate(None, "fewer than 2 reviewers per task"),
        )
        for index, topic in enumerate(TOPICS)
    )
    no_topic_share = (
        Estimate(float((members.sum(axis=1) == 0).mean())) if n_ratings else Estimate(None, "no valid rating")
    )
    return Topics(int(n_ratings), no_topic_share, per_tag, kappa.masi_alpha(tasks.topic_task, members))


def _pairs(tasks: ReviewedTasks) -> tuple[ReviewerPairs, dict[str, list[Estimate]]]:
    """Reviewer-by-reviewer Cohen's kappa, and each reviewer's shared-task-weighted mean of it
    (per weighting, "none" and "quadratic", one Estimate per reviewer)."""
    joint = kappa.pair_tables(tasks.ratings, N_CATEGORIES)
    tables, versus_others = {}, {}
    for weights in ("none", "quadratic"):
        values, shared, reasons = kappa.cohen_kappa_from_tables(joint, weights)
        tables[weights] = tuple(
            tuple(Estimate(None if np.isnan(v) else float(v), r) for v, r in zip(value_row, reason_row))
            for value_row, reason_row in zip(values, reasons)
        )
        versus_others[weights] = [_versus_others(row, shared_row) for row, shared_row in zip(values, shared)]
    pairs = ReviewerPairs(
        reviewer_ids=tuple(int(i) for i in tasks.reviewer_ids),
        cohen_kappa=tables["none"],
        quadratic_kappa=tables["quadratic"],
        shared_tasks=tuple(tuple(row) for row in shared.tolist()),  # shared does not depend on the weights
    )
    return pairs, versus_others


def _versus_others(row: np.ndarray, shared: np.ndarray) -> Estimate:
    """One reviewer's kappas with the others (R,), NaN = undefined, weighted by shared tasks (R,)."""
    weight = np.where(np.isnan(row), 0, shared)
    if weight.sum() == 0:
        return Estimate(None, "no other reviewer with a defined kappa on shared tasks")
    return Estimate(float(np.nansum(row * weight) / weight.sum()))


def _most_disagreement(tasks: ReviewedTasks, counts: np.ndarray, author: np.ndarray, top: int) -> tuple[DisputedTask, ...]:
    """The tasks whose reviewers disagree most: mean squared difference over rating pairs."""
    sizes = counts.sum(axis=1)
    grid = np.arange(N_CATEGORIES)
    squared = (grid[:, None] - grid[None, :]) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        spread = np.einsum("ic,ck,ik->i", counts, squared, counts) / (sizes * (sizes - 1))
    spread = np.where(sizes >= 2, spread, -1.0)
    # Highest spread first; ties by attack_id so the list is stable between runs.
    order = np.lexsort((tasks.attack_id, -spread))
    chosen = [i for i in order[:top] if spread[i] > 0]
    return tuple(
        DisputedTask(
            attack_id=int(tasks.attack_id[i]),
            task_id=int(tasks.task_id[i]),
            disagreement=float(spread[i]),
            ratings=tuple(
                (int(tasks.reviewer_ids[r]), int(tasks.ratings[i, r])) for r in np.flatnonzero(~np.isnan(tasks.ratings[i]))
            ),
            author_rating=int(author[i]) if author[i] >= 0 else None,
            model=tasks.model[i],
        )
        for i in chosen
    )
