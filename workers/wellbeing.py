"""The lead's view of the check-ins: response rate, item means beside the paper's, the trend over
milestones, and who has not answered. Pure: rows in, a JSON-ready dict (and its text) out.

Free-text comments appear only when asked for (`include_comments`); no single reviewer's
scores are ever shown, only means.
"""

from __future__ import annotations

from collections import defaultdict
from statistics import fmean

from workers.store import CheckIn, Reviewer, StoredAnswer
from workers.survey import ITEMS, NEGATIVE_ITEMS, PAPER_MEANS

POSITIVE_ITEMS = tuple(item for item in ITEMS if item not in NEGATIVE_ITEMS)


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(fmean(values), 3) if values else None


def _name(reviewers: dict[int, Reviewer], reviewer: int) -> str:
    known = reviewers.get(reviewer)
    return known.name if known else f"Label Studio user {reviewer}"


def summarize(
    checkins: list[CheckIn], answers: list[StoredAnswer], reviewers: dict[int, Reviewer], include_comments: bool = False
) -> dict:
    """Aggregate every check-in and answer into the lead's summary (see module docstring)."""
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

    by_milestone: dict[int, list[StoredAnswer]] = defaultdict(list)
    for a in answers:
        by_milestone[a.milestone].append(a)
    sent_by_milestone: dict[int, int] = defaultdict(int)
    for c in delivered:
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
        row = per_reviewer.setdefault(c.reviewer, {"reviewer": _name(reviewers, c.reviewer), "sent": 0, "answered": 0})
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
    }
    if include_comments:
        summary["comments"] = [
            {"milestone": a.milestone, "reviewer": _name(reviewers, a.reviewer), "comment": a.answer.comment}
            for a in answers
            if a.answer.comment
        ]
    return summary


def pending(checkins: list[CheckIn], reviewers: dict[int, Reviewer]) -> list[dict]:
    """Check-ins not delivered yet (pending, being sent, or failed), with the last error."""
    return [
        {
            "checkin": c.id,
            "project": c.project,
            "reviewer": _name(reviewers, c.reviewer),
            "milestone": c.milestone,
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
        lines.append(
            f"  #{row['checkin']} project {row['project']}, {row['reviewer']}, milestone {row['milestone']}:"
            f" {row['status']} after {row['attempts']} attempt(s)"
            + (f" - {row['last_error']}" if row["last_error"] else "")
        )
    return "\n".join(lines)
