"""What the store's parts return: plain frozen records, no SQL."""

from __future__ import annotations

from dataclasses import dataclass, field

from workers import pacing
from workers.survey import SurveyAnswer


@dataclass(frozen=True)
class Recorded:
    """What one annotation event changed: new_event False means a replay; milestones newly due."""

    new_event: bool
    counted: bool
    milestones: tuple[int, ...]
    # Pacing nudges (pacing.NUDGES) this event made due.
    nudges: tuple[str, ...] = ()


@dataclass(frozen=True)
class Applied:
    """What one apply_received did: how many inbox events it applied, and each one's Recorded."""

    events: int = 0
    recorded: list[Recorded] = field(default_factory=list)

    @property
    def checkins_due(self) -> bool:
        """Whether a check-in or a nudge fell due (delivery should look now)."""
        return any(r.milestones or r.nudges for r in self.recorded)


@dataclass(frozen=True)
class InboxState:
    """The inbox at a glance: events waiting to be applied, when the oldest came, events set aside."""

    waiting: int
    oldest_received_at: float | None
    set_aside: int


@dataclass(frozen=True)
class Message:
    """One message in the outbox and where its delivery stands.

    status : 'pending' (due at next_attempt_at), 'sending' (claimed by `claimed_by`), 'sent',
    'failed', 'paused' (its reviewer paused check-ins) or 'missed' (never to be sent).
    post_started_at : set once a post may have reached Slack, so it is looked for there first.
    A check-in's milestone is the reviewer's task count it is for; a message about no project,
    reviewer or milestone has 0 there, and says what it is about in `subject` (a digest's day).
    """

    id: int
    project: int
    reviewer: int
    milestone: int
    status: str
    attempts: int
    due_at: float
    next_attempt_at: float
    last_error: str | None
    slack_user_id: str | None
    channel: str | None
    sent_at: float | None
    declined_at: float | None
    post_started_at: float | None = None
    # pacing.MILESTONE, a nudge (pacing.NUDGES), or another kind workers/outbox.py describes.
    kind: str = pacing.MILESTONE
    subject: str = ""
    # Where it goes when not to the reviewer's DM: the lead's channel, or a Slack user id.
    recipient: str | None = None
    claimed_by: str | None = None
    claimed_at: float | None = None
    message_ts: str | None = None


@dataclass(frozen=True)
class CheckIn(Message):
    """A check-in (the survey every N tasks) or a pacing nudge: a message to a reviewer's DM."""


@dataclass(frozen=True)
class StoredAnswer:
    """An answer with the check-in it belongs to."""

    checkin_id: int
    project: int
    reviewer: int
    milestone: int
    answered_at: float
    answer: SurveyAnswer
    kind: str = pacing.MILESTONE


@dataclass(frozen=True)
class Reviewer:
    """A Label Studio user as cached by the worker."""

    reviewer: int
    email: str
    name: str


@dataclass(frozen=True)
class Consent:
    """A person's consent standing: state is their latest event ('invited', 'consented', 'declined',
    'withdrawn') and version its text's version; each *_at is the time of the latest such event."""

    email: str
    slack_user_id: str | None
    state: str
    version: str | None
    invited_at: float | None
    consented_at: float | None
    declined_at: float | None
    withdrawn_at: float | None
    recorded_by: str
