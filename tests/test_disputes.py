"""The dispute rule, against cases worked by hand, and its doctest."""

import doctest

import numpy as np

from review_project import disputes
from review_project.disputes import DisputeRule

nan = np.nan


def test_doctest_runs():
    result = doctest.testmod(disputes)
    assert result.attempted >= 1 and result.failed == 0


def test_cases_worked_by_hand():
    ratings = [
        [3, 3, 0, 0],      # 2 of 4 at or above 3: split; 3 - 0 = 3: spread
        [4, 3, 3, 2],      # 3 of 4: not split; 4 - 2 = 2: no
        [2, 1, nan, nan],  # none at or above: no
        [4, nan, nan, nan],  # one rating cannot be disputed
        [nan, nan, nan, nan],
        [1, 4, 1, 2],      # 1 of 4 above; 4 - 1 = 3: spread
    ]
    assert list(disputes.disputes(ratings)) == ["split; spread", "", "", "", "", "spread"]


def test_the_rule_is_configurable():
    ratings = [[2, 3], [0, 2]]
    assert list(disputes.disputes(ratings)) == ["split", ""]
    assert list(disputes.disputes(ratings, DisputeRule(threshold=2, spread=2))) == ["", "split; spread"]
