"""The two databases the store runs on, as objects it uses: connections, transactions, locks.

Every query is written once with PostgreSQL's numbered placeholders ($1, $2, ...): psycopg's
RawCursor sends them as they are, and SQLite reads `$1` as a parameter named "1", so each backend
only reshapes the parameters, never the SQL, and a repeated `$1` is one value in both.

A backend gives the store's parts (inbox, events, ledger, outbox, ...) what differs between
the databases and nothing else:
- transaction(write, batch): a cursor in one transaction (`batch`: PostgreSQL pipelines it);
- statement(): a cursor for ONE writing statement, committed on its own;
- snapshot(): a cursor whose reads all see one snapshot of the store;
- run(cursor, sql, params) and runner(cursor): execute a $-numbered statement;
- lock_reviewers(cursor, reviewers): serialise counting per (project, reviewer) to the commit;
- skip_locked: what a claiming subquery adds so concurrent claimers pass each other;
- unavailable(error): whether an error says the database cannot be reached.
Opening a backend applies the migrations the store lacks (migrations.py), under a lock.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from urllib.parse import urlsplit

from review_project.shared import WorkerError
from workers.store.migrations import migrate


class StoreUnreachable(WorkerError):
    """The database did not answer when the store was opened (it may come back: try again later)."""


# How long a PostgreSQL caller waits for a connection before the store counts as down, and how
# long the pool tries to reconnect before a caller starts over (PostgresBackend).
STORE_WAIT_SECONDS = 5.0
RECONNECT_SECONDS = 5.0
# The first key of every advisory lock the store takes (PostgreSQL): the second says what for.
LOCK_NAMESPACE = 0x5EED
# The oldest SQLite whose SQL the store speaks: INSERT ... RETURNING came in 3.35.
MIN_SQLITE = (3, 35, 0)

_SQLITE_NAMES = tuple(str(n) for n in range(1, 1025))


def marks(first: int, count: int) -> str:
    """`$first, ..., $(first + count - 1)`: numbered placeholders for a list of values."""
    return ", ".join(f"${n}" for n in range(first, first + count))


@contextmanager
def begun(connection: sqlite3.Connection, write: bool = True) -> Iterator[sqlite3.Cursor]:
    """A cursor in one transaction on `connection`, committed at the end, rolled back on an error."""
    cursor = connection.cursor()
    # IMMEDIATE takes the write lock up front: no upgrade deadlocks, and counting is serialised.
    cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        yield cursor
    except BaseException:
        connection.rollback()
        raise
    else:
        connection.commit()
    finally:
        cursor.close()


def _use_wal(connection: sqlite3.Connection, timeout: float = 30) -> None:
    # Processes opening a fresh file race to switch it to WAL, and the loser is told "database is
    # locked" at once: the busy timeout does not cover this switch. So wait for it here.
    deadline = time.monotonic() + timeout
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def create_private_file(path: str) -> None:
    """Create `path` (if missing) readable by its owner only, before SQLite opens it."""
    try:
        # Never world-readable, even for an instant; SQLite gives the -wal and -shm files the
        # same mode as the database file.
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        os.chmod(path, 0o600)
    except OSError as error:
        raise WorkerError(f"DATABASE_URL: cannot create {path}: {error.strerror}") from None


class SQLiteBackend:
    """One SQLite file in WAL mode with full fsync on commit, readable by its owner only; one
    connection per thread. Writers are serialised by the file's write lock (BEGIN IMMEDIATE)."""

    dialect = "sqlite"
    skip_locked = ""

    def __init__(self, path: str):
        self.path = path
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise WorkerError(f"DATABASE_URL: directory {directory} does not exist")
        create_private_file(path)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        try:
            self.version_before = self._migrate()
        except BaseException:
            self.close()
            raise

    def _migrate(self) -> int:
        """Apply the migrations the store lacks; returns its schema version before (0: a new store)."""
        connection = self.connection()
        # SQLite changes a table by copying it, which foreign keys forbid mid-transaction; its
        # documented way is to switch them off (only possible outside a transaction) and check
        # every key before committing.
        connection.execute("PRAGMA foreign_keys=OFF")
        try:
            # BEGIN IMMEDIATE: other processes opening this file wait here, then find it migrated.
            with self.transaction() as cur:
                before, _ = migrate(self.runner(cur), "sqlite", self.path)
                if cur.execute("PRAGMA foreign_key_check").fetchone() is not None:
                    raise WorkerError(f"DATABASE_URL: migrating {self.path} broke a foreign key; the store is unchanged")
        finally:
            connection.execute("PRAGMA foreign_keys=ON")
        return before

    def connection(self, path: str | None = None) -> sqlite3.Connection:
        """This thread's connection to the store's file (or to `path`, a file beside it)."""
        path = path or self.path
        connection = getattr(self._local, path, None)
        if connection is None:
            try:
                connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
                _use_wal(connection)
                connection.execute("PRAGMA synchronous=FULL")
                connection.execute("PRAGMA foreign_keys=ON")
            except sqlite3.Error as error:
                raise WorkerError(f"DATABASE_URL: cannot open SQLite file {path}: {error}") from None
            setattr(self._local, path, connection)
            with self._lock:
                self._connections.append(connection)
        return connection

    def run(self, cursor, sql: str, params: tuple = ()):
        """Execute one statement written with $1, $2, ... placeholders; returns the cursor."""
        # SQLite reads $1 as a parameter named "1". The names are made once: every statement of
        # every webhook passes through here.
        names = _SQLITE_NAMES if len(params) <= len(_SQLITE_NAMES) else [str(n) for n in range(1, len(params) + 1)]
        cursor.execute(sql, dict(zip(names, params)))
        return cursor

    def runner(self, cursor):
        """`run(sql, params)` on this cursor's transaction, for functions that take one."""
        return lambda sql, params=(): self.run(cursor, sql, params)

    @contextmanager
    def transaction(self, write: bool = True, batch: bool = False):
        """A cursor in one transaction (`batch` changes nothing on SQLite)."""
        with begun(self.connection(), write) as cursor:
            yield cursor

    def statement(self):
        """A cursor for one writing statement, committed on its own."""
        return self.transaction()

    def snapshot(self):
        """A cursor whose reads see one snapshot: on SQLite, any read transaction."""
        return self.transaction(write=False)

    def lock_reviewers(self, cursor, reviewers: list[tuple[int, int]]) -> None:
        """Nothing to do: BEGIN IMMEDIATE already holds the file's write lock."""

    def unavailable(self, error: BaseException) -> bool:
        """A local file is never "unreachable" the way a server is."""
        return False

    def close(self) -> None:
        """Close every thread's connections."""
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
        self._local = threading.local()


class PostgresBackend:
    """PostgreSQL through a small psycopg connection pool; safe for several worker processes."""

    dialect = "postgresql"
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(self, url: str, max_connections: int = 8, wait_seconds: float = STORE_WAIT_SECONDS):
        try:
            import psycopg
            from psycopg_pool import ConnectionPool, PoolTimeout
        except ImportError:
            raise WorkerError(
                "a PostgreSQL store needs the worker's extra dependencies: pip install 'red-team-review[worker]'"
            ) from None

        parts = urlsplit(url)
        # The URL may carry a password; messages name only host, port and database.
        where = f"{parts.hostname}:{parts.port or 5432}{parts.path}"
        # RawCursor: the $1, $2, ... placeholders go to the server as written.
        connect_kwargs = {"autocommit": True, "cursor_factory": psycopg.RawCursor}
        try:
            # One direct connection first: it fails fast with the cause, where the pool would wait.
            with psycopg.connect(url, connect_timeout=10, **connect_kwargs) as connection:
                with connection.transaction(), connection.cursor() as cur:
                    # Held until commit: concurrent openers wait, then read the version this one wrote
                    # (and concurrent CREATE TABLE IF NOT EXISTS could collide in the catalog).
                    self.run(cur, "SELECT pg_advisory_xact_lock($1, 0)", (LOCK_NAMESPACE,))
                    self.version_before, _ = migrate(self.runner(cur), "postgresql", where)
        except psycopg.OperationalError as error:
            # The driver's message may quote the connection string.
            reason = "refused or unreachable" if "connect" in str(error).lower() else error.__class__.__name__
            raise StoreUnreachable(f"DATABASE_URL: cannot connect to PostgreSQL at {where} ({reason})") from None
        self._unreachable = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout)
        # timeout: how long a caller waits for a connection (the web process answers 503 within a
        # second while the database is down). reconnect_timeout: the pool's reconnection backs off
        # 1, 2, 4 s... and gives up after it, so the next caller starts a fresh attempt at once:
        # a database back after a minute is used again within seconds, not after a long backoff.
        self._pool = ConnectionPool(
            url, min_size=1, max_size=max_connections, open=True, timeout=wait_seconds,
            reconnect_timeout=RECONNECT_SECONDS, kwargs=connect_kwargs,
        )

    def unavailable(self, error: BaseException) -> bool:
        """Whether `error` says the database cannot be reached (as opposed to a bad statement)."""
        return isinstance(error, self._unreachable)

    def run(self, cursor, sql: str, params: tuple = ()):
        """Execute one statement written with $1, $2, ... placeholders; returns the cursor."""
        cursor.execute(sql, params)
        return cursor

    def runner(self, cursor):
        """`run(sql, params)` on this cursor's transaction, for functions that take one."""
        return lambda sql, params=(): self.run(cursor, sql, params)

    @contextmanager
    def transaction(self, write: bool = True, batch: bool = False):
        """A cursor in one transaction; a read-only one autocommits each statement."""
        with self._pool.connection() as connection:
            if not write:
                # Under READ COMMITTED a transaction gives reads nothing (each statement takes its
                # own snapshot) but two more round trips, BEGIN and COMMIT: reads autocommit.
                with connection.cursor() as cursor:
                    yield cursor
                return
            # A batch's statements go out together (psycopg's pipeline mode): it waits once per
            # result it needs, not once per statement.
            with connection.pipeline() if batch else nullcontext(), connection.transaction():
                with connection.cursor() as cursor:
                    yield cursor

    @contextmanager
    def snapshot(self):
        """A cursor in one REPEATABLE READ, read-only transaction: its reads agree with each other."""
        with self._pool.connection() as connection, connection.transaction():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                yield cursor

    @contextmanager
    def statement(self):
        """One statement is atomic on its own: autocommit spares BEGIN's and COMMIT's round trips."""
        with self._pool.connection() as connection, connection.cursor() as cursor:
            yield cursor

    def lock_reviewers(self, cursor, reviewers: list[tuple[int, int]]) -> None:
        """Take a transaction-scoped advisory lock per (project, reviewer), in the order given."""
        # Two-key advisory locks share one space; fold project and reviewer into key 2 and keep
        # key 1 for this purpose so no other use of advisory locks can collide. One statement
        # takes them all, in the order given: PostgreSQL calls a volatile function in a select
        # list after ORDER BY has sorted the rows.
        if not reviewers:
            return
        keys = [(project * 1_000_003 + reviewer) % 2**31 for project, reviewer in reviewers]
        self.run(
            cursor,
            "SELECT pg_advisory_xact_lock($1, key) FROM unnest(CAST($2 AS integer[])) WITH ORDINALITY AS k (key, n)"
            " ORDER BY n",
            (LOCK_NAMESPACE + 1, keys),
        )

    def close(self) -> None:
        """Close the pool."""
        self._pool.close()


def open_backend(database_url: str, create: bool = True, wait_seconds: float = STORE_WAIT_SECONDS):
    """The backend named by DATABASE_URL (sqlite:///path or postgresql://...); create=False for readers."""
    scheme = database_url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        path = database_url[len("sqlite:///"):] if database_url.startswith("sqlite:///") else ""
        if not path:
            raise WorkerError("DATABASE_URL: a SQLite URL looks like sqlite:///relative/path or sqlite:////absolute/path")
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise WorkerError(
                f"SQLite {sqlite3.sqlite_version} is too old for the worker store: it needs"
                f" {'.'.join(map(str, MIN_SQLITE))} or newer (RETURNING); use a Python built with a newer"
                " SQLite, or PostgreSQL (DATABASE_URL=postgresql://...)"
            )
        if not create and not os.path.exists(path):
            raise WorkerError(f"no worker store at {path}: start `review-project worker` first, or set DATABASE_URL")
        return SQLiteBackend(path)
    if scheme in ("postgresql", "postgres"):
        return PostgresBackend(database_url, wait_seconds=wait_seconds)
    raise WorkerError(f"DATABASE_URL: unsupported scheme {scheme!r}; use sqlite:///FILE or postgresql://...")
