"""The worker's reads of Label Studio ask once: a Label Studio that is down is reported at once,
never after the SDK's retry sleeps, which would hold up the catch-up thread and so the worker's
stop (SIGTERM waits for that thread)."""

from __future__ import annotations

import time

import pytest

from workers.label_studio_api import LabelStudioReader, LabelStudioUnavailable


@pytest.mark.parametrize(
    "read, what",
    [
        (lambda reader: reader.watched_projects("secret"), "webhooks"),
        (lambda reader: reader.task_count(3), "project 3"),
        (lambda reader: next(reader.tasks(3)), "tasks of project 3"),
        (lambda reader: reader.reviewer(7), "Label Studio user 7"),
    ],
    ids=["webhooks", "task count", "tasks", "reviewer"],
)
def test_a_label_studio_that_is_down_is_reported_at_once(read, what):
    reader = LabelStudioReader("http://127.0.0.1:9", "ls-key")  # nothing listens: refused at once
    started = time.monotonic()
    with pytest.raises(LabelStudioUnavailable, match=f"^{what}: ConnectError$"):
        read(reader)
    # The SDK's own retries sleep about 3 s before they give up on a refused connection.
    assert time.monotonic() - started < 1.0
