"""What the lead's commands show on stderr: a progress bar or a running count of bytes while they
work, and a domain error as one line.

The library reports progress through callbacks (`on_imported(n)`, `on_bytes(n)`, `progress(length)`);
these draw it for the CLI, and draw nothing with --silent. Transcript text never passes through here.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import time
from types import SimpleNamespace

import click

from review_project.shared import ReviewError


def progress_bar(length: int, label: str, silent: bool):
    """A click progress bar on stderr, or one that shows nothing with --silent; the caller gets `update(n)`."""
    if silent:
        return contextlib.nullcontext(SimpleNamespace(update=lambda n: None))
    return click.progressbar(length=length, label=label, file=sys.stderr)


@contextlib.contextmanager
def byte_progress(label: str, silent: bool):
    """A running count of bytes on stderr (the size of Label Studio's export is not known up
    front), redrawn at most 4 times a second; the caller gets `update(n)`."""
    total, shown = 0, 0.0
    live = not silent and sys.stderr.isatty()

    def update(n: int) -> None:
        nonlocal total, shown
        total += n
        if live and time.monotonic() - shown > 0.25:
            shown = time.monotonic()
            click.echo(f"\r{label}: {total / 1e6:,.1f} MB", err=True, nl=False)

    yield update
    if live and total:
        click.echo(f"\r{label}: {total / 1e6:,.1f} MB", err=True)


def one_line_errors(func):
    """Turn a domain error into one line on stderr and its exit status, with no traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ReviewError as error:
            click.echo(f"Error: {error}", err=True)
            raise SystemExit(error.exit_code) from None

    return wrapper
