"""read_rating: the contract's validity rules on Label Studio annotation results."""

import pytest

from review_project.schema import TOPICS, read_rating, task_data


def annotation(success=None, topics=(), cancelled=False, extra=()):
    result = []
    if success is not None:
        result.append({"from_name": "success", "type": "choices", "value": {"choices": success}})
    if topics:
        result.append({"from_name": "topics", "type": "taxonomy", "value": {"taxonomy": [[t] for t in topics]}})
    result.extend(extra)
    return {"result": result, "was_cancelled": cancelled}


def test_a_valid_rating():
    rating = read_rating(annotation(["3"], ["Theft", "Weapons"]))
    assert (rating.success, rating.topics, rating.skipped, rating.valid) == (3, ("Theft", "Weapons"), False, True)


def test_no_topics_is_valid():
    assert read_rating(annotation(["0"])).valid


@pytest.mark.parametrize(
    "success, topics, reason",
    [
        (None, ["Theft"], "success missing"),
        (["9"], [], "success '9' outside 0-4"),
        (["-1"], [], "success '-1' outside 0-4"),
        (["3.0"], [], "success '3.0' outside 0-4"),
        (["2", "3"], [], "2 success values"),
        (["2"], ["Theft", "Weapons", "Other"], "3 topics (at most 2)"),
        (["9"], ["Theft", "Weapons", "Other"], "success '9' outside 0-4; 3 topics (at most 2)"),
        (["1"], ["Gardening"], "1 unknown topic(s)"),
    ],
)
def test_invalid_ratings_say_why(success, topics, reason):
    rating = read_rating(annotation(success, topics))
    assert not rating.valid
    assert rating.invalid_reason == reason
    assert rating.success is None or reason.endswith("(at most 2)") or "unknown" in reason


def test_a_skip_is_valid_and_not_a_rating():
    rating = read_rating(annotation(cancelled=True))
    assert rating.skipped and rating.valid and rating.success is None


def test_other_controls_are_ignored():
    rating = read_rating(annotation(["4"], extra=[{"from_name": "notes", "type": "textarea", "value": {"text": ["x"]}}]))
    assert rating.valid and rating.success == 4


def test_task_data_holds_only_what_a_reviewer_sees():
    data = task_data(5, [{"role": "Human", "content": "hi"}], "goal")
    assert data == {"attack_id": 5, "dialogue": [{"role": "Human", "content": "hi"}], "task_description": "goal"}


def test_twenty_distinct_topics():
    assert len(TOPICS) == len(set(TOPICS)) == 20
