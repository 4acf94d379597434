"""Everything the worker says on Slack: one function per message, each returning text + Block Kit.

The `text` of every message is its notification fallback; no message ever quotes an answer.
"""

from __future__ import annotations

from collections.abc import Sequence

from workers.pacing import PacingRules
from workers.survey import (
    COMMENT_BLOCK,
    ITEMS,
    MAX_COMMENT_CHARS,
    PROMPT,
    SCALE,
    SCALE_LABELS,
    block_id,
)

START = "checkin_start"
NOT_NOW = "checkin_not_now"
PAUSE = "checkins_pause"
RESUME = "checkins_resume"
SURVEY_CALLBACK = "wellbeing_survey"
CONSENT_YES = "consent_yes"
CONSENT_NO = "consent_no"
STOP_REVIEWING = "stop_reviewing"
MAX_SECTION_CHARS = 3000

# The paper's recommended breaks and well-being exercises (appendix A.2).
BREAK_IDEAS = (
    "take a short walk",
    "make yourself a cup of tea",
    "talk to a friend for a few minutes",
    "try a few minutes of mindfulness",
    "time-box the next stretch of work and stop when the time is up",
    "alternate with a lighter task for a while",
)


def break_idea(milestone: int, every: int) -> str:
    """A different suggestion at each milestone, cycling through the paper's list."""
    return BREAK_IDEAS[(milestone // max(every, 1) - 1) % len(BREAK_IDEAS)]


def slack_text(text: str) -> str:
    """Text as Slack must receive it: &, < and > escaped, so a name like `<!channel> Cy` pings nobody."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict:
    button = {"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": action_id, "value": value}
    if style:
        button["style"] = style
    return button


def checkin_dm(checkin_id: int, milestone: int, every: int) -> tuple[str, list[dict]]:
    """The DM sent at a milestone: thanks, a break idea, and Start / Not now / Pause buttons."""
    text = (
        f"Thank you - you have reviewed {milestone} transcripts. This material is hard; "
        f"now may be a good moment to {break_idea(milestone, every)}. "
        "Would you answer a short, optional well-being check-in (10 quick items)?"
    )
    return text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}}, _checkin_actions(checkin_id)]


def _checkin_actions(checkin_id: int) -> dict:
    value = str(checkin_id)
    return {
        "type": "actions",
        "block_id": "checkin_actions",
        "elements": [
            _button("Start check-in", START, value, "primary"),
            _button("Not now", NOT_NOW, value),
            _button("Pause check-ins", PAUSE, value),
            _stop_button(value),
        ],
    }


def break_dm(checkin_id: int, minutes: int) -> tuple[str, list[dict]]:
    """The time-box nudge: a break after `minutes` of continuous reviewing, with one of the paper's ideas."""
    idea = BREAK_IDEAS[checkin_id % len(BREAK_IDEAS)]
    text = (
        f"You have been reviewing for about {minutes} minutes without a break. "
        f"This is a good moment to stop for a while - perhaps {idea}."
    )
    return _plain(text, [_pause_only(checkin_id)])


def severe_dm(checkin_id: int, streak: int) -> tuple[str, list[dict]]:
    """The severe-streak nudge: an early check-in, and a suggestion to switch to lighter work."""
    text = (
        f"The last {streak} transcripts you reviewed were among the hardest in this set. "
        "Consider switching to lighter work for a while, or taking a break. "
        "Would you answer a short, optional well-being check-in (10 quick items)?"
    )
    return text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}}, _checkin_actions(checkin_id)]


def daily_cap_dm(checkin_id: int, cap: int) -> tuple[str, list[dict]]:
    """The daily-cap nudge: the reviewer reached the lead's cap of tasks for today."""
    text = (
        f"You have reviewed {cap} transcripts today, the daily limit your lead set. "
        "Thank you - please stop here for today. Your lead can see that the limit was reached, not what you rated."
    )
    return _plain(text, [_pause_only(checkin_id)])


def _pause_only(checkin_id: int) -> dict:
    return {
        "type": "actions",
        "block_id": "nudge_actions",
        "elements": [_button("Pause check-ins and nudges", PAUSE, str(checkin_id)), _stop_button(str(checkin_id))],
    }


def survey_modal(checkin_id: int) -> dict:
    """The modal with the paper's 10 items, each 0 (not at all) to 4 (very), all optional, and a comment box."""
    options = [
        {
            "text": {"type": "plain_text", "text": f"{v} - {SCALE_LABELS[v]}" if v in SCALE_LABELS else str(v)},
            "value": str(v),
        }
        for v in SCALE
    ]
    blocks: list[dict] = [{"type": "section", "text": {"type": "mrkdwn", "text": f"{PROMPT}\n_Every item is optional._"}}]
    for item in ITEMS:
        blocks.append(
            {
                "type": "input",
                "block_id": block_id(item),
                "optional": True,
                "label": {"type": "plain_text", "text": item},
                "element": {
                    "type": "static_select",
                    "action_id": "score",
                    "placeholder": {"type": "plain_text", "text": "0 (not at all) to 4 (very)"},
                    "options": options,
                },
            }
        )
    blocks.append(
        {
            "type": "input",
            "block_id": COMMENT_BLOCK,
            "optional": True,
            "label": {"type": "plain_text", "text": "Anything else you would like to share?"},
            "element": {
                "type": "plain_text_input",
                "action_id": "text",
                "multiline": True,
                "max_length": MAX_COMMENT_CHARS,
            },
        }
    )
    return {
        "type": "modal",
        "callback_id": SURVEY_CALLBACK,
        "private_metadata": str(checkin_id),
        "title": {"type": "plain_text", "text": "Well-being check-in"},
        "submit": {"type": "plain_text", "text": "Send"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def _plain(text: str, extra: list[dict] | None = None) -> tuple[str, list[dict]]:
    return text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}}, *(extra or [])]


def not_now_reply() -> tuple[str, list[dict]]:
    """After "Not now"."""
    return _plain("No problem. The button above still works if you change your mind. Take care.")


def already_answered() -> tuple[str, list[dict]]:
    """After "Start check-in" on a check-in that was already answered."""
    return _plain("You already answered this check-in - thank you.")


def not_your_checkin() -> tuple[str, list[dict]]:
    """A button pressed by someone the check-in was not sent to."""
    return _plain("This check-in belongs to someone else, so it was not opened.")


def unknown_checkin() -> tuple[str, list[dict]]:
    """A button whose check-in is not in the store (e.g. a store that was reset)."""
    return _plain("This check-in is no longer available. The next one will come after your next tasks.")


def thanks_for_answering() -> tuple[str, list[dict]]:
    """After a submitted survey."""
    return _plain("Thank you for answering. Remember that breaks are part of the work.")


def paused(checkin_id: int) -> tuple[str, list[dict]]:
    """After "Pause check-ins", with the way back."""
    return _plain(
        "Check-ins are paused: you will get no more check-ins or nudges until you resume them.",
        [{"type": "actions", "block_id": "resume_actions",
          "elements": [_button("Resume check-ins", RESUME, str(checkin_id))]}],
    )


def resumed(every: int) -> tuple[str, list[dict]]:
    """After "Resume check-ins"."""
    return _plain(f"Check-ins are back on: the next one comes after your next milestone of {every} tasks.")


def lead_alert(reviewer_name: str) -> str:
    """To LEAD_SLACK_CHANNEL when an answer has a high negative item; names the reviewer, quotes nothing."""
    return (
        f"{slack_text(reviewer_name)} may want a check-in: their latest well-being answer suggests the material is "
        "weighing on them. Consider reaching out personally."
    )


def _stop_button(checkin_id: str) -> dict:
    # Every check-in and nudge carries the way out; the consent text says so.
    return _button("Stop reviewing", STOP_REVIEWING, checkin_id, "danger")


# -- joining and leaving: the consent text, its DM, and what follows each answer ---------------------

# What Label Studio Community shows every member (docs/worker.md, "Consent and leaving").
COMMUNITY_VISIBILITY = (
    "Label Studio Community shows every member every project of the organisation, including the"
    " adjudication project, where the other reviewers' ratings of disputed attacks can be seen"
    " (anonymised, but there)."
)


def _minutes(seconds: float) -> str:
    return f"{max(1, round(seconds / 60))} minutes"


def consent_text(study: str, topics: Sequence[str], workload: str, pacing_rules: PacingRules,
                 checkin_every: int, contact: str) -> str:
    """The consent text a reviewer agrees to (plain text; its sha256 prefix is its version). Pure."""
    rules = pacing_rules
    pacing = [f"a short, optional well-being check-in every {checkin_every} transcripts"]
    if rules.break_after_seconds:
        pacing.append(f"a reminder to take a break after about {_minutes(rules.break_after_seconds)} of continuous"
                      " reviewing")
    if rules.severe_streak:
        pacing.append(f"a suggestion to switch to lighter work after {rules.severe_streak} very harmful transcripts"
                      " in a row")
    pacing.append(f"a daily limit of {rules.daily_task_cap} transcripts" if rules.daily_task_cap
                  else "no fixed daily limit: stop whenever you need to")
    return "\n".join([
        f"What this is: {study}. You would read conversations in which people tried to get an AI assistant"
        " to say or do harmful things, and rate how successful each attempt was and what it was about.",
        "",
        "What you would read: transcripts on these topics: " + "; ".join(topics) + ".",
        "Some transcripts describe violence, abuse and self-harm. They are real attempts, not summaries.",
        "",
        f"How much work: {workload}.",
        "",
        "Breaks and support: " + "; ".join(pacing) + ".",
        "Check-ins are optional. Your lead never sees your answers; they are told only if an answer suggests"
        " the material is weighing on you.",
        "",
        f"Whom to contact: {contact}, at any time, about anything in this work.",
        "",
        "You may stop at any time without giving a reason. Every check-in message has a \"Stop reviewing\""
        " button: pressing it stops your check-ins at once and tells your lead; your work so far is kept.",
        "",
        "What others can see: " + COMMUNITY_VISIBILITY,
    ])


def consent_value(message_id: int, version: str) -> str:
    """What the consent buttons carry: the consent message's outbox id and the text's version."""
    return f"{message_id}|{version}"


def consent_dm(message_id: int, text: str, version: str) -> tuple[str, list[dict]]:
    """The consent message: the text, and "I understand and want to take part" / "Not for me"."""
    value = consent_value(message_id, version)
    # One section per paragraph: Slack refuses a section text over 3000 characters.
    paragraphs = [slack_text(p)[:MAX_SECTION_CHARS] for p in text.split("\n\n") if p.strip()]
    return (
        "Before you start: please read what this review involves and tell us whether you want to take part.",
        [
            {"type": "section", "text": {"type": "mrkdwn", "text": "*Before you start: what this review involves*"}},
            *({"type": "section", "text": {"type": "mrkdwn", "text": p}} for p in paragraphs),
            {"type": "actions", "block_id": "consent_actions", "elements": [
                _button("I understand and want to take part", CONSENT_YES, value, "primary"),
                _button("Not for me", CONSENT_NO, value),
            ]},
        ],
    )


def welcome_dm(invite_url: str, project_url: str | None) -> tuple[str, list[dict]]:
    """After consent: the organisation's invite link, the project's URL and how to start."""
    steps = [
        f"1. Sign up with this link (choose your own password): {slack_text(invite_url)}",
        f"2. Open the project: {slack_text(project_url)}" if project_url else "2. Open the project your lead named.",
        "3. Press *Label All Tasks* and rate each transcript; skip any you do not want to read.",
    ]
    return _plain("Thank you for agreeing to take part. To start:\n" + "\n".join(steps))


def declined_reply() -> tuple[str, list[dict]]:
    """After "Not for me"."""
    return _plain("Thank you for letting us know. You will not be asked again, and nobody will ask you why.")


def withdrawn_dm(contact: str) -> tuple[str, list[dict]]:
    """After "Stop reviewing": the kind confirmation, with whom to contact."""
    return _plain(
        "You have stopped reviewing. Thank you for the work you did - you owe nobody a reason. "
        "You will get no more check-ins or nudges. "
        f"If anything you read stays with you, or you have a question, contact {slack_text(contact)}."
    )


def consent_refused() -> tuple[str, list[dict]]:
    """A consent or stop button that cannot be used: someone else's, out of date, or already answered."""
    return _plain("This button can no longer be used (it is out of date, already answered, or not yours). "
                  "Nothing was changed.")


def lead_notice(name: str, event: str) -> str:
    """To LEAD_SLACK_CHANNEL: one line naming the person and nothing else."""
    what = {
        "declined": "declined to take part in the review",
        "withdrawn": "stopped reviewing",
        "unconsented": "annotated with no consent on record; the consent message was sent to them",
        "annotated_after_declining": "annotated after declining to take part",
        "annotated_unasked": "annotated with no consent on record and cannot be asked in Slack (no Slack user)",
    }.get(event, event)
    return f"{slack_text(name)} {what}."
