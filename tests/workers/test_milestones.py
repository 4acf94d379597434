"""Milestone arithmetic: the published doctests plus a property over any order of counting."""

import doctest

import pytest
from hypothesis import given
from hypothesis import strategies as st

import workers.milestones
from workers.milestones import milestones_crossed


def test_doctests():
    result = doctest.testmod(workers.milestones)
    assert result.attempted >= 3 and result.failed == 0


@given(steps=st.lists(st.integers(min_value=0, max_value=7), max_size=40), every=st.integers(min_value=1, max_value=12))
def test_counting_in_any_steps_reaches_each_multiple_once(steps, every):
    count, reached = 0, []
    for step in steps:
        reached += milestones_crossed(count, count + step, every)
        count += step
    assert reached == list(range(every, count + 1, every))


def test_every_must_be_positive():
    with pytest.raises(ValueError, match="every must be positive"):
        milestones_crossed(0, 10, 0)
