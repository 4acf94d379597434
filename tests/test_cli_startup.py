"""The CLI starts light (issue 20) and declares each shared option once (issue 19).

Importing review_project.cli must not import the Label Studio SDK, pandas or the statistics
libraries: every command imports what it needs when it runs, so `--help` answers at once. The
wall time itself is measured by benchmarks/bench_cli_startup.py, not here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from review_project.cli import cli

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("label_studio_sdk", "pandas", "numpy", "scipy", "matplotlib", "statsmodels", "httpx", "pyarrow", "ijson", "workers")


def run_python(program: str) -> str:
    done = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_the_cli_imports_nothing_heavy():
    program = (
        "import review_project.cli, sys\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))\n"
    )
    assert run_python(program) == "[]"


def test_every_help_works_with_the_heavy_libraries_blocked():
    # A name set to None in sys.modules makes its import fail: --help must not need any of them.
    program = (
        "import sys\n"
        f"for name in {HEAVY!r}: sys.modules[name] = None\n"
        "from click.testing import CliRunner\n"
        "from review_project.cli import cli\n"
        "for name in [None, *sorted(cli.commands)]:\n"
        "    result = CliRunner().invoke(cli, ([name] if name else []) + ['--help'])\n"
        "    assert result.exit_code == 0 and 'Usage:' in result.output, (name, result.output)\n"
        "print(len(cli.commands))\n"
    )
    assert int(run_python(program)) == len(cli.commands)


def test_each_shared_option_is_declared_once():
    source = "".join((ROOT / "review_project" / name).read_text()
                     for name in ("cli.py", "cli_options.py", "reviewer_commands.py"))
    for option in ("--silent", "--reviewers-per-task", "--threshold", "--resamples", "--seed", "--manifest",
                   '"--json", "json_path"', "--html", "--md", "--contact", "--dispute-spread", "--url", "--api-key",
                   "--from-label-studio"):
        quoted = option if option.startswith('"') else f'"{option}"'
        assert source.count(quoted) == 1, f"{option} is declared {source.count(quoted)} times in the commands"
    # Two meanings, one declaration each: a project's ledger, and the worker's own store.
    assert source.count('"--database-url"') == 2


def option(command: str, name: str) -> click.Option:
    return next(param for param in cli.commands[command].params if param.name == name)


def test_each_command_keeps_its_own_reviewers_per_task():
    ranges = {name: (option(name, "reviewers_per_task").type.min, option(name, "reviewers_per_task").type.max)
              for name in ("setup", "plan", "digest", "agreement")}
    assert ranges == {"setup": (1, 20), "plan": (2, 20), "digest": (2, 50), "agreement": (2, 50)}
    # agreement's has no default: None says "the project's setting" to open_source.
    parsed = cli.commands["agreement"].make_context("agreement", ["x.json"], parent=click.Context(cli)).params
    assert parsed["reviewers_per_task"] is None
    assert [option(name, "reviewers_per_task").default for name in ("setup", "plan", "digest")] == [4, 4, 4]
    assert option("digest", "reviewers_per_task").envvar == "REVIEWERS_PER_TASK"
    assert option("setup", "reviewers_per_task").envvar is None


def test_every_live_project_command_takes_the_same_options_in_the_same_order():
    live = ["silent", "database_url", "from_label_studio", "url", "api_key"]
    for name in ("setup", "status", "export", "agreement", "adjudicate", "results"):
        names = [param.name for param in cli.commands[name].params]
        assert names[-len(live):] == live, name


def test_the_silent_option_says_the_same_everywhere():
    helps = {option(name, "silent").help for name in cli.commands if any(p.name == "silent" for p in cli.commands[name].params)}
    assert helps == {"No progress"}


def test_the_thresholds_keep_their_ranges():
    assert {name: option(name, "threshold").type.max for name in ("agreement", "adjudicate", "results", "plan")} == {
        "agreement": 4, "adjudicate": 4, "results": 4, "plan": 19,
    }

