"""The reviewers CSV: read, write, and one-line errors naming file and line."""

import pytest

from review_project.shared import ManifestError
from review_project.shared import Reviewer, email_problem, read_reviewers, write_reviewers


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


EMAILS = [
    "a@x.org", "Ada.Lovelace+review@example.co.uk", "=cmd|'/C~calc'!A0@example.com", "o'neil@example.com",
    "a b@x.org", "a@x", "a@@x.org", "a@x..org", ".a@x.org", "a.@x.org", "a@-x.org", "a@x.org.", "a@localhost",
    "a@x.o", "@x.org", "a@", "a@" + "x" * 64 + ".org", "a,b@x.org", "a@x_y.org",
]


@pytest.mark.parametrize("email", EMAILS)
def test_an_email_is_taken_exactly_when_djangos_validator_takes_it(email):
    """Django's EmailValidator is what Label Studio's accounts go through: the independent reference."""
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    try:
        validate_email(email)
        django_takes_it = True
    except ValidationError:
        django_takes_it = False
    assert (email_problem(email) is None) == django_takes_it


@pytest.mark.parametrize(
    "email, problem",
    [
        ("zoë@example.com", "has a character outside ASCII: Label Studio's accounts take ASCII emails only"),
        ("ada lovelace@example.com", "is not an email address"),
    ],
)
def test_a_reviewer_label_studio_would_refuse_stops_the_file_at_its_line(tmp_path, email, problem):
    path = tmp_path / "r.csv"
    path.write_text(f"email,name\na@x.org,A\n{email},B\n", encoding="utf-8")
    with pytest.raises(ManifestError) as error:
        read_reviewers(path)
    assert str(error.value) == f"{path}: line 3: {email!r} {problem}"
