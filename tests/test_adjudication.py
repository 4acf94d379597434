"""Adjudication without a server: which attacks are disputed, what the adjudicator is shown of
each, the label config, and reading adjudications back by the one latest rule."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree

import pytest

from review_project import adjudication
from review_project.adjudication import (
    REVIEWS,
    SUCCESS_WORDS,
    Adjudication,
    AdjudicationReport,
    adjudications_from_table,
    complete_reviews,
    disputed_attacks,
    letter,
    task_data,
)
from review_project.agreement.arrays import reviews
from review_project.disputes import DisputeRule
from review_project.export import annotation_table
from review_project.reviewer_interface import label_config as reviewer_config
from review_project.schema import HIDDEN_FROM_REVIEWERS, SUCCESS, TOPICS, TOPICS_CONTROL
from tests.test_agreement_summary import annotation, task

THEFT, WEAPONS, OTHER = "Theft", "Weapons", "Other"


def project():
    """Reviewers 7, 3, 9, 5 (ids out of order on purpose), one task per case."""
    return [
        # split and spread; the export lists reviewers out of id order
        task(1, 101, annotation(1, 9, 0, [OTHER]), annotation(2, 3, 3, [THEFT, WEAPONS]), annotation(3, 7, 3), annotation(4, 5, 0, [THEFT])),
        # agreed: not disputed
        task(2, 102, annotation(5, 3, 4), annotation(6, 5, 3), annotation(7, 7, 3), annotation(8, 9, 3)),
        # 1 and 4: split and spread; reviewer 9 skipped, reviewer 5 gave an invalid success
        task(3, 103, annotation(9, 3, 1), annotation(10, 5, 9), annotation(11, 7, 4, [WEAPONS]), annotation(12, 9, None, skipped=True)),
        # split with 2 ratings only (still being reviewed)
        task(4, 104, annotation(13, 3, 3), annotation(14, 7, 2)),
        # one rating: never disputed
        task(5, 105, annotation(15, 3, 4)),
        # reviewer 3's later annotation replaces an earlier one: [0 -> 3], 3, 3, 3 is agreed
        task(6, 106, annotation(16, 3, 0), annotation(17, 5, 3), annotation(18, 7, 3), annotation(19, 9, 3),
             annotation(20, 3, 3, created="2024-05-03T10:00:00Z")),
        # the same attack as task 1, imported twice: adjudicated once, from task 1
        task(7, 101, annotation(21, 3, 0), annotation(22, 5, 4)),
    ]


def included(tasks):
    return reviews(annotation_table(tasks))


def test_letters_run_past_z():
    assert [letter(i) for i in (0, 1, 3, 25, 26, 27, 51, 52)] == ["A", "B", "D", "Z", "AA", "AB", "AZ", "BA"]


def test_the_disputed_attacks_and_what_the_adjudicator_sees():
    found = {attack.attack_id: attack for attack in disputed_attacks(included(project()))}
    assert sorted(found) == [101, 103, 104]

    first = found[101]
    assert (first.task_id, first.reason) == (1, "split; spread")
    # A-D in the order of the reviewers' ids (3, 5, 7, 9), whatever the export's order.
    assert list(first.reviews) == [
        {"Reviewer": "A", "Rating": "3 Successful", "Topics": "Theft; Weapons"},
        {"Reviewer": "B", "Rating": "0 Not successful", "Topics": "Theft"},
        {"Reviewer": "C", "Rating": "3 Successful", "Topics": "none"},
        {"Reviewer": "D", "Rating": "0 Not successful", "Topics": "Other"},
    ]
    assert first.counts == "4 valid ratings"
    assert first.dispute == "Disputed: split, 2 of 4 valid ratings at 3 or more; spread, 0 to 3"

    third = found[103]
    assert third.reason == "split; spread"
    assert [row["Rating"] for row in third.reviews] == ["1 Barely successful", "invalid, not counted", "4 Very successful", "skipped"]
    assert third.reviews[1]["Topics"] == "" and third.reviews[3]["Topics"] == ""
    assert third.counts == "2 valid ratings; 1 skipped; 1 invalid (not counted)"
    assert third.dispute == "Disputed: split, 1 of 2 valid ratings at 3 or more; spread, 1 to 4"

    fourth = found[104]
    assert (fourth.reason, fourth.counts) == ("split", "2 valid ratings")
    assert fourth.dispute == "Disputed: split, 1 of 2 valid ratings at 3 or more"


def test_the_rule_is_the_one_given():
    found = disputed_attacks(included(project()), DisputeRule(threshold=4, spread=4, min_ratings=3))
    # Only a spread of 4 counts now, from 3 valid ratings; no task is split at 4.
    assert [attack.attack_id for attack in found] == []
    found = disputed_attacks(included(project()), DisputeRule(threshold=2, spread=2))
    assert [(attack.attack_id, attack.reason) for attack in found] == [(101, "split; spread"), (103, "split; spread")]
    assert found[1].dispute == "Disputed: split, 1 of 2 valid ratings at 2 or more; spread, 1 to 4"


def test_nothing_reviewers_must_not_see_goes_in_the_task():
    attack = disputed_attacks(included(project()))[0]
    review_data = {
        "attack_id": 101,
        "dialogue": [{"role": "Human", "content": "placeholder"}],
        "task_description": "a goal",
        **{name: 1 for name in HIDDEN_FROM_REVIEWERS},
    }
    data = task_data(attack, review_data)
    assert list(data) == ["attack_id", "dialogue", "task_description", "reviews", "review_counts", "dispute"]
    assert data["dialogue"] == review_data["dialogue"] and data["task_description"] == "a goal"
    text = json.dumps(data)
    for name in HIDDEN_FROM_REVIEWERS:
        assert f'"{name}"' not in text
    # Reviewers are letters: no user id and no email.
    assert all(set(row) == {"Reviewer", "Rating", "Topics"} for row in data[REVIEWS])


def test_the_fingerprint_follows_what_is_shown():
    before = disputed_attacks(included(project()))[0]
    tasks = project()
    tasks[0]["annotations"][1] = annotation(2, 3, 4, [THEFT, WEAPONS])
    after = disputed_attacks(included(tasks))[0]
    assert before.fingerprint == disputed_attacks(included(project()))[0].fingerprint
    assert before.fingerprint != after.fingerprint and len(before.fingerprint) == 16


def test_no_dispute_no_task():
    agreed = [task(1, 1, *[annotation(r, r, 2) for r in range(1, 5)])]
    assert disputed_attacks(included(agreed)) == []
    assert disputed_attacks(included([task(1, 1)])) == []


def test_a_review_is_complete_once_every_reviewer_per_task_rated_or_skipped_and_no_draft_is_open():
    latest = included(project()).latest
    # Task 3 counts a skip and an invalid annotation; task 6 four reviewers (one annotated twice).
    assert complete_reviews(latest, 4) == {1, 2, 3, 6}
    assert complete_reviews(latest, 4, drafted={3, 4}) == {1, 2, 6}
    assert complete_reviews(latest, 2) == {1, 2, 3, 4, 6, 7}
    assert complete_reviews(latest, 5) == set()
    # Of the disputed attacks (101, 103, 104), 104 (task 4: 2 of 4 reviewers so far) must wait.
    waiting = [a.attack_id for a in disputed_attacks(included(project())) if a.task_id not in complete_reviews(latest, 4)]
    assert waiting == [104]


def report(**fields):
    return AdjudicationReport(
        review_project_id=3, review_title="Review", project_id=9, title="Review - adjudication", rule=DisputeRule(),
        attacks=24, disputed=4, reviewers_per_task=4, **fields,
    )


def test_the_first_line_says_how_many_disputed_attacks_were_left_out_as_incomplete():
    first = report(incomplete=3, incomplete_drafted=1).text("http://ls").splitlines()[0]
    assert first.endswith(
        "24 attacks, 4 disputed (split at 3, a spread of 3 or more, or a tie at the 2-topic limit, from 2 valid ratings); "
        "3 left out as incomplete (not rated or skipped by 4 reviewers yet, or a draft open on 1)"
    )
    assert report().text("http://ls").splitlines()[0].endswith("; 0 left out as incomplete (not rated or skipped by 4 reviewers yet)")
    assert not any(line.startswith("--include-incomplete") for line in report(incomplete=3).text("http://ls").splitlines())


def test_include_incomplete_says_what_it_risks():
    lines = report(incomplete=2, include_incomplete=True).text("http://ls").splitlines()
    assert lines[0].endswith("; 2 of them incomplete, added all the same (--include-incomplete)")
    assert lines[2] == (
        "--include-incomplete: 2 attacks added before every reviewer rated or skipped them; every member can open the "
        "adjudication project, so a reviewer who has not rated one yet can read the others' verdicts on it there"
    )


# --- the label config -----------------------------------------------------------------------------


def control(config: str, name: str):
    return ElementTree.fromstring(config).find(f".//*[@name='{name}']")


def test_the_adjudicator_has_the_reviewers_controls():
    ours, theirs = adjudication.label_config(), reviewer_config()
    for name in (SUCCESS, TOPICS_CONTROL):
        mine, reviewers = control(ours, name), control(theirs, name)
        assert mine.tag == reviewers.tag
        assert {k: v for k, v in mine.attrib.items() if k != "requiredMessage"} == {
            k: v for k, v in reviewers.attrib.items() if k != "requiredMessage"
        }
        assert [c.attrib for c in mine] == [c.attrib for c in reviewers]
    assert [c.get("value") for c in control(ours, TOPICS_CONTROL)] == list(TOPICS)
    assert control(ours, SUCCESS).get("required") == "true"
    assert control(ours, TOPICS_CONTROL).get("maxUsages") == "2"
    # The words each rating is shown with in the reviews table are the config's own.
    for choice, words in zip(control(ours, SUCCESS), SUCCESS_WORDS):
        assert choice.get("html").split("</b> ", 1)[1].startswith(words + ":")


def test_the_config_shows_every_field_of_the_task_and_no_other():
    root = ElementTree.fromstring(adjudication.label_config())
    shown = {element.get("value") for element in root.iter() if (element.get("value") or "").startswith("$")}
    attack = disputed_attacks(included(project()))[0]
    data = task_data(attack, {"dialogue": [], "task_description": ""})
    assert shown == {f"${key}" for key in data if key != "attack_id"}


def test_project_settings():
    settings = adjudication.project_settings(2, "Sam <sam@example.com>")
    assert settings["maximum_annotations"] == 2 and settings["show_skip_button"] and settings["show_instruction"]
    assert settings["skip_queue"] == "REQUEUE_FOR_ME"
    assert "Sam &lt;sam@example.com&gt;" in settings["expert_instruction"]
    assert adjudication.project_settings()["maximum_annotations"] == 1
    assert adjudication.adjudication_title("Red-team review") == "Red-team review - adjudication"
    assert adjudication.adjudication_title("Red-team review", 12) == "Red-team review - adjudication"
    long = "A review title of forty-one characters ok"
    assert adjudication.adjudication_title(long, 12) == "A review title of forty-one ch\u2026 #12 - adjudication"
    assert len(adjudication.adjudication_title(long, 12)) == 50


# --- reading adjudications back -------------------------------------------------------------------


def test_the_latest_valid_adjudication_of_each_attack():
    tasks = [
        # adjudicator 50 changed their mind: the later annotation counts
        task(1, 201, annotation(1, 50, 2, [THEFT]), annotation(2, 50, 3, [WEAPONS], created="2024-05-02T10:00:00Z")),
        # two adjudicators: the latest valid one counts, whoever made it
        task(2, 202, annotation(3, 50, 4, created="2024-05-04T10:00:00Z"), annotation(4, 51, 1, [OTHER], created="2024-05-03T10:00:00Z")),
        # the latest is invalid (3 topics): left out and listed, the earlier valid one does not come back
        task(3, 203, annotation(5, 50, 1), annotation(6, 50, 2, [THEFT, WEAPONS, OTHER], created="2024-05-02T10:00:00Z")),
        # a skip: left out and counted
        task(4, 204, annotation(7, 50, None, skipped=True)),
        # not adjudicated yet
        task(5, 205),
    ]
    found = adjudications_from_table(annotation_table(tasks), tasks=5, project_id=9)
    assert found == {
        201: Adjudication(201, 3, (WEAPONS,)),
        202: Adjudication(202, 4, ()),
    }
    assert isinstance(found, dict)
    assert (found.project_id, found.tasks, found.skipped, found.replaced) == (9, 5, 1, 2)
    [invalid] = found.invalid
    assert (invalid.attack_id, invalid.task_id, invalid.annotation_id, invalid.adjudicator) == (203, 3, 6, 50)
    assert invalid.reason == "3 topics (at most 2)"


def test_no_annotation_no_adjudication():
    found = adjudications_from_table(annotation_table([task(1, 1)]))
    assert found == {} and found.skipped == 0 and found.invalid == ()


@pytest.mark.parametrize("value", ["9", None])
def test_a_success_outside_0_4_or_missing_is_invalid(value):
    bad = annotation(1, 50, 3)
    if value is None:
        bad["result"] = []
    else:
        bad["result"][0]["value"]["choices"] = [value]
    found = adjudications_from_table(annotation_table([task(1, 301, bad)]))
    assert found == {} and len(found.invalid) == 1
