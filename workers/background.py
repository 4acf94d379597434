"""The worker's background process: it applies the inbox, delivers check-ins and nudges, catches
up and posts the lead's digest (service.WorkerService), beside the process that answers HTTP.

Why a process of its own: in one process, the background's threads and the event loop that
answers webhooks share one interpreter lock, and every reviewer's submit in Label Studio waits
on that answer (docs/worker.md, "Measured"). The two processes share nothing but the store.

The web process starts it, restarts it when it dies (saying so), and stops it with SIGTERM,
which lets it finish what it is doing and apply what waits in the inbox. It stops by itself
when the web process is gone, so a killed worker leaves nothing running behind.
"""

from __future__ import annotations

import faulthandler
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

from review_project.shared import WorkerError
from workers.store import StoreUnreachable

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Seconds before each restart of a background process that died, the last one repeated.
RESTART_SECONDS = (1, 2, 5, 10, 30, 60)
# A background process that ran this long before it died was healthy: the next restart waits the
# first step again. Without it, one crash a day would leave every later restart a minute away.
HEALTHY_RUN_SECONDS = 120.0
# The background process's look for its parent (and for SIGTERM's flag).
PARENT_CHECK_SECONDS = 1.0
# How often a background process that could not open the store (database down) tries again.
STORE_RETRY_SECONDS = 1.0


class BackgroundProcess:
    """The background process as the web process sees it: start(), stop(), alive().

    `build(settings)` makes the WorkerService in the new process: a module-level function, since
    the process is spawned (a fresh interpreter, which imports it by name). One thread, the
    watcher, waits on the process and restarts it: two threads waiting on one child race to reap
    it, and the loser never learns that it exited (multiprocessing's poll then says "running").
    """

    def __init__(self, settings, build: Callable):
        self.settings = settings
        self.build = build
        self._context = multiprocessing.get_context("spawn")
        self._process = None
        self._running = threading.Event()
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self.restarts = 0
        self._started_at = 0.0

    def start(self) -> None:
        """Spawn the process, and the thread that restarts it if it dies."""
        self._stopping.clear()
        self._spawn()
        self._watcher = threading.Thread(target=self._watch, name="background-watch", daemon=True)
        self._watcher.start()

    def alive(self) -> bool:
        """Whether the background process is running (for /healthz)."""
        return self._running.is_set()

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, then wait up to `timeout` s for it to finish its work; SIGKILL if it will not."""
        self._stopping.set()
        if self._watcher is None:
            return
        if self._running.is_set():
            self._process.terminate()
        self._watcher.join(timeout)  # it returns once it has seen the process exit
        if self._watcher.is_alive():
            log.error("the background process did not stop within %.0f s; its threads' stacks follow on"
                      " stderr, then it is killed", timeout)
            os.kill(self._process.pid, signal.SIGUSR1)  # faulthandler (run_background): where each thread is
            time.sleep(1)
            self._process.kill()
            self._watcher.join(5)

    def _spawn(self) -> None:
        self._process = self._context.Process(
            target=run_background, args=(self.settings, self.build, os.getpid()), name="review-worker-background",
            daemon=True,
        )
        self._process.start()
        self._started_at = time.monotonic()
        self._running.set()
        log.info("background process %d started (inbox, delivery, catch-up, digest)", self._process.pid)

    def _watch(self) -> None:
        while True:
            self._process.join(PARENT_CHECK_SECONDS)
            if self._process.exitcode is None:
                continue
            self._running.clear()
            if self._stopping.is_set():
                return
            self.restarts = restarts_so_far(self.restarts, time.monotonic() - self._started_at)
            wait = restart_wait(self.restarts)
            log.error("the background process exited (code %s); starting another in %d s", self._process.exitcode, wait)
            if self._stopping.wait(wait):
                return
            self.restarts += 1
            self._spawn()
            if self._stopping.is_set():  # stop() came while this one was starting
                self._process.terminate()


def restarts_so_far(restarts: int, ran_seconds: float) -> int:
    """The restarts that count toward the next wait: none once a process ran HEALTHY_RUN_SECONDS."""
    return 0 if ran_seconds >= HEALTHY_RUN_SECONDS else restarts


def restart_wait(restarts: int) -> int:
    """Seconds to wait before the next restart, after `restarts` restarts in a row that counted."""
    return RESTART_SECONDS[min(restarts, len(RESTART_SECONDS) - 1)]


def run_background(settings, build: Callable, parent_pid: int) -> None:
    """The background process: build the service and run it until SIGTERM or its parent is gone."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # code locations only, never data
    # Ctrl-C in a terminal reaches the whole process group: the web process answers it, and stops
    # this one with SIGTERM once it has stopped taking webhooks.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    service = None
    while service is None:
        try:
            service = build(settings)
        except StoreUnreachable as error:
            # The database is down: wait for it here instead of exiting into ever longer restarts.
            log.warning("background process waiting for the store: %s", error)
            if stopping.wait(STORE_RETRY_SECONDS) or os.getppid() != parent_pid:
                return
        except WorkerError as error:
            log.error("background process not started: %s", error)
            sys.exit(2)
    service.start()
    log.info("background process %d running: applying the inbox, delivering check-ins, catching up", os.getpid())
    try:
        while not stopping.wait(PARENT_CHECK_SECONDS):
            if os.getppid() != parent_pid:
                log.warning("the worker's web process is gone; the background process stops too")
                break
    finally:
        service.stop()
        service.store.close()
