"""Benchmark: how long `review-project --help` and each command's `--help` take, as a lead runs them.

Each run is a fresh process (`python -m review_project.cli [COMMAND] --help`), timed from start
to exit; the median of --runs runs is compared with the goal (0.3 s) and, as a baseline measured
in the same run, with an empty interpreter (`python -c pass`) and one that only imports click.
Importing the CLI must stay light: each command imports the library it needs when it runs.

Run: .venv/bin/python benchmarks/bench_cli_startup.py [--runs 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
GOAL_S = 0.3

from bytecode import compile_installed  # noqa: E402


def wall_time(argv: list[str], runs: int) -> float:
    """Median wall time in seconds of `runs` fresh processes running argv (after one warm-up run)."""
    subprocess.run(argv, cwd=ROOT, capture_output=True, check=True)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def command_names() -> list[str]:
    """The CLI's commands, read in a subprocess so this process's imports do not matter."""
    program = "from review_project.cli import cli; print(' '.join(sorted(cli.commands)))"
    return subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="processes per measure; the median is shown")
    args = parser.parse_args()

    print(f"compiled to bytecode as pip install does (benchmarks/bytecode.py) in {compile_installed():.1f} s")
    python = [sys.executable]
    empty = wall_time([*python, "-c", "pass"], args.runs)
    click_only = wall_time([*python, "-c", "import click"], args.runs)
    print(f"baseline, median of {args.runs} processes each:")
    for label, seconds in (("python -c pass", empty), ('python -c "import click"', click_only)):
        print(f"  {label:<34}{seconds:>8.3f} s")
    print()
    print(f"{'measure':<36}{'seconds':>8}{'x click':>9}{'goal':>7}  ok")
    all_met = True
    for name in [None, *command_names()]:
        argv = [*python, "-m", "review_project.cli", *([name] if name else []), "--help"]
        seconds = wall_time(argv, args.runs)
        met = seconds <= GOAL_S
        all_met &= met
        label = f"review-project {name + ' ' if name else ''}--help"
        print(f"{label:<36}{seconds:>8.3f}{seconds / click_only:>8.2f}x{GOAL_S:>6.1f}s  {'met' if met else 'not met'}")
    print(f"\nAll --help within {GOAL_S} s: {'met' if all_met else 'not met'}")


if __name__ == "__main__":
    main()
