"""The repository stands alone: nothing in it points at a developer's machine or a sibling folder.

A clone in an empty folder must pass its tests, so no tracked file may name an absolute path of
the machine it was written on, nor reach outside the clone into a sibling folder.
"""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Home folders and work trees of the machines this was written on, and any climb out of the clone.
# Built from pieces so this file does not match itself.
MACHINE_PATHS = re.compile(
    "|".join(
        [
            r"/" + r"work/",
            r"/" + r"root/",
            r"/" + r"home/[a-z_][\w.-]*",
            r"/" + r"Users/\w",
            r"[A-Za-z]:\\" + r"Users\\",
            r"\.\./" + r"shared\b",
        ]
    )
)


def tracked_text_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    paths = [ROOT / name for name in names.decode().split("\0") if name]
    return [p for p in paths if p.is_file() and b"\0" not in p.read_bytes()[:4096]]


def test_no_tracked_file_names_a_developers_machine():
    files = tracked_text_files()
    assert len(files) > 50, "git ls-files found too few files: is this a clone?"
    found = []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if MACHINE_PATHS.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}")
    assert found == []


def test_the_pattern_catches_what_it_is_for():
    for line in ["/" "work/shared/fixtures/x.json", "Path('/" "home/dev/x')", "../" "shared/fixtures", "C:\\" "Users\\dev"]:
        assert MACHINE_PATHS.search(line), line
    for line in ["https://example.com/home/", "tests/fixtures/x.json", "sqlite:///review-project-worker.sqlite3"]:
        assert not MACHINE_PATHS.search(line), line


def test_no_run_time_state_is_tracked():
    """A worker store or a demo's files made by running something must never be committed."""
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.decode()
    state = [name for name in names.split("\0") if name.endswith((".sqlite3", ".sqlite3-wal", ".sqlite3-shm", ".db"))]
    assert state == []
