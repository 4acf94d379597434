"""Inviting reviewers: what `review-project invite` and `review-project consent` say, from plain data.

The store's side (Slack lookups, the consent records, the outbox) is the worker's
(workers/invitations.py); this module only reads the reviewers file's line numbers and shapes
what the lead reads. Nothing here holds transcript text: the consent text describes the study.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from review_project.shared import ManifestError, email_problem

NO_SLACK = "no Slack user: send by hand (below)"


def reviewer_lines(path: str | Path) -> dict[str, int]:
    """Lower-cased email -> its line in the reviewers file, blank lines counted (read_reviewers has checked the file)."""
    text = Path(path).read_text(encoding="utf-8-sig")
    rows = csv.DictReader(text.splitlines())
    found = {}
    for row in rows:
        row = {(key or "").strip().lower(): value for key, value in row.items()}
        email = (row.get("email") or "").strip()
        if email:
            # line_num is the physical line just read: DictReader skips blank lines without counting them as rows.
            found.setdefault(email.lower(), rows.line_num)
    return found


def lead_mark(lead_email: str) -> str:
    """`lead:<email>`: how a consent recorded by hand is marked; ManifestError for a malformed email."""
    problem = email_problem(lead_email.strip())
    if problem:
        raise ManifestError(f"--recorded-by: {lead_email!r} {problem}")
    return f"lead:{lead_email.strip().lower()}"


def workload_text(tasks: int | None, reviewers_per_task: int | None, reviewers: int) -> str:
    """How much work the consent text says to expect (a phrase): each reviewer's share of the project's reviews."""
    if not tasks or not reviewers_per_task:
        return "your lead will tell you how many transcripts before you start"
    each = min(tasks, -(-tasks * reviewers_per_task // max(reviewers, 1)))
    return (f"about {each} transcripts for each reviewer ({tasks} in the review, each read by {reviewers_per_task}"
            f" of the {reviewers} reviewers), a few minutes each, over as many days as you like")


def _when(moment) -> str:
    if moment is None:
        return "-"
    if isinstance(moment, (int, float)):
        moment = datetime.fromtimestamp(moment)
    if isinstance(moment, str):
        return moment[:16].replace("T", " ")
    return moment.astimezone().strftime("%Y-%m-%d %H:%M") if moment.tzinfo else moment.strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class InviteeRow:
    """One reviewer as `invite` prints them."""

    email: str
    slack: str | None
    invited: str
    consented: str
    declined: str
    joined: bool
    last_active: str
    note: str


def invitee_rows(reviewers, invited, members: dict) -> list[InviteeRow]:
    """One row per reviewer of the file, from `invited` (workers.invitations.Invited) and the
    organisation's members (lower-cased email -> Label Studio user)."""
    rows = []
    for reviewer in reviewers:
        email = reviewer.email.lower()
        standing = invited.standings.get(email)
        member = members.get(email)
        active = invited.last_active.get(getattr(member, "id", None)) or getattr(member, "last_activity", None)
        note = invited.not_asked.get(email, "")
        if not note and email in invited.queued:
            note = "consent DM queued"
        elif not note and standing is not None and standing.state == "withdrawn":
            note = "withdrew"
        elif not note and not invited.slack_ids.get(email) and not (standing and standing.consented_at):
            note = NO_SLACK
        rows.append(InviteeRow(
            email=email, slack=invited.slack_ids.get(email),
            invited=_when(standing.invited_at if standing else None),
            consented=_when(standing.consented_at if standing else None) + (
                " (by the lead)" if standing and standing.consented_at and standing.recorded_by.startswith("lead:") else ""),
            declined=_when(standing.declined_at if standing else None),
            joined=member is not None, last_active=_when(active), note=note,
        ))
    return rows


def invite_text(rows: list[InviteeRow], *, version: str, consent_text: str, link: str, new_link: bool) -> str:
    """What `invite` prints: a summary, a table per reviewer, and what to send those without Slack."""
    queued = sum(r.note == "consent DM queued" for r in rows)
    lines = []
    if new_link:
        lines.append(f"New invite link: {link} (every older link no longer works).")
    lines.append(
        f"Consent text version {version}: {queued} consent DM(s) queued now; the worker (`review-project worker`)"
        " sends each once, and the invite link only after the reviewer agrees."
    )
    width = max([len("reviewer"), *(len(r.email) for r in rows)])
    lines.append(f"\n  {'reviewer':<{width}}  {'invited':<16}  {'consented':<16}  {'declined':<16}  joined  {'last active':<16}  note")
    for r in rows:
        joined = "yes" if r.joined else "no"
        lines.append(f"  {r.email:<{width}}  {r.invited:<16}  {r.consented:<16}  {r.declined:<16}  {joined:<6}  {r.last_active:<16}  {r.note}")
    by_hand = [r for r in rows if r.note == NO_SLACK]
    if by_hand:
        lines.append("\nNo Slack user for these reviewers: send each the consent text below yourself, and only once they agree the"
                     " invite link; then record their consent.")
        for r in by_hand:
            lines.append(f"  {r.email}: invite link {link} ; then: review-project consent {r.email} --recorded-by YOUR_EMAIL")
        lines.append(f"\nThe consent text (version {version}):\n")
        lines.extend(f"    {line}" if line else "" for line in consent_text.splitlines())
    lines.append("\nThe invite link is the organisation's: anyone holding it can sign up (docs/worker.md). Once everyone has"
                 " joined, `review-project invite --new-link` makes the old one stop working.")
    return "\n".join(lines)


def consent_recorded_text(standing, recorded_now: bool) -> str:
    """The line `consent` prints (`standing` is the person's workers.store.Consent)."""
    by = standing.recorded_by.removeprefix("lead:") + " (by hand)" if standing.recorded_by.startswith("lead:") else "Slack"
    if not recorded_now:
        return (f"Nothing to record: {standing.email} consented to consent text version {standing.version} at"
                f" {_when(standing.consented_at)} already, recorded by {by}.")
    welcome = " The worker sends them the invite link in Slack." if standing.slack_user_id else (
        " Send them the invite link yourself (`review-project invite` prints it).")
    return (f"Recorded: {standing.email} consented to consent text version {standing.version} at"
            f" {_when(standing.consented_at)}, recorded by {by}.{welcome}")
