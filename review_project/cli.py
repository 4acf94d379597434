"""The `review-project` command: a thin click layer over the review_project library.

Each command parses its options, makes one library call and prints; a domain error becomes one
line on stderr and its exit status (console.py). The worker's commands reach it through `workers`'
entry points, imported when the command runs, so the lead's commands need none of its dependencies.
Importing this module stays light: each command imports the library it needs when it runs, so
`--help` answers at once (benchmarks/bench_cli_startup.py). Shared options are declared once below.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from pathlib import Path

import click

from review_project import label_studio, manifest, project_setup
from review_project.console import byte_progress, one_line_errors, progress_bar
from review_project.shared import DEFAULT_DATABASE_URL, read_reviewers


# -- options shared by several commands, each declared once (as sqlite-utils does) ---------------


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


@click.group()
@click.version_option(package_name="red-team-review")
def cli():
    """Review red-team attacks in Label Studio: sample, set up, follow, export, measure agreement."""


@cli.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=True, path_type=str))
@click.option("-o", "--output", required=True, type=click.Path(path_type=str), help="Manifest to write (JSON Lines)")
@click.option("--per-model", default=500, show_default=True, type=int, help="Attacks to draw from each model")
@click.option(
    "--model", "models", multiple=True, metavar="TYPE/SIZE",
    help='A model to sample, e.g. "rlhf/52B"; repeat for more [default: "context distillation/52B" and "rlhf/52B"]',
)
@seed_option(help="Random seed: the same seed gives the same manifest")
@click.option("--exclude", type=click.Path(path_type=str), help="Earlier manifest whose attacks to leave out")
@click.option("--allow-fewer", is_flag=True, help="Take all of a model's attacks when it has fewer than --per-model")
@silent_option
@one_line_errors
def sample(input_path, output, per_model, models, seed, exclude, allow_fewer, silent):
    """Draw random attacks per model from a red-team file into a sample manifest.

    INPUT is the hh-rlhf red_team_attempts file (a JSON array or JSON Lines, gzipped or not).
    The manifest keeps every original field plus attack_id, the record's position in INPUT.

    Example:

    \b
        review-project sample red_team_attempts.jsonl.gz -o manifest.jsonl --seed 7
    """
    from review_project import sampling

    if os.path.abspath(output) in {os.path.abspath(p) for p in (input_path, exclude) if p}:
        raise click.UsageError("-o must name a new manifest, not INPUT or the --exclude manifest")
    written = sampling.sample_file(
        input_path, output, per_model=per_model, seed=seed, exclude=exclude, allow_fewer=allow_fewer,
        models=[sampling.parse_model(m) for m in models] if models else sampling.PAPER_MODELS,
        progress=lambda length: progress_bar(length, "Checking records", silent),
    )
    click.echo(written.summary(output))


@cli.command()
@manifest_option(required=True, help="Sample manifest (JSON Lines) from `sample`")
@click.option("--reviewers", "reviewers_path", required=True, type=click.Path(dir_okay=False), help="CSV: email,name[,slack_user_id]")
@click.option("--title", default=project_setup.DEFAULT_TITLE, show_default=True, help="Project title (an existing project with it is reused)")
@reviewers_per_task_option(type=click.IntRange(1, 20), help="Distinct reviewers who must annotate each task")
@click.option("--webhook-url", help="The worker's webhook URL, e.g. http://worker:8090/label-studio/webhook (needs WEBHOOK_SECRET)")
@contact_option("reviewers")
@live_project_options
@one_line_errors
def setup(manifest_path, reviewers_path, title, reviewers_per_task, webhook_url, contact, silent, database_url, from_label_studio, url, api_key):
    """Create or update the review project, reviewer accounts, tasks and webhook.

    Safe to run again: it changes only what differs, and imports only attacks that are
    not in the project yet (with the worker's store in DATABASE_URL it knows them from its
    ledger, checked against Label Studio, instead of listing every task).

    Example:

    \b
        review-project setup --manifest manifest.jsonl --reviewers reviewers.csv \\
            --url http://localhost:8080 --api-key $TOKEN
    """
    webhook_secret = os.environ.get("WEBHOOK_SECRET")
    project_setup.check_webhook_secret(webhook_url, webhook_secret)
    attacks = manifest.read_manifest(manifest_path)
    reviewers = read_reviewers(reviewers_path)
    client = label_studio.connect(url, api_key)
    with ledger_for(database_url, from_label_studio) as ledger, progress_bar(len(attacks), "Importing attacks", silent) as bar:
        report = project_setup.setup_project(
            client, attacks, reviewers, title=title, reviewers_per_task=reviewers_per_task, webhook_url=webhook_url,
            webhook_secret=webhook_secret, contact=contact, on_imported=bar.update, ledger=ledger,
        )
    click.echo(report.text(title, label_studio.server_url(client)))


@cli.command()
@project_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table")
@live_project_options
@one_line_errors
def status(project, as_json, database_url, from_label_studio, silent, url, api_key):
    """Show how far the review is: tasks reviewed, in progress, untouched, and each reviewer.

    With the worker's store in DATABASE_URL it reads the ledger (seconds at any size);
    otherwise, or with --from-label-studio, Label Studio's full export.

    Example:

    \b
        review-project status --project "Red-team review"
    """
    from review_project.live_project import project_status

    client = label_studio.connect(url, api_key)
    with ledger_for(database_url, from_label_studio) as ledger, byte_progress("Label Studio's export", silent) as progress:
        found = project_status(client, project, ledger=ledger, on_bytes=progress)
    click.echo(found.note, err=True)
    click.echo(json.dumps(found.progress.as_dict(), indent=2) if as_json else found.text())


@cli.command()
@project_option
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Table to write: .jsonl, .csv or .parquet")
@manifest_option(help="Join each row with its attack's manifest fields")
@click.option("--audit-copy", is_flag=True, help="Also keep Label Studio's full JSON export beside the table (214 MB for the whole dataset)")
@live_project_options
@one_line_errors
def export(project, output, manifest_path, audit_copy, database_url, from_label_studio, silent, url, api_key):
    """Export every annotation as a tidy table, from the ledger or Label Studio's full export.

    Each row says whether the annotation is valid (at most 2 topics, success 0-4) and why
    not, and whether it is its reviewer's latest annotation of the task (the one status and
    agreement use). --audit-copy also keeps the server's full JSON export beside the table
    as NAME.labelstudio.json (it reads Label Studio's export even with a ledger).

    Example:

    \b
        review-project export -o annotations.parquet --manifest manifest.jsonl
    """
    from review_project.export import TABLE_SUFFIXES
    from review_project.live_project import export_project

    if Path(output).suffix.lower() not in TABLE_SUFFIXES:
        raise click.BadParameter("use a .jsonl, .csv or .parquet file name", param_hint="-o/--output")
    attacks = manifest.read_manifest(manifest_path) if manifest_path else None
    client = label_studio.connect(url, api_key)
    with ledger_for(database_url, from_label_studio) as ledger, byte_progress("Label Studio's export", silent) as progress:
        written = export_project(client, project, output, attacks, ledger=ledger, audit_copy=audit_copy, on_bytes=progress)
    click.echo(written.note, err=True)
    click.echo(written.summary())


@cli.command()
@click.option("--dir", "folder", default=".review-demo", show_default=True, type=click.Path(file_okay=False), help="Folder for the demo's server, data and logins")
@click.option("--port", default=8080, show_default=True, type=int, help="Port for the local Label Studio (127.0.0.1 only)")
@click.option("--stop", is_flag=True, help="Stop the demo's Label Studio and exit")
@one_line_errors
def demo(folder, port, stop):
    """Run the whole workflow locally on a small benign dataset, with 4 demo reviewers.

    Starts a private Label Studio (SQLite, 127.0.0.1 only, telemetry off), writes a
    placeholder dataset in the hh-rlhf shape, samples it, sets up the project and prints
    the URL and each login. Running it again reuses everything.

    Example:

    \b
        review-project demo            # then open the printed URL
        review-project demo --stop
    """
    from review_project.demo import run_demo, stop_demo

    if stop:
        stopped = stop_demo(folder)
        click.echo("Stopped the demo's Label Studio." if stopped else "The demo's Label Studio was not running.")
        return
    result = run_demo(folder, port=port, on_step=lambda step: click.echo(f"- {step}", err=True))
    click.echo(result.text(folder))


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 for all)")
@click.option("--port", default=8090, show_default=True, type=int, help="Port for the webhook and Slack's Request URL")
@click.option("--reviewers", "reviewers_path", envvar="REVIEWERS_CSV", type=click.Path(dir_okay=False), help="setup's reviewers CSV (email,name,slack_user_id): Slack ids without users.lookupByEmail [env REVIEWERS_CSV]")
@click.option("--socket-mode", is_flag=True, help="Talk to Slack over Socket Mode (needs SLACK_APP_TOKEN; no public URL)")
@one_line_errors
def worker(host, port, reviewers_path, socket_mode):
    """Run the well-being check-in worker: Label Studio webhooks in, Slack check-ins out.

    Settings come from the environment (docs/worker.md): LABEL_STUDIO_URL, LABEL_STUDIO_API_KEY,
    SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, WEBHOOK_SECRET, DATABASE_URL, CHECKIN_EVERY, ...
    It needs the worker's extra dependencies: pip install 'red-team-review[worker]'.
    This process answers HTTP; a background process it starts (and restarts) applies what the
    webhook receives and sends the check-ins. Stop it with SIGTERM or Ctrl-C.

    Example:

    \b
        review-project worker --host 0.0.0.0 --port 8090 --reviewers reviewers.csv
    """
    import workers

    workers.serve(host, port, reviewers_csv=reviewers_path, socket_mode=socket_mode)


@cli.command()
@worker_store_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text")
@click.option("--pending", "show_pending", is_flag=True, help="List check-ins not delivered yet, with the last error")
@click.option("--include-comments", is_flag=True, help="Also print reviewers' free-text comments")
@click.option("--retry-failed", is_flag=True, help="Return failed check-ins to pending once their cause is fixed")
@one_line_errors
def wellbeing(database_url, as_json, show_pending, include_comments, retry_failed):
    """Summarise the well-being check-ins: response rate, item means beside the paper's, trend,
    and each reviewer's exposure (tasks per day, longest session, severe tasks, nudges sent).

    Example:

    \b
        review-project wellbeing --json
    """
    import workers

    if show_pending and include_comments:
        raise click.UsageError("--pending lists undelivered check-ins, which have no comments: drop --include-comments")
    if retry_failed and (show_pending or include_comments or as_json):
        raise click.UsageError("--retry-failed changes the store and prints one line: use it alone")
    database_url = database_url or DEFAULT_DATABASE_URL
    if retry_failed:
        count = workers.retry_failed_checkins(database_url)
        click.echo(f"{count} failed check-in(s) back to pending: a running worker sends them within seconds.")
        return
    report = workers.wellbeing_report(database_url, pending=show_pending, include_comments=include_comments)
    click.echo(json.dumps(report.data, indent=2) if as_json else report.text)


@cli.command()
@click.option("--print", "print_it", is_flag=True, help="Print the digest (required: only the worker posts it)")
@worker_store_option
@reviewers_per_task_option(envvar="REVIEWERS_PER_TASK", type=click.IntRange(2, 50), help="Reviewers who make a task fully reviewed, as the worker's REVIEWERS_PER_TASK [env REVIEWERS_PER_TASK]")
@one_line_errors
def digest(print_it, database_url, reviewers_per_task):
    """Print the lead's daily digest as the worker would post it now, without Slack.

    Progress, agreement so far (Fleiss' kappa with its interval) and disputed attacks of every
    project in the worker's ledger; the check-in response rate, negative affect beside the
    paper's, who may want a check-in (names only) and the nudges sent since the last digest.
    The worker posts it to LEAD_SLACK_CHANNEL once a day at DIGEST_AT (docs/worker.md); this
    command never posts, and --print is required to say so.

    Example:

    \b
        review-project digest --print
    """
    import workers

    if not print_it:
        raise click.UsageError("give --print: this command prints the digest; the worker alone posts it")
    click.echo(workers.digest_text(database_url or DEFAULT_DATABASE_URL, reviewers_per_task=reviewers_per_task))


@cli.command()
@source_argument
@click.option("--project", help="Read this live project (id or exact title) instead of SOURCE")
@manifest_option(help="Sample manifest: adds the author's self-rating, models and the paper's view")
@threshold_option(help="Binary scale: success >= this counts as a successful attack")
@reviewers_per_task_option(
    default=None, show_default=False, type=click.IntRange(2, 50),
    help="Only for the paper's equal-n Fleiss' kappa: the tasks with exactly this many valid ratings; every other measure uses every task with 2+ [default: the project's setting with --project, else 4]",
)
@bootstrap_options
@report_file_options("the full summary", "the lead's report")
@click.option("--include-text", is_flag=True, help="Put the transcripts of the most disputed attacks in the files (offensive text)")
@click.option("--half-width", default=0.05, show_default=True, type=click.FloatRange(0, 1, min_open=True), help="The planned half-width of Fleiss' kappa's 95% interval: says whether the review will reach it (docs/planning.md)")
@live_project_options
@one_line_errors
def agreement(source, project, manifest_path, threshold, reviewers_per_task, resamples, seed, json_path, html_path, md_path, include_text, half_width, database_url, from_label_studio, silent, url, api_key):
    """Measure how far the reviewers agree: ordinal alpha, ICC, Gwet's AC2, Fleiss' kappa, the paper's view.

    SOURCE is a Label Studio full JSON export (.json) or a table written by `export`
    (.jsonl, .csv, .parquet); or give --project to read a live project, from the worker's
    ledger when DATABASE_URL names it, else from Label Studio's full export. The headline
    measures use every task with 2 or more valid ratings; --reviewers-per-task only sets the
    paper's equal-n Fleiss' kappa. On a review in progress it says how precise Fleiss' kappa is
    now and will be once every attack of --manifest (or the project) is rated, against the
    planned --half-width. Prints a summary; --json, --html and --md write the files.
    Transcript text stays out unless --include-text.

    Example:

    \b
        review-project agreement export.json --manifest manifest.jsonl --html report.html
        review-project agreement --project "Red-team review" --json agreement.json
    """
    from review_project import lead_report
    from review_project.agreement import agreement_report, write_reports
    from review_project.agreement.sources import MANIFEST_FIELDS

    check_one_source(source, project)
    outputs = [p for p in (json_path, html_path, md_path) if p]
    if include_text and not outputs:
        raise click.UsageError("--include-text puts transcripts in the files: give --json, --html or --md")
    check_new_files(outputs, source, manifest_path, "--json, --html and --md")
    # The report needs only a few fields of each attack; the transcripts only with --include-text.
    fields = None if include_text else MANIFEST_FIELDS
    attacks = manifest.read_manifest(manifest_path, fields) if manifest_path else None
    reviewed = read_reviewed(
        source, project, url, api_key, reviewers_per_task, database_url=database_url, from_label_studio=from_label_studio,
        silent=silent, with_transcripts=include_text,
    )
    summary = agreement_report(
        reviewed, attacks, threshold=threshold, n_resamples=resamples, seed=seed, include_text=include_text,
        target_half_width=half_width,
    )
    click.echo(lead_report.summary_text(summary))
    write_reports(summary, json_path=json_path, html_path=html_path, md_path=md_path)
    if outputs:
        click.echo(f"\nWrote {', '.join(outputs)}")


@cli.command()
@project_option
@threshold_option(help="Split: disputed when exactly half the valid ratings are at or above this")
@dispute_options
@click.option("--adjudicators-per-task", default=1, show_default=True, type=click.IntRange(1, 20), help="Adjudicators who annotate each disputed attack")
@contact_option("adjudicators")
@live_project_options
@one_line_errors
def adjudicate(project, threshold, dispute_spread, dispute_min_ratings, adjudicators_per_task, contact, silent, database_url, from_label_studio, url, api_key):
    """Put the disputed attacks in an adjudication project in Label Studio, for a final rating.

    Creates or updates "<title> - adjudication" beside the review project --project. An attack
    is disputed when, of 2 or more valid ratings, exactly half are at or above --threshold, or
    the highest and lowest differ by --dispute-spread or more, or more than 2 topics are tagged
    by at least half of them with a tie at the 2-topic limit. The adjudicator sees the
    transcript and each reviewer's rating and topics, anonymised as A-D, and gives the final
    rating (0-4) and at most 2 topics. Safe to run again: only attacks not in the adjudication
    project yet are added; a task already there is never rewritten.

    Example:

    \b
        review-project adjudicate --project "Red-team review"
        review-project adjudicate --project "Red-team review" --threshold 2 --dispute-spread 2
    """
    from review_project.adjudication import adjudicate_review, check_review_project
    from review_project.disputes import DisputeRule

    rule = DisputeRule(threshold=threshold, spread=dispute_spread, min_ratings=dispute_min_ratings)
    client = label_studio.connect(url, api_key)
    review = label_studio.find_project(client, project)
    check_review_project(review)
    source = read_reviewed(
        None, review.id, url, api_key, rule.min_ratings, database_url=database_url, from_label_studio=from_label_studio, silent=silent
    )
    report = adjudicate_review(client, review, source, rule, adjudicators_per_task=adjudicators_per_task, contact=contact)
    click.echo(report.text(label_studio.server_url(client)))


@cli.command()
@source_argument
@click.option("--project", help="Read this live project (id or exact title) instead of SOURCE; adds its adjudications")
@manifest_option(help="Sample manifest: models, the author's self-rating and the harmlessness score")
@threshold_option(help="Success >= this counts as a successful attack (and splits a dispute)")
@dispute_options
@bootstrap_options
@click.option("--block-size", default=50, show_default=True, type=click.IntRange(2, 100_000), help="Drift: a reviewer's agreement per block of this many tasks, in time order")
@click.option("--min-attacks", default=5, show_default=True, type=click.IntRange(2, 1_000_000), help="By model: a model with fewer rated attacks gets no interval and no test")
@click.option("--difference", default=0.5, show_default=True, type=click.FloatRange(0, 4, min_open=True), help="The planned difference in mean rating: says whether each pair of models will be able to detect it once every attack of --manifest is rated (docs/planning.md)")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write one row per attack: .parquet, .csv or .jsonl")
@report_file_options("the results", "the lead's results report")
@live_project_options
@one_line_errors
def results(source, project, manifest_path, threshold, dispute_spread, dispute_min_ratings, resamples, seed, block_size, min_attacks, difference, output, json_path, html_path, md_path, silent, database_url, from_label_studio, url, api_key):
    """The study's answers: each attack's final label, attack success by model, the proxy, the reviewers.

    SOURCE is a Label Studio full JSON export (.json) or a table written by `export`
    (.jsonl, .csv, .parquet); or give --project to read a live project (from the worker's
    ledger when DATABASE_URL names it) with its adjudications. Valid ratings are those
    `agreement` counts. Prints a summary; -o writes one row per attack, --json the numbers,
    --html and --md the lead's report. No transcript text is ever written.

    Example:

    \b
        review-project results annotations.parquet --manifest manifest.jsonl -o attacks.parquet --html results.html
        review-project results --project "Red-team review" --manifest manifest.jsonl --json results.json
    """
    from review_project import lead_report
    from review_project.adjudication import read_adjudications
    from review_project.agreement.sources import DEFAULT_REVIEWERS_PER_TASK, MANIFEST_FIELDS
    from review_project.disputes import DisputeRule
    from review_project.results import results_report, write_results
    from review_project.results.report import TABLE_SUFFIXES

    check_one_source(source, project)
    if output and Path(output).suffix.lower() not in TABLE_SUFFIXES:
        raise click.BadParameter("use a .parquet, .csv or .jsonl file name", param_hint="-o/--output")
    outputs = [p for p in (output, json_path, html_path, md_path) if p]
    check_new_files(outputs, source, manifest_path, "-o, --json, --html and --md")
    attacks = manifest.read_manifest(manifest_path, MANIFEST_FIELDS) if manifest_path else None
    # Results need no per-task quota: the default only satisfies the reader.
    reviewed = read_reviewed(
        source, project, url, api_key, DEFAULT_REVIEWERS_PER_TASK, database_url=database_url,
        from_label_studio=from_label_studio, silent=silent,
    )
    adjudications = read_adjudications(label_studio.connect(url, api_key), project) if project is not None else {}
    rule = DisputeRule(threshold=threshold, spread=dispute_spread, min_ratings=dispute_min_ratings)
    found = results_report(
        reviewed, attacks, adjudications, rule=rule, n_resamples=resamples, seed=seed, block_size=block_size,
        min_attacks=min_attacks, target_difference=difference,
    )
    click.echo(lead_report.results_text(found))
    write_results(found, output=output, json_path=json_path, html_path=html_path, md_path=md_path)
    if outputs:
        click.echo(f"\nWrote {', '.join(outputs)}")


def _shares_option(ctx, param, value):
    """--shares: comma-separated counts or shares of ratings 0, 1, 2, ... (at least 2, all positive)."""
    import math

    try:
        shares = [float(part) for part in value.split(",")]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of numbers") from None
    if len(shares) < 2 or not all(math.isfinite(share) and share > 0 for share in shares):
        raise click.BadParameter("give a positive count or share for each of at least 2 ratings, e.g. 5,2,2,2,4")
    return shares


@cli.command()
@click.option("--kappa", default=0.32, show_default=True, type=click.FloatRange(0, 1, min_open=True, max_open=True), help="Expected Fleiss' kappa on the rating scale (the paper's, 0-4)")
@click.option("--binary-kappa", default=0.49, show_default=True, type=click.FloatRange(0, 1, min_open=True, max_open=True), help="Expected Fleiss' kappa on the binary scale (the paper's, success >= 3)")
@reviewers_per_task_option(type=click.IntRange(2, 20), help="Reviewers who rate each attack")
@click.option(
    "--shares", default="16475,4367,4936,4249,8934", show_default=True, callback=_shares_option,
    help="Counts or shares of ratings 0, 1, 2, ...: as many categories as numbers (the default: the paper's self-ratings)",
)
@threshold_option(type=click.IntRange(1, 19), help="Binary scale: success >= this")
@click.option("--half-width", default=0.05, show_default=True, type=click.FloatRange(0, 1, min_open=True), help="Target half-width of kappa's 95% interval")
@click.option("--difference", default=0.5, show_default=True, type=click.FloatRange(0, min_open=True), help="Difference in mean rating between two models to detect at 80% power")
@click.option("--sd", type=click.FloatRange(0, min_open=True), help="SD of an attack's mean rating [default: from the rating model at --kappa]")
@click.option("--per-model", default=500, show_default=True, type=click.IntRange(2, 1_000_000), help="Your sample: attacks per model (as `sample --per-model`)")
@click.option("--models", default=2, show_default=True, type=click.IntRange(2, 1000), help="Your sample: models")
@click.option("--simulations", default=2000, show_default=True, type=click.IntRange(100, 100_000), help="Simulated reviews that check each answer")
@seed_option(help="Simulation seed: the same seed gives the same numbers")
@json_file_option(help="Write the plan's numbers as JSON")
@one_line_errors
def plan(kappa, binary_kappa, reviewers_per_task, shares, threshold, half_width, difference, sd, per_model, models, simulations, seed, json_path):
    """Plan a review: how many attacks for a precise kappa, and per model to detect a difference.

    From the expected Fleiss' kappa, the reviewers per attack and the share of each rating, it
    gives the attacks needed for a 95% interval of kappa of +/- --half-width on the 0-4 and the
    binary scale (large-sample variance under the rating model of docs/planning.md), checked by
    a seeded simulation; and the attacks per model a t-test needs to detect a difference of
    --difference points in mean rating at 80% power (alpha 0.05, two-sided).

    Example:

    \b
        review-project plan
        review-project plan --kappa 0.4 --reviewers-per-task 3 --half-width 0.03 --json plan.json
    """
    from review_project import planning

    if threshold >= len(shares):
        raise click.BadParameter(f"{threshold} is not below the {len(shares)} categories of --shares", param_hint="'--threshold'")
    try:
        found = planning.plan(
            kappa=kappa, binary_kappa=binary_kappa, reviewers=reviewers_per_task, shares=shares, threshold=threshold,
            half_width=half_width, difference=difference, sd=sd, sample_per_model=per_model, sample_models=models,
            simulations=simulations, seed=seed,
        )
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    click.echo(found.text())
    if json_path:
        manifest.write_atomically(json_path, json.dumps(found.as_json(), indent=2, allow_nan=False) + "\n")
        click.echo(f"\nWrote {json_path}")


def main():
    cli()


if __name__ == "__main__":
    main()
