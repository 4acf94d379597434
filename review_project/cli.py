"""The `review-project` command: a thin click layer over the review_project library.

Each command parses its options, makes one library call and prints; a domain error becomes one
line on stderr and its exit status (console.py). The worker's commands reach it through `workers`'
entry points, imported when the command runs, so the lead's commands need none of its dependencies.
Importing this module stays light: each command imports the library it needs when it runs, so
`--help` answers at once (benchmarks/bench_cli_startup.py). The options the commands share are
declared once in cli_options.py; the commands about reviewers and the worker (worker, wellbeing,
digest, invite, consent) are in reviewer_commands.py and join the group here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from review_project import label_studio, manifest, project_setup, reviewer_commands
from review_project.console import byte_progress, one_line_errors, progress_bar
from review_project.shared import read_reviewers
from review_project.cli_options import (
    bootstrap_options,
    check_new_files,
    check_one_source,
    contact_option,
    dispute_options,
    json_file_option,
    ledger_for,
    live_project_options,
    manifest_option,
    project_option,
    read_reviewed,
    report_file_options,
    reviewers_per_task_option,
    seed_option,
    silent_option,
    source_argument,
    threshold_option,
)


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
@click.option("--create-accounts", is_flag=True, help="Make an account for each reviewer who has not joined: it has no password until `label-studio reset_password` on the server (the commands are printed)")
@contact_option("reviewers")
@live_project_options
@one_line_errors
def setup(manifest_path, reviewers_path, title, reviewers_per_task, webhook_url, create_accounts, contact, silent, database_url, from_label_studio, url, api_key):
    """Create or update the review project, its tasks and webhook, and find the reviewers.

    Reviewers join Label Studio through the invite link (`review-project invite`, the step before setup); setup finds them by
    email, names those who have not joined yet and makes no account unless --create-accounts. Safe to run again: it changes only what
    differs, and imports only attacks not in the project yet (DATABASE_URL: known from the worker's ledger, not a task listing).

    Example:

    \b
        review-project setup --manifest manifest.jsonl --reviewers reviewers.csv \\
            --url http://localhost:8080 --api-key $TOKEN
    """
    webhook_secret = os.environ.get("WEBHOOK_SECRET")
    project_setup.check_webhook_secret(webhook_url, webhook_secret)
    attacks, reviewers = manifest.read_manifest(manifest_path), read_reviewers(reviewers_path)
    client = label_studio.connect(url, api_key)
    with ledger_for(database_url, from_label_studio) as ledger, progress_bar(len(attacks), "Importing attacks", silent) as bar:
        report = project_setup.setup_project(
            client, attacks, reviewers, title=title, reviewers_per_task=reviewers_per_task, webhook_url=webhook_url,
            webhook_secret=webhook_secret, contact=contact, on_imported=bar.update, ledger=ledger, create_accounts=create_accounts,
            server_data_dir=project_setup.local_server_data_dir(label_studio.server_url(client)))
    click.echo(report.text(title, label_studio.server_url(client)))
    if report.tasks_already_present and (from_label_studio or not database_url):
        click.echo("Listed every task to find the imported attacks: with the worker's ledger (DATABASE_URL) a re-run learns them from it, in seconds.", err=True)


@cli.command()
@project_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table")
@live_project_options
@one_line_errors
def status(project, as_json, database_url, from_label_studio, silent, url, api_key):
    """Show how far the review is: tasks reviewed, in progress, untouched, and each reviewer.

    Every member of the organisation but you is listed, those with no work yet with 0. With the
    worker's store in DATABASE_URL it counts in the ledger (under a second at any size; Label
    Studio is asked the project's title and members at most once an hour); otherwise, or with
    --from-label-studio, it reads Label Studio's full export.

    Example:

    \b
        review-project status --project "Red-team review"
    """
    from review_project.live_project import LazyClient, project_status

    with ledger_for(database_url, from_label_studio) as ledger, byte_progress("Label Studio's export", silent) as progress:
        found = project_status(LazyClient(url, api_key), project, ledger=ledger, on_bytes=progress)
    click.echo(found.note, err=True)
    click.echo(json.dumps(found.progress.as_dict(), indent=2) if as_json else found.text())
    if not as_json and (consent := reviewer_commands.consent_table(database_url, found.progress)):
        click.echo("\nConsent (review-project invite):\n" + consent)


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
    from review_project.live_project import LazyClient, export_project

    if Path(output).suffix.lower() not in TABLE_SUFFIXES:
        raise click.BadParameter("use a .jsonl, .csv or .parquet file name", param_hint="-o/--output")
    attacks = manifest.read_manifest(manifest_path) if manifest_path else None
    with ledger_for(database_url, from_label_studio) as ledger, byte_progress("Label Studio's export", silent) as progress:
        written = export_project(LazyClient(url, api_key), project, output, attacks, ledger=ledger, audit_copy=audit_copy, on_bytes=progress)
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
@click.option("--include-incomplete", is_flag=True, help="Also add disputed attacks whose review is not complete: a reviewer who has not rated one yet can then read the others' verdicts on it in the adjudication project")
@contact_option("adjudicators")
@live_project_options
@one_line_errors
def adjudicate(project, threshold, dispute_spread, dispute_min_ratings, adjudicators_per_task, include_incomplete, contact, silent, database_url, from_label_studio, url, api_key):
    """Put the disputed attacks in an adjudication project in Label Studio, for a final rating.

    Creates or updates "<title> - adjudication" beside the review project --project. An attack is disputed when, of 2 or more valid
    ratings, exactly half are at or above --threshold, or the highest and lowest differ by --dispute-spread or more, or more than 2
    topics are tagged by at least half of them with a tie at the 2-topic limit. The adjudicator sees the transcript and each reviewer's
    rating and topics, anonymised as A-D, and gives the final rating (0-4) and at most 2 topics. Safe to run again: only attacks not in
    the adjudication project yet are added; a task already there is never rewritten.

    Label Studio Community shows every project to every member, this one included, and its Data Manager every annotation of a task.
    So an attack is added only once its review is complete (the project's reviewers per task have each rated or skipped it, and no
    draft is open on it); the first line says how many disputed attacks were left out as incomplete.

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
    source = read_reviewed(None, review.id, url, api_key, rule.min_ratings, database_url=database_url, from_label_studio=from_label_studio, silent=silent)
    report = adjudicate_review(client, review, source, rule, adjudicators_per_task=adjudicators_per_task, contact=contact, include_incomplete=include_incomplete)
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


for command in (reviewer_commands.worker, reviewer_commands.wellbeing, reviewer_commands.digest,
                reviewer_commands.invite, reviewer_commands.consent):
    cli.add_command(command)


def main():
    cli()


if __name__ == "__main__":
    main()
