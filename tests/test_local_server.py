"""The private Label Studio's start command, read by Label Studio's own argument parser."""

from __future__ import annotations

from pathlib import Path

import pytest
from label_studio.core.argparser import parse_input_args

from review_project.local_server import start_arguments


@pytest.mark.parametrize("password", ["-starts-with-a-dash", "--looks-like-an-option", "plain_Password-1"])
def test_a_generated_password_is_read_as_the_password_whatever_it_starts_with(password):
    admin = {"email": "lead@example.com", "password": password, "token": "ab" * 20, "port": 8123}
    parsed = parse_input_args(start_arguments(admin, Path("/tmp/ls-data")))
    assert (parsed.password, parsed.username, parsed.user_token) == (password, "lead@example.com", "ab" * 20)
    assert (parsed.port, parsed.data_dir, parsed.internal_host) == (8123, "/tmp/ls-data", "127.0.0.1")
