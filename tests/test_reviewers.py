"""The reviewers CSV: read, write, and one-line errors naming file and line."""

import pytest

from review_project.shared import ManifestError
from review_project.shared import Reviewer, read_reviewers, write_reviewers


def test_round_trip(tmp_path):
    people = [Reviewer("a@x.org", "Ada Lovelace", "U01"), Reviewer("b@x.org", "Bo", None)]
    path = tmp_path / "r.csv"
    write_reviewers(path, people)
    assert read_reviewers(path) == people
    assert people[0].first_name == "Ada" and people[0].last_name == "Lovelace" and people[1].last_name == ""


def test_slack_column_is_optional(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("Email,Name\na@x.org,Ada\n\n")
    assert read_reviewers(path) == [Reviewer("a@x.org", "Ada")]


@pytest.mark.parametrize(
    "text, message",
    [
        ("name\nAda\n", "r.csv: line 1: the header needs an 'email' column (email,name,slack_user_id)"),
        ("email,name\nnot-an-email,Ada\n", "r.csv: line 2: 'not-an-email' is not an email address"),
        ("email,name\na@x.org,A\nA@x.org,B\n", "r.csv: line 3: A@x.org is listed twice"),
        ("email,name\n", "r.csv: no reviewers listed"),
    ],
)
def test_errors_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "r.csv"
    path.write_text(text)
    with pytest.raises(ManifestError) as error:
        read_reviewers(path)
    assert str(error.value) == f"{path}: {message.split(': ', 1)[1]}"


def test_missing_file(tmp_path):
    with pytest.raises(ManifestError, match="cannot read reviewers file"):
        read_reviewers(tmp_path / "none.csv")
