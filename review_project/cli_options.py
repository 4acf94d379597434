"""The options the `review-project` commands share, each declared once (as sqlite-utils does),
and what the commands share besides options (reading a live project, checking files)."""

from __future__ import annotations

import contextlib
import functools
import os

import click

from review_project import project_setup
from review_project.console import byte_progress


def option_stack(*options):
    """One decorator that applies these click options in the order listed (the order --help shows)."""

    def decorate(func):
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


project_option = click.option("--project", default=project_setup.DEFAULT_TITLE, show_default=True, help="Project id or exact title")
source_argument = click.argument("source", required=False, type=click.Path(dir_okay=False, path_type=str))
silent_option = click.option("--silent", is_flag=True, help="No progress")
label_studio_options = option_stack(
    click.option("--url", envvar="LABEL_STUDIO_URL", help="Label Studio base URL [env LABEL_STUDIO_URL]"),
    click.option("--api-key", envvar="LABEL_STUDIO_API_KEY", help="Legacy token or personal access token [env LABEL_STUDIO_API_KEY]"),
)
# Where a live project is read from: the worker's ledger when there is one, or Label Studio.
ledger_options = option_stack(
    click.option("--database-url", envvar="DATABASE_URL", help="The worker's store: read the project from its ledger [env DATABASE_URL]"),
    click.option("--from-label-studio", is_flag=True, help="Read Label Studio even when there is a ledger"),
)
# Every command that reads or changes a live project.
live_project_options = option_stack(silent_option, ledger_options, label_studio_options)
# The worker's own store (check-ins, the digest), for the commands that read it directly.
worker_store_option = click.option("--database-url", envvar="DATABASE_URL", help="The worker's store [env DATABASE_URL; default the worker's SQLite file]")
# Options whose help, and for some the range, is each command's own: `@seed_option(help=...)`.
seed_option = functools.partial(click.option, "--seed", default=0, show_default=True, type=int)
threshold_option = functools.partial(click.option, "--threshold", default=3, show_default=True, type=click.IntRange(1, 4))
# Setup's quota, plan's design, the digest's "fully reviewed", agreement's equal-n kappa: each keeps its range.
reviewers_per_task_option = functools.partial(click.option, "--reviewers-per-task", default=4, show_default=True)
manifest_option = functools.partial(click.option, "--manifest", "manifest_path", type=click.Path(dir_okay=False))
json_file_option = functools.partial(click.option, "--json", "json_path", type=click.Path(dir_okay=False))
bootstrap_options = option_stack(
    click.option("--resamples", default=2000, show_default=True, type=click.IntRange(100, 100_000), help="Bootstrap resamples for the 95% intervals"),
    seed_option(help="Bootstrap seed: the same seed gives the same intervals"),
)
# The dispute rule's settings beyond the threshold, shared by adjudicate and results.
dispute_options = option_stack(
    click.option("--dispute-spread", default=3, show_default=True, type=click.IntRange(1, 4), help="Disputed when the highest and lowest valid rating differ by this or more"),
    click.option("--dispute-min-ratings", default=2, show_default=True, type=click.IntRange(2, 50), help="Fewest valid ratings an attack needs before it can be disputed"),
)


def contact_option(who: str):
    """--contact: the person the instructions name."""
    return click.option("--contact", help=f"Whom {who} should talk to if the material stays with them (shown in the instructions)")


def report_file_options(numbers: str, report: str):
    """--json, --html and --md: the numbers as JSON, and the lead's report as one HTML file and as Markdown."""
    return option_stack(
        json_file_option(help=f"Write {numbers} as JSON"),
        click.option("--html", "html_path", type=click.Path(dir_okay=False), help=f"Write {report}: one self-contained HTML file"),
        click.option("--md", "md_path", type=click.Path(dir_okay=False), help=f"Write {report} as Markdown"),
    )


# -- what the commands share besides options -------------------------------------------------


def ledger_for(database_url: str | None, from_label_studio: bool):
    """The worker's ledger named by --database-url/DATABASE_URL, closed on exit; or None (then Label Studio's export is read)."""
    if from_label_studio or not database_url:
        return contextlib.nullcontext()
    import workers

    return contextlib.closing(workers.open_ledger(database_url))


def read_reviewed(source, project, url, api_key, reviewers_per_task, *, database_url, from_label_studio, silent, **options):
    """agreement.open_source with the ledger and a count of the export's bytes on stderr; its
    SourceError becomes a usage error and its note (how current a live project is) goes to stderr."""
    from review_project.agreement import SourceError, open_source

    try:
        with ledger_for(database_url, from_label_studio or source is not None) as ledger, byte_progress("Label Studio's export", silent) as progress:
            reviewed = open_source(source, project, url, api_key, reviewers_per_task, ledger=ledger, on_bytes=progress, **options)
    except SourceError as error:
        raise click.UsageError(str(error)) from None
    if reviewed.note:
        click.echo(reviewed.note, err=True)
    return reviewed


def check_one_source(source, project) -> None:
    """SOURCE or --project, not both."""
    if (source is None) == (project is None):
        both = ", not both" if source else ""
        raise click.UsageError(f"give SOURCE (an export file or table) or --project for a live project{both}")


def check_new_files(outputs: list[str], source, manifest_path, names: str) -> None:
    """The files to write (the options `names`) are new and distinct: neither SOURCE, --manifest nor each other."""
    inputs = {os.path.abspath(p) for p in (source, manifest_path) if p}
    if any(os.path.abspath(p) in inputs for p in outputs) or len({os.path.abspath(p) for p in outputs}) < len(outputs):
        raise click.UsageError(f"{names} must name different new files, not SOURCE or --manifest")
