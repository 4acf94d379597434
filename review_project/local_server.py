"""A private Label Studio on this machine, for the demo, the tests and the benchmarks.

The server listens on 127.0.0.1 only, keeps its SQLite database and media in `data_dir`,
sends no telemetry, accepts legacy API tokens (so the admin token is known up front) and
lets webhooks reach loopback, where the worker runs. It keeps running after the command
that started it; `stop_server(data_dir)` ends it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from review_project.shared import LabelStudioError

ADMIN_FILE = "admin.json"
PID_FILE = "server.pid"
LOG_FILE = "server.log"
START_TIMEOUT = 240.0


@dataclass(frozen=True)
class LocalServer:
    """A running local Label Studio and its admin's credentials."""

    url: str
    api_key: str
    admin_email: str
    admin_password: str
    data_dir: Path
    pid: int | None = None


def server_environment(data_dir: Path) -> dict[str, str]:
    """Environment for a private server: no telemetry, loopback webhooks, known admin token."""
    env = dict(os.environ)
    env.update(
        LABEL_STUDIO_BASE_DATA_DIR=str(data_dir),
        SENTRY_DSN="",
        FRONTEND_SENTRY_DSN="",
        COLLECT_ANALYTICS="false",
        # The worker listens on loopback; Label Studio's SSRF guard refuses such webhook URLs.
        SSRF_PROTECTION_ENABLED="false",
        LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true",
        LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK="true",
    )
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env.pop(proxy, None)
    return env


def label_studio_executable() -> str:
    """The `label-studio` command beside this Python, or on PATH."""
    beside = Path(sys.executable).with_name("label-studio")
    if beside.exists():
        return str(beside)
    found = shutil.which("label-studio")
    if not found:
        raise LabelStudioError("Label Studio is not installed: pip install 'red-team-review[server]' (label-studio==1.23.2)")
    return found


def is_up(url: str, timeout: float = 2.0) -> bool:
    """True when the server at `url` answers its health check."""
    try:
        return httpx.get(f"{url}/health", timeout=timeout, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def start_server(
    data_dir: str | os.PathLike,
    port: int = 8080,
    admin_email: str = "lead@example.com",
    timeout: float = START_TIMEOUT,
    on_wait: Callable[[float], None] | None = None,
) -> LocalServer:
    """Start (or reuse) the server kept in `data_dir` and wait until it answers.

    The admin's password and token are made on first start and kept in `data_dir/admin.json`
    (readable by its owner only); later starts reuse them.
    """
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    admin = _admin(data_dir, admin_email, port)
    url = admin["url"]
    pid = _running_pid(data_dir)
    if pid and is_up(url):
        return _server(admin, data_dir, pid)
    if is_up(url):
        raise LabelStudioError(f"port {admin['port']} already has another server on it: pick another with --port")
    command = [label_studio_executable(), *start_arguments(admin, data_dir)]
    log = open(data_dir / LOG_FILE, "ab")
    process = subprocess.Popen(
        command, cwd=data_dir, env=server_environment(data_dir), stdin=subprocess.DEVNULL,
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    (data_dir / PID_FILE).write_text(str(process.pid))
    started = time.monotonic()
    while not is_up(url):
        waited = time.monotonic() - started
        if process.poll() is not None:
            raise LabelStudioError(f"Label Studio exited with status {process.returncode} while starting: see {data_dir / LOG_FILE}")
        if waited > timeout:
            stop_server(data_dir)
            raise LabelStudioError(f"Label Studio did not answer on {url} within {timeout:.0f} s: see {data_dir / LOG_FILE}")
        if on_wait:
            on_wait(waited)
        time.sleep(1.0)
    return _server(admin, data_dir, process.pid)


def stop_server(data_dir: str | os.PathLike, timeout: float = 30.0) -> bool:
    """Stop the server started from `data_dir`; False when none was running."""
    data_dir = Path(data_dir).resolve()
    pid = _running_pid(data_dir)
    (data_dir / PID_FILE).unlink(missing_ok=True)
    if not pid:
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    if _alive(pid):
        os.killpg(pid, signal.SIGKILL)
    return True


def start_arguments(admin: dict, data_dir: Path) -> list[str]:
    """`label-studio start`'s arguments for this admin. Values go as `--name=value`: a generated
    password may begin with '-', which argparse would read as an option of its own."""
    return [
        "start", "--no-browser", "--internal-host=127.0.0.1", f"--port={admin['port']}", f"--data-dir={data_dir}",
        f"--username={admin['email']}", f"--password={admin['password']}", f"--user-token={admin['token']}",
        "--enable-legacy-api-token",
    ]


def sign_up(url: str, invite_path: str, email: str, password: str) -> None:
    """Create an account with a password through the organisation's invite link, as a person would."""
    with httpx.Client(base_url=url, timeout=30, trust_env=False, follow_redirects=False) as browser:
        form = browser.get(invite_path)
        answer = browser.post(
            invite_path,
            data={"email": email, "password": password, "csrfmiddlewaretoken": browser.cookies.get("csrftoken", "")},
            headers={"Referer": str(form.url)},
        )
    if answer.status_code != 302:
        raise LabelStudioError(f"Label Studio at {url} refused the sign-up of {email} (status {answer.status_code})")


def _admin(data_dir: Path, email: str, port: int) -> dict:
    path = data_dir / ADMIN_FILE
    if path.exists():
        admin = json.loads(path.read_text())
        admin.update(port=port, url=f"http://127.0.0.1:{port}")
        path.write_text(json.dumps(admin))
        return admin
    admin = {
        "email": email,
        "password": secrets.token_urlsafe(12),
        "token": secrets.token_hex(20),
        "port": port,
        "url": f"http://127.0.0.1:{port}",
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(admin, out)
    return admin


def _server(admin: dict, data_dir: Path, pid: int | None) -> LocalServer:
    return LocalServer(
        url=admin["url"], api_key=admin["token"], admin_email=admin["email"],
        admin_password=admin["password"], data_dir=data_dir, pid=pid,
    )


def _running_pid(data_dir: Path) -> int | None:
    try:
        pid = int((data_dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); reap it if it is ours.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True
