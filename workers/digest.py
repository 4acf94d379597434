"""The lead's daily digest: how far the review is, how far the reviewers agree, what they dispute,
and how they are doing. Rows in, the digest's facts and their text out, with no I/O and no clock;
only `read_digest` reads, from the store it is handed (the worker's poster and `review-project
digest --print` share it, and neither needs Slack's libraries for it).

Each project is measured from its ledger by the functions the lead's commands use, so the numbers
are theirs: progress as `status` counts it (progress.review_progress), Fleiss' kappa with its
bootstrap interval as `agreement --project` without a manifest gives it (agreement.arrays and
agreement.summary.statistics, same resamples and seed), disputed attacks by `adjudicate`'s rule
(disputes.disputes with its defaults).

Well-being is one section across projects, since a reviewer is one person in every project:
- the response rate of the check-ins that offer the survey (wellbeing.SURVEY_KINDS: every N tasks,
  and the severe-streak nudge's early check-in), as `wellbeing` counts it, and the
  negative-affect mean (the mean of the 5 negative items' means) beside the paper's, shown only
  once MIN_REVIEWERS_FOR_MEAN reviewers have answered: a mean of one person's answers is theirs;
- who may want a check-in, names only (MAY_WANT_CHECKIN_RULE); never an answer or a score;
- the nudges sent (every other kind of check-in, status 'sent'), by kind, since the last digest
  and in total.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from statistics import fmean

from review_project.agreement.arrays import reviews
from review_project.agreement.kappa import Estimate, Interval, landis_koch
from review_project.agreement.summary import statistics
from review_project.disputes import DisputeRule, reviewed_disputes
from review_project.export import tables_from_rows
from review_project.progress import ConsentRow, review_progress
from review_project.shared import ReviewError
from workers import pacing, wellbeing
from workers.store.ledger import LedgerRows
from workers.store import CheckIn, Consent, Reviewer, Store, StoredAnswer
from workers.survey import NEGATIVE_ITEMS, PAPER_MEANS

# Without a previous digest, "since the last digest" is the last day.
FIRST_DIGEST_LOOKS_BACK = 24 * 3600
PAPER_NEGATIVE_MEAN = fmean(PAPER_MEANS[item] for item in NEGATIVE_ITEMS)
UNANSWERED_IN_A_ROW = 2
MIN_REVIEWERS_FOR_MEAN = 3
MAY_WANT_CHECKIN_RULE = (
    "their latest answer's negative-affect mean (the negative items they answered) is above the paper's"
    f" ({PAPER_NEGATIVE_MEAN:.2f}); or the last {UNANSWERED_IN_A_ROW} surveys delivered to them are both"
    " unanswered; or they were sent a severe-streak nudge since the last digest"
)
NUDGE_NAMES = {pacing.BREAK: "break", pacing.SEVERE: "severe streak", pacing.DAILY_CAP: "daily cap"}


@dataclass(frozen=True)
class ReviewerTasks:
    """One reviewer's tasks in a project: submitted and skipped (their latest annotation of each)."""

    name: str
    submitted: int
    skipped: int


@dataclass(frozen=True)
class ProjectFacts:
    """One project from its ledger: progress, agreement on the 0-4 scale and the binary one, disputes.

    unmeasured : why agreement and disputes could not be measured (then kappa, disputed are None);
    syncing : the worker's first sync of the project has not finished, so these are counts so far.
    """

    project: int
    tasks: int
    fully_reviewed: int
    in_progress: int
    untouched: int
    reviewers_per_task: int
    reviewers: tuple[ReviewerTasks, ...]
    complete_tasks: int | None
    kappa: Estimate | None
    ci95: Interval | None
    binary_kappa: Estimate | None
    binary_ci95: Interval | None
    threshold: int
    disputed: int | None
    unmeasured: str | None
    syncing: bool


@dataclass(frozen=True)
class WellbeingFacts:
    """The check-ins of every project: response rate, negative affect, who may want a check-in, nudges."""

    delivered: int
    answered: int
    response_rate: float | None
    # None until MIN_REVIEWERS_FOR_MEAN reviewers have answered (answering_reviewers).
    negative_mean: float | None
    answering_reviewers: int
    may_want_checkin: tuple[str, ...]
    nudges_since: dict[str, int]
    nudges_total: dict[str, int]


@dataclass(frozen=True)
class Digest:
    """The digest of one local day (YYYY-MM-DD); `since` is when the previous digest was posted."""

    day: str
    since: float
    projects: tuple[ProjectFacts, ...]
    wellbeing: WellbeingFacts
    # Everyone invited or with work, by email (empty until `review-project invite` has asked anyone).
    consent: tuple[ConsentRow, ...] = ()


def due_day(now: datetime, at: time) -> str | None:
    """The local day (YYYY-MM-DD) whose digest is due at local time `now`, or None before `at`."""
    return now.date().isoformat() if now.time().replace(tzinfo=None) >= at else None


def project_facts(
    project: int, rows: LedgerRows, reviewers: dict[int, Reviewer], reviewers_per_task: int,
    rule: DisputeRule = DisputeRule(), n_resamples: int = 2000, seed: int = 0,
) -> ProjectFacts:
    """Progress, agreement and disputes of one project from its ledger rows (Store.read_ledger)."""
    tables = tables_from_rows(rows.annotations, rows.tasks)
    progress = review_progress(len(tables.tasks), tables.annotations, reviewers_per_task)
    people = sorted(
        (ReviewerTasks(wellbeing.reviewer_name(reviewers, p.reviewer_id), p.submitted, p.skipped) for p in progress.reviewers),
        key=lambda r: (r.name.lower(), r.name),
    )
    measured, unmeasured = _measure(tables, reviewers_per_task, rule, n_resamples, seed)
    return ProjectFacts(
        project=project, tasks=progress.tasks, fully_reviewed=progress.fully_reviewed,
        in_progress=progress.in_progress, untouched=progress.untouched, reviewers_per_task=reviewers_per_task,
        reviewers=tuple(people), threshold=rule.threshold, unmeasured=unmeasured, syncing=rows.state.syncing,
        **measured,
    )


def _measure(tables, reviewers_per_task: int, rule: DisputeRule, n_resamples: int, seed: int) -> tuple[dict, str | None]:
    """Agreement and the disputed count as `agreement` and `adjudicate` compute them, or why not."""
    measured = dict.fromkeys(("complete_tasks", "kappa", "ci95", "binary_kappa", "binary_ci95", "disputed"))
    unknown = tables.tasks[tables.tasks["attack_id"].isna()]
    if len(unknown):  # `agreement --project` refuses such a project too; catch-up fills attack_ids in
        return measured, f"task {unknown['task_id'].iloc[0]} has no attack_id in the ledger yet"
    try:
        reviewed = reviews(tables.annotations, None, tables.tasks)
    except ReviewError as error:
        return measured, str(error)
    stats = statistics(reviewed.arrays, reviewers_per_task, rule.threshold, n_resamples, seed)
    measured.update(
        complete_tasks=stats.items.complete, kappa=stats.success.fleiss_kappa, ci95=stats.success.ci95,
        binary_kappa=stats.success.binary_fleiss_kappa, binary_ci95=stats.success.binary_ci95,
        disputed=int((reviewed_disputes(reviewed.arrays, rule) != "").sum()),
    )
    return measured, None


def _negative_mean(scores: dict) -> float | None:
    given = [scores.get(item) for item in NEGATIVE_ITEMS if scores.get(item) is not None]
    return fmean(given) if given else None


def may_want_checkin(checkins: list[CheckIn], answers: list[StoredAnswer], since: float) -> set[int]:
    """The reviewers (Label Studio ids) who may want a check-in, by MAY_WANT_CHECKIN_RULE."""
    flagged = set()
    latest: dict[int, StoredAnswer] = {}
    for answer in sorted(answers, key=lambda a: (a.answered_at, a.checkin_id)):
        latest[answer.reviewer] = answer
    for reviewer, answer in latest.items():
        mean = _negative_mean(answer.answer.scores)
        if mean is not None and mean > PAPER_NEGATIVE_MEAN:
            flagged.add(reviewer)
    answered = {a.checkin_id for a in answers}
    delivered: dict[int, list[CheckIn]] = {}
    for checkin in sorted((c for c in checkins if c.status == "sent" and c.kind in wellbeing.SURVEY_KINDS),
                          key=lambda c: (c.sent_at or 0.0, c.id)):
        delivered.setdefault(checkin.reviewer, []).append(checkin)
    for reviewer, sent in delivered.items():
        last = sent[-UNANSWERED_IN_A_ROW:]
        if len(last) == UNANSWERED_IN_A_ROW and not any(c.id in answered for c in last):
            flagged.add(reviewer)
    flagged |= {c.reviewer for c in checkins
                if c.kind == pacing.SEVERE and c.status == "sent" and (c.sent_at or 0.0) >= since}
    return flagged


def nudges_sent(checkins: list[CheckIn], since: float) -> tuple[dict[str, int], dict[str, int]]:
    """Nudges delivered (status 'sent'), by kind: since `since`, and in total."""
    sent = [c for c in checkins if c.kind != pacing.MILESTONE and c.status == "sent"]
    recent = [c for c in sent if (c.sent_at or 0.0) >= since]
    return _by_kind(recent), _by_kind(sent)


def _by_kind(checkins: list[CheckIn]) -> dict[str, int]:
    counts = {kind: sum(c.kind == kind for c in checkins) for kind in pacing.NUDGES}
    return {kind: n for kind, n in counts.items() if n}


def wellbeing_facts(
    checkins: list[CheckIn], answers: list[StoredAnswer], reviewers: dict[int, Reviewer], since: float
) -> WellbeingFacts:
    """The well-being section: every project's check-ins and answers, names only for who may want one."""
    summary = wellbeing.summarize(checkins, answers, reviewers)  # counts the survey kinds only
    means = [row["mean"] for row in summary["items"] if row["negative"] and row["mean"] is not None]
    answering = len({a.reviewer for a in answers})
    since_counts, total_counts = nudges_sent(checkins, since)
    names = sorted({wellbeing.reviewer_name(reviewers, r) for r in may_want_checkin(checkins, answers, since)},
                   key=lambda name: (name.lower(), name))
    return WellbeingFacts(
        delivered=summary["delivered"], answered=summary["answered"], response_rate=summary["response_rate"],
        negative_mean=fmean(means) if means and answering >= MIN_REVIEWERS_FOR_MEAN else None,
        answering_reviewers=answering, may_want_checkin=tuple(names),
        nudges_since=since_counts, nudges_total=total_counts,
    )


def digest_facts(
    day: str, since: float, ledgers: dict[int, LedgerRows], checkins: list[CheckIn], answers: list[StoredAnswer],
    reviewers: dict[int, Reviewer], reviewers_per_task: int, consents: list[Consent] | None = None,
    exposures: list[tuple[int, int, float, bool]] | None = None,
) -> Digest:
    """The whole digest: one section per project in `ledgers` (by id), the well-being section, and
    consent beside the tasks each person did (the exposure log) once anyone was invited."""
    consent = tuple(wellbeing.consent(consents or [], exposures or [], reviewers))
    projects = tuple(project_facts(p, ledgers[p], reviewers, reviewers_per_task) for p in sorted(ledgers))
    return Digest(day, since, projects, wellbeing_facts(checkins, answers, reviewers, since), consent)


# -- the text ------------------------------------------------------------------------------------------
def _when(moment: float) -> str:
    return datetime.fromtimestamp(moment).strftime("%Y-%m-%d %H:%M")


def _kappa(estimate: Estimate, interval: Interval) -> str:
    if estimate.value is None:
        return f"not measurable yet ({estimate.reason})"
    around = f"95% interval {interval.low:.2f} to {interval.high:.2f}" if interval.low is not None else "no interval"
    return f"{estimate.value:.2f} ({around}; {landis_koch(estimate.value)})"


def _nudges(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    if not total:
        return "none"
    return f"{total} (" + ", ".join(f"{n} {NUDGE_NAMES[kind]}" for kind, n in counts.items()) + ")"


def _project_lines(p: ProjectFacts) -> list[str]:
    lines = [f"Project {p.project}" + (" (the worker's first sync is not finished: counts so far)" if p.syncing else "")]
    if not p.tasks:
        return [*lines, "- No task in the ledger yet."]
    lines.append(
        f"- Progress: {p.fully_reviewed} of {p.tasks} tasks fully reviewed ({p.reviewers_per_task} reviewers each);"
        f" {p.in_progress} in progress, {p.untouched} untouched"
    )
    per_reviewer = ", ".join(
        f"{r.name}: {r.submitted}" + (f" ({r.skipped} skipped)" if r.skipped else "") for r in p.reviewers
    )
    lines.append(f"- Tasks per reviewer: {per_reviewer or 'nobody has started'}")
    if p.unmeasured:
        return [*lines, f"- Agreement and disputes: not measured ({p.unmeasured})"]
    lines.append(
        f"- Agreement so far: Fleiss' kappa {_kappa(p.kappa, p.ci95)}; success at {p.threshold} or more:"
        f" {_kappa(p.binary_kappa, p.binary_ci95)}; over {p.complete_tasks} tasks with {p.reviewers_per_task}"
        " valid ratings"
    )
    lines.append(f"- Disputed attacks: {p.disputed}")
    return lines


def digest_text(digest: Digest) -> str:
    """The digest as plain text: what `review-project digest --print` prints and the worker posts."""
    lines = [f"Daily digest of the review, {digest.day} (since {_when(digest.since)})", ""]
    for project in digest.projects:
        lines += [*_project_lines(project), ""]
    if not digest.projects:
        lines += ["No project in the ledger yet.", ""]
    w = digest.wellbeing
    rate = "-" if w.response_rate is None else f"{w.response_rate:.0%}"
    if w.negative_mean is not None:
        negative = f"mean {w.negative_mean:.2f}"
    elif w.answering_reviewers:
        negative = f"shown once {MIN_REVIEWERS_FOR_MEAN} reviewers have answered, {w.answering_reviewers} so far"
    else:
        negative = "no answer yet"
    lines += [
        "Well-being (every project)",
        f"- Check-ins: {w.delivered} delivered, {w.answered} answered (response rate {rate})",
        f"- Negative affect: {negative} (the paper's {PAPER_NEGATIVE_MEAN:.2f})",
        f"- May want a check-in: {', '.join(w.may_want_checkin) or 'nobody, by the digest rule'}",
        f"- Nudges sent since {_when(digest.since)}: {_nudges(w.nudges_since)}; in total: {_nudges(w.nudges_total)}",
    ]
    return "\n".join(lines + _consent_lines(digest.consent))


def _consent_lines(rows: tuple[ConsentRow, ...]) -> list[str]:
    if not rows:
        return []
    lines = ["", "Consent (consented, joined, tasks done)"]
    for r in rows:
        given = _when(r.consented_at) if r.consent == "consented" else {
            "invited": "asked, no answer", "declined": "declined", "withdrawn": "withdrew"}.get(r.consent, "never asked")
        flag = " - annotated without a recorded consent" if r.unconsented else ""
        lines.append(f"- {r.email}: {given}; {'joined' if r.joined else 'not joined'}; {r.tasks} tasks{flag}")
    return lines


# -- the one read -------------------------------------------------------------------------------------
def read_digest(store: Store, day: str, now: float, reviewers_per_task: int, *, before_day: str | None = None) -> Digest:
    """The digest of `day` from the store: every project it knows, every check-in and answer.

    "Since" is when the latest digest was posted (of a day before `before_day`, when given: the
    worker's digest of `day` looks back to the previous day's), else FIRST_DIGEST_LOOKS_BACK ago.
    """
    since = store.outbox.last_sent_at("digest", before_day)
    since = now - FIRST_DIGEST_LOOKS_BACK if since is None else since
    ledgers = {project: store.ledger.read(project) for project in store.events.known_projects()}
    return digest_facts(day, since, ledgers, store.checkins.all(), store.checkins.answers(), store.directory.reviewers(),
                        reviewers_per_task, store.consents.everyone(), store.events.exposure_log())
