"""The lead's view of the check-ins: response rate, item means beside the paper's, the trend over
milestones, who has not answered, and what each reviewer was exposed to (tasks per day, the
longest session, severe tasks seen, nudges sent). Pure: rows in, a JSON-ready dict (and its text) out.

Free-text comments appear only when asked for (`include_comments`); no single reviewer's
scores are ever shown, only means.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from statistics import fmean

from review_project.progress import ConsentRow, consent_lines, consent_rows
from workers import pacing
from workers.store import CheckIn, Reviewer, StoredAnswer
from workers.survey import ITEMS, NEGATIVE_ITEMS, PAPER_MEANS

POSITIVE_ITEMS = tuple(item for item in ITEMS if item not in NEGATIVE_ITEMS)
# The kinds whose message offers the survey: the response rate counts these.
SURVEY_KINDS = (pacing.MILESTONE, pacing.SEVERE)


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(fmean(values), 3) if values else None


def reviewer_name(reviewers: dict[int, Reviewer], reviewer: int) -> str:
    """The reviewer's name in Label Studio as the worker cached it, else their user id."""
    known = reviewers.get(reviewer)
    return known.name if known and known.name else f"Label Studio user {reviewer}"


def summarize(
    checkins: list[CheckIn],
    answers: list[StoredAnswer],
    reviewers: dict[int, Reviewer],
    include_comments: bool = False,
    exposures: list[tuple[int, int, float, bool]] | None = None,
) -> dict:
    """Aggregate every check-in and answer into the lead's summary (see module docstring).

    `exposures` is the store's exposure_log; with it the summary has an "exposure" list.
    """
    nudges = [c for c in checkins if c.kind in pacing.NUDGES]
    checkins = [c for c in checkins if c.kind in SURVEY_KINDS]
    delivered = [c for c in checkins if c.status == "sent"]
    delivered_ids = {c.id for c in delivered}
    answered_ids = {a.checkin_id for a in answers}
    status_counts = {status: sum(c.status == status for c in checkins) for status in sorted({c.status for c in checkins})}

    items = [
        {
            "item": item,
            "mean": _mean(a.answer.scores.get(item) for a in answers),
            "answers": sum(a.answer.scores.get(item) is not None for a in answers),
            "paper_mean": PAPER_MEANS[item],
            "negative": item in NEGATIVE_ITEMS,
        }
        for item in ITEMS
    ]

    # The trend follows the regular milestones; an early check-in (a severe streak) is off that scale.
    by_milestone: dict[int, list[StoredAnswer]] = defaultdict(list)
    for a in answers:
        if a.kind == pacing.MILESTONE:
            by_milestone[a.milestone].append(a)
    sent_by_milestone: dict[int, int] = defaultdict(int)
    for c in delivered:
        if c.kind == pacing.MILESTONE:
            sent_by_milestone[c.milestone] += 1
    trend = [
        {
            "milestone": milestone,
            "sent": sent_by_milestone.get(milestone, 0),
            "answers": len(by_milestone.get(milestone, [])),
            "negative_mean": _mean(_mean(a.answer.scores.get(i) for i in NEGATIVE_ITEMS) for a in by_milestone.get(milestone, [])),
            "positive_mean": _mean(_mean(a.answer.scores.get(i) for i in POSITIVE_ITEMS) for a in by_milestone.get(milestone, [])),
        }
        for milestone in sorted(set(sent_by_milestone) | set(by_milestone))
    ]

    per_reviewer: dict[int, dict] = {}
    for c in delivered:
        row = per_reviewer.setdefault(c.reviewer, {"reviewer": reviewer_name(reviewers, c.reviewer), "sent": 0, "answered": 0})
        row["sent"] += 1
        row["answered"] += c.id in answered_ids
    not_answered = sorted(
        (row for row in per_reviewer.values() if row["answered"] < row["sent"]),
        key=lambda row: (row["answered"] > 0, row["reviewer"]),
    )

    summary = {
        "checkins": len(checkins),
        "by_status": status_counts,
        "delivered": len(delivered),
        "answered": len(answered_ids & delivered_ids),
        "response_rate": round(len(answered_ids & delivered_ids) / len(delivered), 3) if delivered else None,
        "items": items,
        "trend": trend,
        "not_answered": not_answered,
        "nudges_sent": dict(sorted(Counter(c.kind for c in nudges if c.status == "sent").items())),
    }
    if exposures is not None:
        summary["exposure"] = exposure(exposures, nudges, reviewers)
    if include_comments:
        summary["comments"] = [
            {"milestone": a.milestone, "reviewer": reviewer_name(reviewers, a.reviewer), "comment": a.answer.comment}
            for a in answers
            if a.answer.comment
        ]
    return summary


def exposure(
    exposures: list[tuple[int, int, float, bool]], nudges: list[CheckIn], reviewers: dict[int, Reviewer]
) -> list[dict]:
    """Per reviewer, over every project: tasks per local day, the longest session, severe tasks
    seen, nudges sent by kind, and the days the daily cap was reached (docs/worker.md, "Pacing")."""
    times: dict[int, list[float]] = defaultdict(list)
    in_project: dict[tuple[int, int], list[float]] = defaultdict(list)
    severe: Counter = Counter()
    for project, reviewer, reviewed_at, is_severe in exposures:
        times[reviewer].append(reviewed_at)
        in_project[project, reviewer].append(reviewed_at)
        severe[reviewer] += is_severe
    sent: dict[int, Counter] = defaultdict(Counter)
    capped: dict[int, set[str]] = defaultdict(set)
    for c in nudges:
        if c.status == "sent":
            sent[c.reviewer][c.kind] += 1
        # Reached whether or not the DM went out (paused); the day is that of the task that reached it.
        seen = in_project.get((c.project, c.reviewer), [])
        if c.kind == pacing.DAILY_CAP and 0 < c.milestone <= len(seen):
            capped[c.reviewer].add(pacing.local_day(seen[c.milestone - 1]))
    rows = []
    for reviewer in sorted(times, key=lambda r: reviewer_name(reviewers, r)):
        per_day = Counter(pacing.local_day(t) for t in times[reviewer])
        longest = max(pacing.sessions(times[reviewer]), key=lambda s: (s.seconds, s.tasks))
        rows.append(
            {
                "reviewer": reviewer_name(reviewers, reviewer),
                "tasks": len(times[reviewer]),
                "tasks_per_day": dict(sorted(per_day.items())),
                "longest_session_minutes": round(longest.seconds / 60, 1),
                "longest_session_tasks": longest.tasks,
                "severe_seen": severe[reviewer],
                "nudges_sent": {kind: sent[reviewer][kind] for kind in pacing.NUDGES},
                "daily_cap_reached_on": sorted(capped[reviewer]),
            }
        )
    return rows


def consent(consents: list, exposures: list[tuple[int, int, float, bool]], reviewers: dict[int, Reviewer]) -> list[ConsentRow]:
    """Per person invited or with work: consented (when), joined (known to the worker), tasks done (the
    exposure log's, every project), and whether they annotated without a recorded consent; [] before any invite.

    A reviewer whose email the worker does not know yet is "Label Studio user N", with no consent on record.
    """
    if not consents:
        return []
    done = Counter(reviewer for _, reviewer, _, _ in exposures)
    tasks = {(reviewers[r].email if r in reviewers and reviewers[r].email else f"Label Studio user {r}"): n
             for r, n in done.items()}
    joined = {r.email.lower() for r in reviewers.values() if r.email}
    return consent_rows(consents, tasks, joined)


def pending(checkins: list[CheckIn], reviewers: dict[int, Reviewer]) -> list[dict]:
    """Check-ins not delivered yet (pending, being sent, or failed), with the last error."""
    return [
        {
            "checkin": c.id,
            "project": c.project,
            "reviewer": reviewer_name(reviewers, c.reviewer),
            "milestone": c.milestone,
            "kind": c.kind,
            "status": c.status,
            "attempts": c.attempts,
            "next_attempt_at": c.next_attempt_at,
            "last_error": c.last_error,
        }
        for c in checkins
        if c.status in ("pending", "sending", "failed")
    ]


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def summary_text(summary: dict) -> str:
    """The summary as the lines `review-project wellbeing` prints."""
    rate = summary["response_rate"]
    lines = [
        f"Check-ins: {summary['checkins']} due, {summary['delivered']} delivered, {summary['answered']} answered"
        f" (response rate {'-' if rate is None else f'{rate:.0%}'})",
    ]
    other = {k: v for k, v in summary["by_status"].items() if k not in ("sent", "missed")}
    if other:
        lines.append("Not delivered: " + ", ".join(f"{v} {k}" for k, v in other.items()) + " (see --pending)")
    if summary["by_status"].get("missed"):
        lines.append(
            f"Missed: {summary['by_status']['missed']} milestone(s) reached while the worker was not watching"
            " or had no Slack; not sent (a reviewer gets at most one check-in for the latest)"
        )
    lines += ["", f"{'Item':<11}{'mean':>7}{'paper':>7}{'n':>5}"]
    for row in summary["items"]:
        lines.append(f"{row['item']:<11}{_fmt(row['mean']):>7}{row['paper_mean']:>7.2f}{row['answers']:>5}")
    if summary["trend"]:
        lines += ["", f"{'Milestone':<11}{'sent':>6}{'answers':>9}{'negative':>10}{'positive':>10}"]
        for row in summary["trend"]:
            lines.append(
                f"{row['milestone']:<11}{row['sent']:>6}{row['answers']:>9}"
                f"{_fmt(row['negative_mean']):>10}{_fmt(row['positive_mean']):>10}"
            )
    if summary["not_answered"]:
        lines += ["", "Reviewers with unanswered check-ins:"]
        lines += [f"  {row['reviewer']}: answered {row['answered']} of {row['sent']}" for row in summary["not_answered"]]
    if summary.get("exposure"):
        lines += ["", f"{'Exposure':<24}{'tasks':>6}{'per day (max)':>15}{'longest session':>17}{'severe':>8}{'nudges':>8}"]
        for row in summary["exposure"]:
            busiest = max(row["tasks_per_day"].values())
            session = f"{row['longest_session_minutes']:.0f} min/{row['longest_session_tasks']}"
            lines.append(
                f"{row['reviewer'][:23]:<24}{row['tasks']:>6}{busiest:>15}{session:>17}{row['severe_seen']:>8}"
                f"{sum(row['nudges_sent'].values()):>8}"
            )
        capped = [f"{row['reviewer']} ({', '.join(row['daily_cap_reached_on'])})"
                  for row in summary["exposure"] if row["daily_cap_reached_on"]]
        if capped:
            lines.append("Reached the daily task cap: " + "; ".join(capped))
    if summary["nudges_sent"]:
        lines.append("Nudges sent: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in summary["nudges_sent"].items()))
    if summary.get("consent"):
        lines += ["", "Consent (review-project invite):", *consent_lines([ConsentRow(**row) for row in summary["consent"]])]
    if "comments" in summary:
        lines += ["", f"Comments ({len(summary['comments'])}):"]
        lines += [f"  [{c['reviewer']}, milestone {c['milestone']}] {c['comment']}" for c in summary["comments"]]
    return "\n".join(lines)


def pending_text(rows: list[dict]) -> str:
    """The undelivered check-ins as lines for `review-project wellbeing --pending`."""
    if not rows:
        return "No check-ins waiting: every due check-in was delivered (or skipped because its reviewer paused)."
    lines = [f"{len(rows)} check-in(s) not delivered:"]
    for row in rows:
        what = f"milestone {row['milestone']}" if row["kind"] == pacing.MILESTONE else f"{row['kind'].replace('_', ' ')} nudge"
        lines.append(
            f"  #{row['checkin']} project {row['project']}, {row['reviewer']}, {what}:"
            f" {row['status']} after {row['attempts']} attempt(s)"
            + (f" - {row['last_error']}" if row["last_error"] else "")
        )
    return "\n".join(lines)
