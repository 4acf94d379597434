"""Settings from the environment: what is required, the defaults, and secrets kept out of repr."""

import pytest
from click.testing import CliRunner

from review_project.cli import cli
from review_project.shared import WorkerError
from workers.settings import DEFAULT_DATABASE_URL, settings_from_env

FULL = {
    "LABEL_STUDIO_URL": "http://ls:8080/",
    "LABEL_STUDIO_API_KEY": "ls-secret-key",
    "SLACK_BOT_TOKEN": "xoxb-secret",
    "SLACK_SIGNING_SECRET": "signing-secret",
    "WEBHOOK_SECRET": "hook-secret",
}


def test_defaults():
    s = settings_from_env(FULL)
    assert (s.label_studio_url, s.slack_api_url, s.database_url) == ("http://ls:8080", "https://slack.com/api/", DEFAULT_DATABASE_URL)
    assert (s.checkin_every, s.reconcile_seconds, s.lead_slack_channel, s.reviewers_csv) == (10, 60.0, None, None)


def test_overrides_and_a_slash_added_to_the_slack_url():
    s = settings_from_env(FULL | {"SLACK_API_URL": "http://127.0.0.1:5000/api", "CHECKIN_EVERY": "5",
                                  "RECONCILE_SECONDS": "2.5", "LEAD_SLACK_CHANNEL": "C1", "REVIEWERS_CSV": "r.csv",
                                  "DATABASE_URL": "postgresql://x/y"})
    assert (s.slack_api_url, s.checkin_every, s.reconcile_seconds, s.lead_slack_channel) == ("http://127.0.0.1:5000/api/", 5, 2.5, "C1")
    assert (s.reviewers_csv, s.database_url) == ("r.csv", "postgresql://x/y")


def test_secrets_stay_out_of_repr():
    text = repr(settings_from_env(FULL | {"DATABASE_URL": "postgresql://u:dbpass@h/d"}))
    for secret in ("ls-secret-key", "xoxb-secret", "signing-secret", "hook-secret", "dbpass"):
        assert secret not in text


@pytest.mark.parametrize(
    "change, message",
    [
        ({"WEBHOOK_SECRET": ""}, "missing environment variable WEBHOOK_SECRET (see docs/worker.md)"),
        ({"CHECKIN_EVERY": "ten"}, "CHECKIN_EVERY='ten' is not a whole number; set a positive whole number"),
        ({"CHECKIN_EVERY": "0"}, "CHECKIN_EVERY='0' must be positive"),
        ({"RECONCILE_SECONDS": "-1"}, "RECONCILE_SECONDS='-1' must be positive"),
    ],
)
def test_bad_settings_name_the_variable(change, message):
    with pytest.raises(WorkerError) as error:
        settings_from_env(FULL | change)
    assert str(error.value) == message


def test_socket_mode_needs_the_app_token_not_the_signing_secret():
    env = {k: v for k, v in FULL.items() if k != "SLACK_SIGNING_SECRET"}
    with pytest.raises(WorkerError, match="missing environment variable SLACK_APP_TOKEN"):
        settings_from_env(env, socket_mode=True)
    assert settings_from_env(env | {"SLACK_APP_TOKEN": "xapp-1"}, socket_mode=True).slack_app_token == "xapp-1"


def test_the_worker_command_reports_missing_settings_in_one_line():
    result = CliRunner().invoke(cli, ["worker"], env={name: "" for name in FULL})
    assert result.exit_code == 2
    assert result.output == (
        "Error: missing environment variable LABEL_STUDIO_URL, LABEL_STUDIO_API_KEY, WEBHOOK_SECRET (see docs/worker.md)\n"
    )


def test_without_any_slack_setting_the_worker_keeps_the_ledger_only():
    without = {k: v for k, v in FULL.items() if not k.startswith("SLACK_")}
    assert settings_from_env(without).slack_enabled is False
    assert settings_from_env(FULL).slack_enabled is True
    # One Slack setting means the lead wants check-ins: then the others are required.
    with pytest.raises(WorkerError) as error:
        settings_from_env(without | {"SLACK_SIGNING_SECRET": "s"})
    assert str(error.value) == "missing environment variable SLACK_BOT_TOKEN (see docs/worker.md)"


def test_the_worker_command_reports_a_bad_reviewers_file(tmp_path):
    # The store in tmp_path: the default one would be created in the current directory.
    env = FULL | {"DATABASE_URL": f"sqlite:///{tmp_path / 'worker.sqlite3'}"}
    result = CliRunner().invoke(cli, ["worker", "--reviewers", str(tmp_path / "none.csv")], env=env)
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: {tmp_path / 'none.csv'}: cannot read reviewers file")


def test_the_lead_digest_is_on_at_nine_by_default_and_digest_at_moves_or_stops_it():
    from datetime import time

    s = settings_from_env(FULL)
    assert (s.digest_at, s.reviewers_per_task) == (time(9, 0), 4)
    assert settings_from_env(FULL | {"DIGEST_AT": "7:05"}).digest_at == time(7, 5)
    assert settings_from_env(FULL | {"DIGEST_AT": "23:59"}).digest_at == time(23, 59)
    assert settings_from_env(FULL | {"DIGEST_AT": "OFF"}).digest_at is None
    assert settings_from_env(FULL | {"REVIEWERS_PER_TASK": "3"}).reviewers_per_task == 3
    # Posted only with Slack, a lead channel and a time.
    lead = {"LEAD_SLACK_CHANNEL": "CLEAD"}
    assert settings_from_env(FULL | lead).digest_enabled and not s.digest_enabled
    assert not settings_from_env(FULL | lead | {"DIGEST_AT": "off"}).digest_enabled
    without_slack = {k: v for k, v in FULL.items() if not k.startswith("SLACK_")}
    assert not settings_from_env(without_slack | lead).digest_enabled


@pytest.mark.parametrize(
    "change, message",
    [
        ({"DIGEST_AT": "9am"}, "DIGEST_AT='9am' is not a time: use HH:MM (24-hour, the worker's local time) or off"),
        ({"DIGEST_AT": "24:00"}, "DIGEST_AT='24:00' is not a time: use HH:MM (24-hour, the worker's local time) or off"),
        ({"DIGEST_AT": "09:60"}, "DIGEST_AT='09:60' is not a time: use HH:MM (24-hour, the worker's local time) or off"),
        ({"REVIEWERS_PER_TASK": "four"}, "REVIEWERS_PER_TASK='four' is not a whole number; set a positive whole number"),
        ({"REVIEWERS_PER_TASK": "1"}, "REVIEWERS_PER_TASK=1 must be 2 or more"),
    ],
)
def test_bad_digest_settings_name_the_variable(change, message):
    with pytest.raises(WorkerError) as error:
        settings_from_env(FULL | change)
    assert str(error.value) == message
