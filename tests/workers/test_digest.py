"""The lead's digest, pure: progress, agreement and disputes of a project from its ledger rows (the
numbers `status`, `agreement --project` and `adjudicate` give), the well-being section with the
who-may-want-a-check-in rule (names only), the nudges, the text, and when a day's digest is due."""

from __future__ import annotations

from datetime import datetime, time

import pytest

from review_project.agreement import summarise
from review_project.export import tables_from_rows
from workers import digest
from workers.digest import (
    PAPER_NEGATIVE_MEAN,
    Digest,
    digest_facts,
    digest_text,
    due_day,
    may_want_checkin,
    nudges_sent,
    project_facts,
    wellbeing_facts,
)
from workers.store.ledger import LedgerRows, ProjectState
from workers.messages import slack_text
from workers.store import CheckIn, Reviewer, StoredAnswer
from workers.survey import ITEMS, SurveyAnswer

SINCE = 1_000_000.0  # the previous digest
NAMES = {
    7: Reviewer(7, "ada@example.com", "Ada Reviewer"),
    8: Reviewer(8, "bo@example.com", "Bo Reviewer"),
    9: Reviewer(9, "cy@example.com", "Cy Reviewer"),
    10: Reviewer(10, "di@example.com", "Di Reviewer"),
    11: Reviewer(11, "eve@example.com", "Eve Reviewer"),
}


def rows(ratings: dict[int, dict[int, int | None]], tasks=range(1, 7), *, attack_ids=True, syncing=False) -> LedgerRows:
    """Ledger rows (export.COLUMNS order): task -> {reviewer: success, None for a skip}."""
    attack = {task: 100 + task if attack_ids or task != 2 else None for task in tasks}
    annotations = []
    for task, by_reviewer in ratings.items():
        for reviewer, success in by_reviewer.items():
            skipped = success is None
            annotations.append((
                attack[task], task, task * 100 + reviewer, reviewer, None, success, [] if skipped else ["Theft"],
                skipped, 4.5, "2026-11-28T03:00:00Z", "2026-11-28T03:00:00Z", reviewer, False, True, None,
            ))
    known = [(task, attack[task]) for task in tasks]
    state = ProjectState(1, sync_started_at=1.0, sync_done_at=None if syncing else 2.0)
    return LedgerRows(annotations, known, state)


# Tasks 1-4 rated by all four; task 5 by three (reviewer 10 skipped it); task 6 untouched.
RATINGS = {
    1: {7: 0, 8: 0, 9: 0, 10: 0},
    2: {7: 4, 8: 4, 9: 0, 10: 0},  # split, and a spread of 4: disputed
    3: {7: 1, 8: 1, 9: 1, 10: 4},  # a spread of 3: disputed
    4: {7: 3, 8: 3, 9: 3, 10: 2},
    5: {7: 2, 8: 3, 9: 2, 10: None},  # 1 of 3 at 3 or more, spread 1: not disputed
}


def test_a_project_counts_as_status_agreement_and_adjudicate_do():
    facts = project_facts(1, rows(RATINGS), NAMES, 4)
    assert (facts.tasks, facts.fully_reviewed, facts.in_progress, facts.untouched) == (6, 4, 1, 1)
    assert [(r.name, r.submitted, r.skipped) for r in facts.reviewers] == [
        ("Ada Reviewer", 5, 0), ("Bo Reviewer", 5, 0), ("Cy Reviewer", 5, 0), ("Di Reviewer", 4, 1),
    ]
    # agreement --project (no manifest) on the same table: the same kappa and the same interval.
    tables = tables_from_rows(rows(RATINGS).annotations, rows(RATINGS).tasks)
    agreement = summarise(tables.annotations, None, tables.tasks, reviewers_per_task=4).success
    assert facts.complete_tasks == 4
    assert (facts.kappa, facts.ci95) == (agreement.fleiss_kappa, agreement.ci95)
    assert (facts.binary_kappa, facts.binary_ci95) == (agreement.binary_fleiss_kappa, agreement.binary_ci95)
    # By hand: P-bar = (1 + 1/3 + 1/2 + 1/2) / 4 = 7/12; P-e = (6/16)^2 + 3 * (3/16)^2 + (1/16)^2 = 1/4.
    assert facts.kappa.value == pytest.approx((7 / 12 - 1 / 4) / (1 - 1 / 4)) and facts.ci95.low is not None
    assert facts.disputed == 2
    assert (facts.unmeasured, facts.syncing) == (None, False)


def test_a_tie_at_the_two_topic_limit_is_a_dispute_in_the_digest_as_in_adjudicate():
    """Task 4's four reviewers agree on the rating but tag A+B, A+C, B+C, D+E: three topics reach
    consensus with two votes each, tied at the 2-topic limit."""
    tagged = {7: ["Theft", "Weapons"], 8: ["Theft", "Other"], 9: ["Weapons", "Other"], 10: ["Hate speech & offensive language", "Violence & incitement"]}
    ledger = rows(RATINGS)
    annotations = [
        row[:6] + (tagged[row[3]],) + row[7:] if row[1] == 4 else row for row in ledger.annotations
    ]
    facts = project_facts(1, LedgerRows(annotations, ledger.tasks, ledger.state), NAMES, 4)
    assert facts.disputed == 3


def test_a_project_nobody_has_started_and_one_still_syncing():
    facts = project_facts(1, rows({}, syncing=True), NAMES, 4)
    assert (facts.tasks, facts.fully_reviewed, facts.untouched, facts.reviewers) == (6, 0, 6, ())
    assert (facts.complete_tasks, facts.kappa.value, facts.disputed, facts.syncing) == (0, None, 0, True)
    text = "\n".join(digest._project_lines(facts))
    assert "Project 1 (the worker's first sync is not finished: counts so far)" in text
    assert "- Tasks per reviewer: nobody has started" in text
    assert "- Agreement so far: Fleiss' kappa not measurable yet (fewer than 2 tasks with complete ratings (0))" in text
    empty = project_facts(1, rows({}, tasks=[]), NAMES, 4)
    assert digest._project_lines(empty) == ["Project 1", "- No task in the ledger yet."]


def test_a_task_without_attack_id_leaves_agreement_unmeasured_not_the_progress():
    facts = project_facts(1, rows(RATINGS, attack_ids=False), NAMES, 4)
    assert facts.fully_reviewed == 4 and facts.kappa is None and facts.disputed is None
    assert facts.unmeasured == "task 2 has no attack_id in the ledger yet"
    assert digest._project_lines(facts)[-1] == "- Agreement and disputes: not measured (task 2 has no attack_id in the ledger yet)"


def checkin(id, reviewer, milestone, status="sent", kind="milestone", sent_at=SINCE + 10):
    return CheckIn(id, 1, reviewer, milestone, status, 1, 0.0, 0.0, None, "U", "D", sent_at if status == "sent" else None,
                   None, None, kind)


def answer(checkin_id, reviewer, at, comment=None, **scores):
    return StoredAnswer(checkin_id, 1, reviewer, 10, at, SurveyAnswer({item: scores.get(item) for item in ITEMS}, comment))


CHECKINS = [
    checkin(1, 7, 10, sent_at=SINCE - 500), checkin(2, 7, 20),  # Ada: both answered
    checkin(3, 8, 10),  # Bo: answered, negative items above the paper's
    checkin(4, 9, 10, sent_at=SINCE - 500), checkin(5, 9, 20),  # Cy: the last two unanswered
    checkin(6, 10, 10, sent_at=SINCE - 500), checkin(7, 10, 20),  # Di: one unanswered, then a severe nudge
    checkin(8, 11, 10), checkin(9, 11, 20, status="pending"),  # Eve: one unanswered, one not delivered yet
    checkin(20, 10, 25, kind="severe", sent_at=SINCE + 60),
    checkin(21, 7, 12, kind="severe", sent_at=SINCE - 60),  # before the last digest
    checkin(22, 8, 14, kind="break", sent_at=SINCE + 5),
    checkin(23, 9, 30, kind="daily_cap", sent_at=SINCE - 9000),
    checkin(24, 9, 31, kind="break", status="pending"),
]
ANSWERS = [
    # Ada's earlier answer was above the paper's; her latest is not: only the latest counts.
    answer(1, 7, SINCE - 400, Upset=3, Afraid=2, Alert=2, comment="a private comment"),
    answer(2, 7, SINCE + 20, Upset=0, Hostile=0, Ashamed=0, Nervous=0, Afraid=0, Alert=3),
    answer(3, 8, SINCE + 30, Upset=1, Hostile=0, Ashamed=0, Nervous=0, Afraid=1),  # negative mean 0.4
    answer(7, 10, SINCE + 40, Upset=0, Nervous=0),
]


def test_who_may_want_a_checkin_by_the_rule():
    assert PAPER_NEGATIVE_MEAN == pytest.approx((0.31 + 0.16 + 0.24 + 0.24 + 0.24) / 5)
    # Bo: latest answer above the paper's; Cy: last two delivered unanswered; Di: a severe nudge since
    # (her last two surveys, the milestone she answered and the severe one, are not both unanswered).
    assert may_want_checkin(CHECKINS, ANSWERS, SINCE) == {8, 9, 10}
    # Eve's second survey is not delivered yet. A severe-streak check-in is a survey too: two of them
    # unanswered after Ada's answered one name her, even once they are older than the last digest.
    later = [checkin(25, 7, 40, kind="severe", sent_at=SINCE + 90), checkin(26, 7, 45, kind="severe", sent_at=SINCE + 95)]
    assert may_want_checkin(CHECKINS + later, ANSWERS, SINCE + 100) == {7, 8, 9}
    # A severe nudge before the last digest no longer counts; one after it does.
    assert 10 not in may_want_checkin(CHECKINS, ANSWERS, SINCE + 61)
    # Exactly the paper's mean is not above it.
    at_paper = [answer(3, 8, SINCE, Upset=PAPER_NEGATIVE_MEAN)]
    assert may_want_checkin([checkin(3, 8, 10)], at_paper, SINCE) == set()


def test_nudges_sent_by_kind_since_the_last_digest_and_in_total():
    assert nudges_sent(CHECKINS, SINCE) == ({"break": 1, "severe": 1}, {"break": 1, "severe": 2, "daily_cap": 1})
    assert nudges_sent([], SINCE) == ({}, {})


def test_the_wellbeing_section_names_only():
    w = wellbeing_facts(CHECKINS, ANSWERS, NAMES, SINCE)
    # Surveys delivered: Ada 2 + her severe-streak check-in, Bo 1, Cy 2, Di 2 + hers, Eve 1 (wellbeing's
    # SURVEY_KINDS: the severe nudge offers the survey too); answered: Ada 2, Bo 1, Di 1.
    assert (w.delivered, w.answered, w.response_rate) == (10, 4, 0.4)
    # Item means over the 4 answers: Upset (3+0+1+0)/4, Hostile 0, Ashamed 0, Nervous 0, Afraid (2+0+1)/3.
    assert w.negative_mean == pytest.approx((1.0 + 0 + 0 + 0 + 1.0) / 5)
    assert w.may_want_checkin == ("Bo Reviewer", "Cy Reviewer", "Di Reviewer")
    unknown = wellbeing_facts(CHECKINS, ANSWERS, {}, SINCE).may_want_checkin
    assert unknown == ("Label Studio user 10", "Label Studio user 8", "Label Studio user 9")


def test_the_negative_mean_waits_for_three_reviewers_answers():
    """A mean of one or two people's answers would show their scores."""
    two = [a for a in ANSWERS if a.reviewer != 10]  # Ada twice, Bo once
    w = wellbeing_facts(CHECKINS, two, NAMES, SINCE)
    assert (w.negative_mean, w.answering_reviewers) == (None, 2)
    text = digest_text(Digest("2026-11-28", SINCE, (), w))
    assert "- Negative affect: shown once 3 reviewers have answered, 2 so far (the paper's 0.24)" in text


def test_the_text_shows_names_and_counts_never_an_answer():
    facts = digest_facts("2026-11-28", SINCE, {1: rows(RATINGS)}, CHECKINS, ANSWERS, NAMES, 4)
    text = digest_text(facts)
    since = datetime.fromtimestamp(SINCE).strftime("%Y-%m-%d %H:%M")
    # The intervals are agreement's seeded bootstrap (2,000 resamples, seed 0), as checked above.
    kappa = ("0.44 (95% interval -0.07 to 0.69; moderate); success at 3 or more: 0.11 (95% interval -0.27 to 0.47;"
             " slight)")
    assert text.splitlines() == [
        f"Daily digest of the review, 2026-11-28 (since {since})",
        "",
        "Project 1",
        "- Progress: 4 of 6 tasks fully reviewed (4 reviewers each); 1 in progress, 1 untouched",
        "- Tasks per reviewer: Ada Reviewer: 5, Bo Reviewer: 5, Cy Reviewer: 5, Di Reviewer: 4 (1 skipped)",
        f"- Agreement so far: Fleiss' kappa {kappa}; over 4 tasks with 4 valid ratings",
        "- Disputed attacks: 2",
        "",
        "Well-being (every project)",
        "- Check-ins: 10 delivered, 4 answered (response rate 40%)",
        "- Negative affect: mean 0.40 (the paper's 0.24)",
        "- May want a check-in: Bo Reviewer, Cy Reviewer, Di Reviewer",
        f"- Nudges sent since {since}: 2 (1 break, 1 severe streak); in total: 4 (1 break, 2 severe streak, 1 daily cap)",
    ]
    assert "private comment" not in text


def test_no_project_and_no_checkin_yet():
    text = digest_text(digest_facts("2026-11-28", SINCE, {}, [], [], {}, 4))
    assert "No project in the ledger yet." in text
    assert "- Check-ins: 0 delivered, 0 answered (response rate -)" in text
    assert "- Negative affect: no answer yet (the paper's 0.24)" in text
    assert "- May want a check-in: nobody, by the digest rule" in text
    assert text.endswith("; in total: none")


def test_slack_gets_the_three_characters_it_needs_escaped():
    assert slack_text("Ada <Reviewer> & *co*") == "Ada &lt;Reviewer&gt; &amp; *co*"


@pytest.mark.parametrize(
    "now, at, day",
    [
        (datetime(2026, 11, 28, 8, 59, 59), time(9, 0), None),
        (datetime(2026, 11, 28, 9, 0), time(9, 0), "2026-11-28"),
        (datetime(2026, 11, 28, 23, 59), time(9, 0), "2026-11-28"),
        (datetime(2026, 11, 29, 0, 0), time(0, 0), "2026-11-29"),
    ],
)
def test_a_days_digest_is_due_once_local_time_passes_digest_at(now, at, day):
    assert due_day(now, at) == day


def test_the_digest_is_a_plain_value():
    facts = digest_facts("2026-11-28", SINCE, {}, [], [], {}, 4)
    assert isinstance(facts, Digest) and facts.projects == () and facts.since == SINCE
