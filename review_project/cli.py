"""The `review-project` command: a thin click layer over the review_project library.

Each command parses its options, makes one library call and turns domain errors into one line.
"""

from __future__ import annotations

import functools

import click

from review_project.errors import ReviewError


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


def label_studio_options(func):
    """The server and key shared by every command that talks to Label Studio."""

    @click.option("--url", envvar="LABEL_STUDIO_URL", help="Label Studio base URL [env LABEL_STUDIO_URL]")
    @click.option(
        "--api-key",
        envvar="LABEL_STUDIO_API_KEY",
        help="Legacy token or personal access token [env LABEL_STUDIO_API_KEY]",
    )
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs)

    return wrapper


@click.group()
@click.version_option(package_name="red-team-review")
def cli():
    """Review red-team attacks in Label Studio: sample, set up, follow, export, measure agreement."""


def main():
    cli()


if __name__ == "__main__":
    main()
