"""The worker's consent settings: CONSENT_CONTACT, and OFFBOARD / `review-project worker --offboard` (off by default)."""

import pytest
from click.testing import CliRunner

from review_project.cli import cli
from review_project.shared import WorkerError
from tests.workers.conftest import worker_settings


def test_offboarding_is_off_by_default_and_the_contact_defaults_to_the_lead():
    settings = worker_settings("sqlite:///unused", "http://127.0.0.1:9/api/")
    assert (settings.offboard, settings.consent_contact) == (False, "your lead")


def test_offboard_and_contact_from_the_environment():
    settings = worker_settings("sqlite:///unused", "http://127.0.0.1:9/api/", OFFBOARD="true",
                               CONSENT_CONTACT="  Dana, dana@example.com ")
    assert (settings.offboard, settings.consent_contact) == (True, "Dana, dana@example.com")
    assert worker_settings("sqlite:///unused", "http://127.0.0.1:9/api/", OFFBOARD="off").offboard is False
    with pytest.raises(WorkerError, match="OFFBOARD='maybe' is not true or false"):
        worker_settings("sqlite:///unused", "http://127.0.0.1:9/api/", OFFBOARD="maybe")


# Without the flag: None, and the settings read OFFBOARD from the environment.
@pytest.mark.parametrize("args, env, expected", [([], {}, None), (["--offboard"], {}, True)])
def test_the_worker_command_passes_offboard_on(monkeypatch, args, env, expected):
    import workers

    seen = {}
    monkeypatch.setattr(workers, "serve", lambda host, port, **options: seen.update(options))
    result = CliRunner().invoke(cli, ["worker", *args], env=env)
    assert result.exit_code == 0, result.output
    assert seen["offboard"] is expected
