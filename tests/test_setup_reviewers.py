"""What setup says about the reviewers, without a server: who has joined, and for accounts it
made, the exact `label-studio reset_password` lines when it knows the server's data folder."""

from __future__ import annotations

import json

from review_project.project_setup import SetupReport, local_server_data_dir, password_steps, reset_password_command


def test_who_has_not_joined_is_one_line():
    report = SetupReport(project_id=1, reviewers_joined=["b@y.org", "d@y.org"], reviewers_not_joined=["a@x.org", "c@y.org"])
    lines = report.text("Review", "http://ls").splitlines()
    assert lines[2] == (
        "2 of 4 reviewers have not joined Label Studio yet: a@x.org, c@y.org; "
        "send them the invite (review-project invite) and re-run setup once they have"
    )
    assert lines[3] == "Nothing to change." and len(lines) == 4
    everyone = SetupReport(project_id=1, reviewers_joined=["a@x.org", "b@y.org"])
    assert everyone.text("Review", "http://ls").splitlines()[2] == "Reviewers: all 2 have joined Label Studio"


def test_accounts_made_without_a_password_come_with_the_commands_that_set_one():
    report = SetupReport(project_id=1, reviewers_joined=["b@y.org"], reviewers_created=["a@x.org"], server_data_dir="/srv/ls data")
    lines = report.text("Review", "http://ls").splitlines()
    assert lines[2] == "Reviewers: 1 account created, 1 of 2 had joined already"
    assert lines[3].startswith("The new account has no password, and Label Studio has no API to set one: on this machine run")
    # The folder and the email are quoted for the shell: an email may hold a quote or a $.
    assert lines[4] == "  LABEL_STUDIO_BASE_DATA_DIR='/srv/ls data' label-studio reset_password --username a@x.org"
    assert len(lines) == 5 and report.changed_anything
    assert reset_password_command("o'neil$x@y.org", None) == (
        "LABEL_STUDIO_BASE_DATA_DIR=DATA_DIR label-studio reset_password --username 'o'\"'\"'neil$x@y.org'"
    )
    unknown = password_steps(["a@x.org"], None)
    assert unknown[1] == "  LABEL_STUDIO_BASE_DATA_DIR=DATA_DIR label-studio reset_password --username a@x.org"
    assert "where the server runs" in unknown[0] and unknown[2].startswith("DATA_DIR is the server's data folder")


def test_the_data_folder_is_known_only_for_a_server_local_server_started(tmp_path):
    folder = tmp_path / "label-studio"
    folder.mkdir()
    (folder / "admin.json").write_text(json.dumps({"url": "http://127.0.0.1:8123", "port": 8123}))
    env = {"LABEL_STUDIO_BASE_DATA_DIR": str(folder)}
    assert local_server_data_dir("http://127.0.0.1:8123/", env) == str(folder.resolve())
    assert local_server_data_dir("http://127.0.0.1:9999", env) is None  # another server
    assert local_server_data_dir("http://127.0.0.1:8123", {}) is None
    assert local_server_data_dir("http://127.0.0.1:8123", {"LABEL_STUDIO_BASE_DATA_DIR": str(tmp_path)}) is None
    (folder / "admin.json").write_text("not json")
    assert local_server_data_dir("http://127.0.0.1:8123", env) is None
