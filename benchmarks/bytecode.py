"""Bytecode for the project and its packages, as `pip install` leaves it, before a benchmark times commands.

scripts/bootstrap installs with `pip --no-compile` (a fresh clone's install 27 s shorter), and
where PYTHONDONTWRITEBYTECODE is set (this machine sets it) no process writes bytecode later
either: every command then compiles pandas, scipy and the SDK from source again, 1-2 s more
each time (agreement --project 3.1-4.0 s instead of 2.4-2.8 s at the whole dataset's size). A
lead's installed copy has its bytecode, so the benchmarks time that.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def compile_installed() -> float:
    """Compile every module of the environment's packages and of this project; seconds taken
    (about 20 s on 2 cores the first time, about 2 s once compiled)."""
    began = time.perf_counter()
    folders = sorted({sysconfig.get_path("purelib"), sysconfig.get_path("platlib")})
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "0", *folders, str(ROOT / "review_project"), str(ROOT / "workers")],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
    )
    return time.perf_counter() - began
