"""The `review-project` commands about reviewers and the worker: run the worker, read its
well-being summary and digest, invite reviewers and record their consent. Each reaches the worker
through `workers`' entry points, imported when the command runs (the lead's commands need none of
the worker's dependencies); cli.py adds them to the group.
"""

from __future__ import annotations

import json

import click

from review_project import label_studio
from review_project.cli_options import (
    contact_option,
    label_studio_options,
    project_option,
    reviewers_per_task_option,
    worker_store_option,
)
from review_project.console import one_line_errors
from review_project.shared import DEFAULT_DATABASE_URL, read_reviewers


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 for all)")
@click.option("--port", default=8090, show_default=True, type=int, help="Port for the webhook and Slack's Request URL")
@click.option("--reviewers", "reviewers_path", envvar="REVIEWERS_CSV", type=click.Path(dir_okay=False), help="setup's reviewers CSV (email,name,slack_user_id): Slack ids without users.lookupByEmail [env REVIEWERS_CSV]")
@click.option("--socket-mode", is_flag=True, help="Talk to Slack over Socket Mode (needs SLACK_APP_TOKEN; no public URL)")
@click.option("--offboard", is_flag=True, default=None, help="\"Stop reviewing\" also removes the reviewer from the Label Studio organisation (their annotations stay) [env OFFBOARD]")
@one_line_errors
def worker(host, port, reviewers_path, socket_mode, offboard):
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

    workers.serve(host, port, reviewers_csv=reviewers_path, socket_mode=socket_mode, offboard=offboard)


@click.command()
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


@click.command()
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


def consent_table(database_url, progress) -> str:
    """Status's consent lines: consented (when), joined, tasks done; "" without the worker's store or before any invite.

    `progress` lists every member of the organisation (status's own read), so who has joined needs
    no call to Label Studio of its own."""
    if not database_url:
        return ""
    import workers
    from review_project.progress import consent_lines, consent_rows
    from review_project.shared import WorkerError

    try:
        consents = workers.consent_standings(database_url)
    except WorkerError as error:  # the progress above stands; say why consent is missing
        return f"  not shown: {error}"
    if not consents:
        return ""
    tasks = {r.email: r.submitted + r.skipped for r in progress.reviewers if r.email}
    return "\n".join(consent_lines(consent_rows(consents, tasks, set(tasks))))


@click.command()
@click.option("--reviewers", "reviewers_path", required=True, type=click.Path(dir_okay=False), help="CSV: email,name[,slack_user_id]")
@project_option
@contact_option("reviewers")
@click.option("--new-link", is_flag=True, help="Reset the organisation's invite link first: every older link stops working")
@worker_store_option
@label_studio_options
@one_line_errors
def invite(reviewers_path, project, contact, new_link, database_url, url, api_key):
    """Ask each reviewer for consent in Slack before they see any transcript, and show where everyone stands.

    Checks the whole reviewers file first (each Slack id with users.info when SLACK_BOT_TOKEN is set), then records each
    reviewer as invited in the worker's store (DATABASE_URL) and queues the consent DM the worker sends; only after "I
    understand and want to take part" does the worker send the invite link. A reviewer without Slack gets a printed line
    for you to send. Prints per reviewer: invited, consented, declined, joined, last active. Safe to run again: nothing is
    queued twice, and nobody who declined or stopped is asked again.

    Example:

    \b
        review-project invite --reviewers reviewers.csv --project "Red-team review" --contact "Dana, dana@example.com"
        review-project invite --reviewers reviewers.csv --new-link    # once everyone has joined: old links stop working
    """
    import workers
    from review_project import invitations

    reviewers, lines = read_reviewers(reviewers_path), invitations.reviewer_lines(reviewers_path)
    client = label_studio.connect(url, api_key)
    # Before setup there is no project yet: the consent text then says the lead will tell the workload.
    found = label_studio.project_by_title(client, project) if not str(project).isdigit() else label_studio.find_project(client, project)
    workload = invitations.workload_text(getattr(found, "task_number", None), getattr(found, "maximum_annotations", None), len(reviewers))
    invited = workers.invite_reviewers(
        database_url or DEFAULT_DATABASE_URL, reviewers, where=lambda r: f"{reviewers_path}: line {lines.get(r.email.lower(), '?')}",
        study=getattr(found, "title", project), workload=workload, contact=contact, project=getattr(found, "id", None))
    # The link is reset only once every row has passed: a bad file changes nothing.
    link = label_studio.reset_invite_link(client) if new_link else label_studio.invite_link(client)
    rows = invitations.invitee_rows(reviewers, invited, label_studio.users_by_email(client))
    click.echo(invitations.invite_text(rows, version=invited.version, consent_text=invited.text, link=link, new_link=new_link))


@click.command()
@click.argument("email")
@click.option("--recorded-by", required=True, metavar="EMAIL", help="Your email: the consent is marked as recorded by you, by hand")
@worker_store_option
@one_line_errors
def consent(email, recorded_by, database_url):
    """Record the consent of a reviewer who agreed outside Slack, for the consent text they were invited with.

    The consent is kept in the worker's store (DATABASE_URL) with its time, marked as recorded by you (lead:EMAIL). A
    reviewer with a Slack id then gets the invite link from the worker; for one without, send it yourself.

    Example:

    \b
        review-project consent ana@example.com --recorded-by lead@example.com
    """
    import workers
    from review_project import invitations
    from review_project.shared import email_problem

    if email_problem(email):
        raise click.BadParameter(f"{email!r} {email_problem(email)}", param_hint="EMAIL")
    standing, recorded_now = workers.record_consent(database_url or DEFAULT_DATABASE_URL, email, invitations.lead_mark(recorded_by))
    click.echo(invitations.consent_recorded_text(standing, recorded_now))
