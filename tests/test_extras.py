"""`pip install red-team-review` gives the lead's commands; the worker's service is the `worker` extra.

Run in a fresh interpreter where the worker's dependencies cannot be imported, as on a machine
that installed the package without extras.
"""

import subprocess
import sys

from tests.fixtures import FIXTURES

WORKER_ONLY = ("starlette", "uvicorn", "httptools", "slack_sdk", "slack_bolt", "psycopg", "psycopg_pool")


def run_without_extras(*args: str, cwd) -> subprocess.CompletedProcess:
    blocked = ", ".join(repr(name) for name in WORKER_ONLY)
    program = (
        "import sys\n"
        f"for name in ({blocked},): sys.modules[name] = None  # import of it fails, as if not installed\n"
        "from review_project.cli import cli\n"
        f"cli.main({list(args)!r}, prog_name='review-project')\n"
    )
    return subprocess.run([sys.executable, "-c", program], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_lead_commands_need_no_extra(tmp_path):
    export = FIXTURES / "label_studio_1.23.2_export.json"
    manifest = FIXTURES / "label_studio_1.23.2_export_manifest.jsonl"
    result = run_without_extras("agreement", str(export), "--manifest", str(manifest), "--resamples", "100",
                                "--html", str(tmp_path / "report.html"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Can I trust these ratings?")
    assert (tmp_path / "report.html").stat().st_size > 10_000


def test_the_worker_without_its_extra_says_what_to_install(tmp_path):
    result = run_without_extras("worker", cwd=tmp_path)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: `review-project worker` needs the worker's extra dependencies (")
    assert line.endswith(" is not installed): pip install 'red-team-review[worker]'")


def test_the_digest_reads_a_sqlite_store_without_the_extra(tmp_path):
    from workers.store import open_store

    open_store(f"sqlite:///{tmp_path / 'worker.sqlite3'}").close()
    result = run_without_extras("digest", "--print", "--database-url", f"sqlite:///{tmp_path / 'worker.sqlite3'}",
                                cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Daily digest of the review, ")
    assert "No project in the ledger yet." in result.stdout
