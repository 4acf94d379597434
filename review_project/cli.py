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


@cli.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=True, path_type=str))
@click.option("-o", "--output", required=True, type=click.Path(path_type=str), help="Manifest to write (JSON Lines)")
@click.option("--per-model", default=500, show_default=True, type=int, help="Attacks to draw from each model")
@click.option(
    "--model",
    "models",
    multiple=True,
    metavar="TYPE/SIZE",
    help='A model to sample, e.g. "rlhf/52B"; repeat for more [default: "context distillation/52B" and "rlhf/52B"]',
)
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed: the same seed gives the same manifest")
@click.option("--exclude", type=click.Path(path_type=str), help="Earlier manifest whose attacks to leave out")
@click.option("--allow-fewer", is_flag=True, help="Take all of a model's attacks when it has fewer than --per-model")
@click.option("--silent", is_flag=True, help="No progress bar")
@one_line_errors
def sample(input_path, output, per_model, models, seed, exclude, allow_fewer, silent):
    """Draw random attacks per model from a red-team file into a sample manifest.

    INPUT is the hh-rlhf red_team_attempts file (a JSON array or JSON Lines, gzipped or not).
    The manifest keeps every original field plus attack_id, the record's position in INPUT.

    Example:

    \b
        review-project sample red_team_attempts.jsonl.gz -o manifest.jsonl --seed 7
    """
    import os
    import sys

    from review_project import manifest, records, sampling

    if os.path.abspath(output) == os.path.abspath(input_path) or (
        exclude is not None and os.path.abspath(output) == os.path.abspath(exclude)
    ):
        raise click.UsageError("-o must name a new manifest, not INPUT or the --exclude manifest")
    strata = [sampling.parse_model(m) for m in models] if models else list(sampling.PAPER_MODELS)
    exclude_ids = [r["attack_id"] for r in manifest.read_manifest(exclude)] if exclude else []

    def progress(length):
        return click.progressbar(length=length, label="Checking records", file=sys.stderr)

    loaded = records.load_records(input_path, progress=None if silent else progress)
    chosen = sampling.sample_attacks(
        loaded, per_model=per_model, models=strata, seed=seed, exclude_ids=exclude_ids, allow_fewer=allow_fewer
    )
    manifest.write_manifest(output, chosen)
    counts = {sampling.stratum_name(m): 0 for m in strata}
    for record in chosen:
        counts[sampling.stratum_name((record["model_type"], record["num_params"]))] += 1
    summary = ", ".join(f"{name}: {count}" for name, count in counts.items())
    click.echo(f"Wrote {len(chosen)} attacks to {output} ({summary})")


def main():
    cli()


if __name__ == "__main__":
    main()
