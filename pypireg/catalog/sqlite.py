"""The SQLite engine (the embedded default): one connection per thread through sqlite-utils,
WAL, a busy timeout, and ``BEGIN IMMEDIATE`` write transactions.

A catalog that cannot be opened for writing (its disk full, mounted read-only, or the
file itself read-only) is opened for reading instead: the registry then serves reads, and
each write tries the file again, so that it takes changes again once the disk does.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from .base import CatalogReadOnly, TextMatch

if TYPE_CHECKING:
    from sqlite_utils import Database

    from .base import CatalogBase

T = TypeVar("T")

BUSY_TIMEOUT = 30.0  # seconds a statement waits for another process's write before it fails
# Seconds between a statement's tries while another process writes: short, so that a
# process whose threads write one after another still leaves the others their turn.
PAUSES = (0.0005, 0.001, 0.002, 0.005)
_SQLITE_BUSY = 5
_SQLITE_BUSY_SNAPSHOT = 5 | (2 << 8)
RETRY = 2.0  # seconds between a read-only connection's attempts to open the file for writing
FULL = 1 << 20  # bytes free below which a disk that refused to open the catalog is full
# SQLite's primary result codes, as sqlite3.SQLITE_FULL and SQLITE_READONLY (Python 3.11+)
# give them; Python 3.10 has neither those nor the errors' sqlite_errorcode.
_SQLITE_FULL = 13
_SQLITE_READONLY = 8
_READ_ONLY = {_SQLITE_FULL: "no space left on the catalog's disk",
              _SQLITE_READONLY: "the catalog file is read-only"}
# SQLite's message for each (sqlite3ErrStr), for errors that carry no code (Python 3.10).
_CODES = {"database or disk is full": _SQLITE_FULL,
          "attempt to write a readonly database": _SQLITE_READONLY}


class SQLiteEngine:
    """One SQLite database at ``path``; ``None`` gives a private in-memory one."""

    name = "sqlite"
    like = "LIKE"  # SQLite's LIKE already ignores ASCII case, as paths and names need
    greatest = "max"

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self._local = threading.local()
        self._keepalive: sqlite3.Connection | None = None
        # A shared-cache memory database locks tables, not the file, and such a lock makes
        # a concurrent writer fail at once ("database table is locked") instead of waiting
        # as busy_timeout waits: its threads' writes take turns on this lock instead, and
        # its readers do not lock tables (read_uncommitted), so they never refuse a writer.
        # They may then see a write before it commits: an in-memory catalog is for tests
        # and trials, one process's, not for a registry anybody relies on.
        #
        # A file's writers in this process also take turns on it before asking SQLite:
        # SQLite's busy handler sleeps between its tries (up to 100 ms each), so threads
        # queued on the file's lock wait far longer than the write they wait for, where
        # this lock hands over the moment a write ends. A write of another process is
        # waited for by trying again every few milliseconds (_patiently).
        self._writes = threading.Lock()
        if path is None:
            # A named shared-cache memory database, so every thread's connection sees it;
            # the unique name keeps two catalogs in one process apart. It lives as long
            # as one connection to it is open.
            self._target = f"file:pypireg-{uuid.uuid4().hex}?mode=memory&cache=shared"
            self._keepalive = self._connect()
        else:
            self._target = path

    # What opening says when the file is no database, or cannot be opened or written.
    unavailable: tuple[type[Exception], ...] = (sqlite3.DatabaseError,)

    @staticmethod
    def read_only_reason(error: Exception) -> str | None:
        """Why a write failed, when it is the file's fault and not the statement's."""
        code = getattr(error, "sqlite_errorcode", None)
        if code is None:  # Python 3.10's errors have only SQLite's own words
            code = _CODES.get(str(error).strip().lower(), 0)
        return _READ_ONLY.get(code & 0xFF)

    def __str__(self) -> str:
        return self.path or "(in memory)"

    def _connect(self, target: str | None = None) -> sqlite3.Connection:
        conn = sqlite3.connect(
            target or self._target,
            uri=self.path is None or target is not None,
            isolation_level=None,
            timeout=BUSY_TIMEOUT,
            check_same_thread=False,
        )
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        if target is not None:  # read-only: WAL as the file already is, if it is
            conn.execute("SELECT count(*) FROM sqlite_master")  # opens it, or fails now
        elif self.path is not None:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        else:
            conn.execute("PRAGMA read_uncommitted = 1")
        # From now on a statement SQLite finds locked by another process is tried again
        # here (_patiently), every few milliseconds rather than SQLite's up to 100 ms; and
        # a write needs no statements to switch that off and on around its BEGIN, each of
        # which would let the other threads take the GIL while the write lock is held.
        conn.execute("PRAGMA busy_timeout = 0")
        return conn

    def _open(self) -> tuple[sqlite3.Connection, str | None]:
        """A connection, and why it is read-only (None: it is not)."""
        try:
            return self._connect(), None
        except sqlite3.DatabaseError:
            reason = _unwritable(self.path) if self.path is not None else None
            if reason is None:
                raise
        return self._connect_read_only(), reason

    def _connect_read_only(self) -> sqlite3.Connection:
        assert self.path is not None
        uri = f"file:{quote(os.path.abspath(self.path))}?mode=ro"
        try:
            return self._connect(uri)
        except sqlite3.DatabaseError:
            pass
        # Its shared memory (the -shm file) cannot be made either: read the file alone,
        # as nobody can change it (SQLite's "immutable"). Not if changes wait in its
        # write-ahead log (the -wal file), which that would leave unread: a revoked token
        # or a project made private there would be undone.
        wal = self.path + "-wal"
        if os.path.exists(wal) and os.path.getsize(wal):
            raise sqlite3.OperationalError(
                f"its write-ahead log {wal} holds changes, which cannot be read without"
                " writing beside it: make the directory writable (or give the disk room),"
                " or copy the catalog with SQLite's backup, which includes them")
        return self._connect(uri + "&immutable=1")

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection."""
        local = self._local
        if getattr(local, "conn", None) is None:
            local.conn, local.read_only = self._open()
            local.retry_at = time.monotonic() + RETRY
        elif local.read_only is not None and time.monotonic() >= local.retry_at:
            self._reopen()
        return local.conn  # type: ignore[no-any-return]

    @property
    def db(self) -> Database:
        """This thread's connection as a sqlite-utils database (for the schema's full-text
        index and for tests; imported only then, as it takes a while)."""
        from sqlite_utils import Database

        conn = self._connection()
        db = getattr(self._local, "db", None)
        if db is None or db.conn is not conn:
            db = self._local.db = Database(conn)
        return db

    def _reopen(self) -> None:
        """This thread's read-only connection replaced by one that can write, if the
        file can be written again. The old one is left to close itself: a page may still
        be reading rows from it."""
        local = self._local
        local.retry_at = time.monotonic() + RETRY
        try:
            conn = self._connect()
        except sqlite3.DatabaseError:
            return
        local.conn, local.read_only = conn, None

    @contextmanager
    def write(self) -> Iterator[None]:
        """One write transaction, taking the write lock up front (``BEGIN IMMEDIATE``).

        Nested calls join the outer transaction. Storage work done inside commits or
        fails together with the rows, because nobody else can write meanwhile.
        """
        conn = self._connection()
        if conn.in_transaction:
            yield
            return
        if self._local.read_only is not None:
            self._reopen()  # a write looks at once, not every RETRY seconds
            if self._local.read_only is not None:
                raise CatalogReadOnly(self._local.read_only)
            conn = self._connection()
        deadline = time.monotonic() + BUSY_TIMEOUT
        if not self._writes.acquire(timeout=BUSY_TIMEOUT):
            raise sqlite3.OperationalError("database is locked")  # as busy_timeout says it
        try:
            _patiently(lambda: conn.execute("BEGIN IMMEDIATE"), deadline)
            try:
                yield
            except BaseException:
                self._roll_back(conn)
                raise
            try:
                _patiently(lambda: conn.execute("COMMIT"))
            except BaseException:
                # A COMMIT that fails (a deferred constraint, a disk error) may leave the
                # transaction open: the next write would join it and never commit.
                self._roll_back(conn)
                raise
        finally:
            self._writes.release()

    def _roll_back(self, conn: sqlite3.Connection) -> None:
        """End a failed write's transaction, if SQLite has not ended it itself. A
        connection that cannot is given up for a new one: closed, which ends it once
        nothing reads from it any more (an in-memory catalog lives on in the others)."""
        if not conn.in_transaction:
            return
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            self._local.conn = None
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    # -- statements ----------------------------------------------------------------------

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self._execute(sql, params)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, values, strict=True)) for values in cursor]

    def value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        first = self._execute(sql, params).fetchone()
        return first[0] if first else None

    def tuples(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        return iter(self._execute(sql, params))

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._execute(sql, params).rowcount

    def run_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        # Not tried again: outside a transaction its first rows may be written already.
        # Inside a write, which is where it runs, the file is this process's.
        self._connection().executemany(sql, rows)

    def _execute(self, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
        conn = self._connection()
        try:
            return conn.execute(sql, params)
        except sqlite3.OperationalError as exc:  # the cheap way first: it nearly always works
            if not _busy(exc):
                raise
        return _patiently(lambda: conn.execute(sql, params))

    # -- the fragments that differ -----------------------------------------------------------

    def in_ids(self, column: str) -> str:
        return f"{column} IN (SELECT value FROM json_each(?))"

    def ids(self, values: Iterable[int]) -> Any:
        return json.dumps([int(v) for v in values])

    def nocase_equals(self, column: str) -> str:
        return f"{column} = ? COLLATE NOCASE"

    def nocase_order(self, column: str) -> str:
        return f"{column} COLLATE NOCASE"

    def unindexed(self, column: str) -> str:
        # A unary plus keeps SQLite from driving a query by an index on the column.
        return f"+{column}"

    def text_match(self, alias: str, words: Sequence[str]) -> TextMatch:
        # FTS5, kept by triggers (schema.py); each word matches a token's start. Words are
        # letters and digits only, so quoting them is enough. CROSS JOIN keeps the text
        # index as the outer loop: driven by names, SQLite would run the match per name.
        query = " ".join(f'"{word}"*' for word in words)
        return TextMatch(f"package_names_fts CROSS JOIN package_names {alias}"
                         f" ON {alias}.id = package_names_fts.rowid",
                         "package_names_fts MATCH ?", [query], "package_names_fts.rank", [],
                         "package_names_fts.rowid DESC")

    # -- schema --------------------------------------------------------------------------

    def has_schema(self, catalog: CatalogBase) -> bool:
        return bool(catalog.value(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'"))

    def migrate(self, catalog: CatalogBase) -> None:
        from .schema import migrate

        migrate(catalog)

    def refresh_statistics(self, catalog: CatalogBase, *, force: bool = False) -> bool:
        from .schema import refresh_statistics

        return refresh_statistics(catalog, force=force)


def _unwritable(path: str) -> str | None:
    """Why the catalog at ``path`` cannot be opened for writing, when its disk is why
    (None: it is not, and the error is the file's own)."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.exists(path) and not os.access(path, os.W_OK):  # a read-only mount too
        return "the catalog file is read-only"
    if not os.access(folder, os.W_OK):  # no journal or shared memory can be made beside it
        return "the catalog's directory is read-only"
    try:
        disk = os.statvfs(folder)
    except OSError:
        return None
    if disk.f_bavail * disk.f_frsize < FULL or disk.f_favail == 0:  # bytes, or files
        return "no space left on the catalog's disk"
    return None


def _patiently(call: Callable[[], T], deadline: float | None = None) -> T:
    """``call()`` (a statement), tried again every few milliseconds while another process
    holds the file's lock, until ``deadline`` (:data:`BUSY_TIMEOUT` from now); SQLite's
    own busy handler would sleep up to 100 ms between its tries, and mostly miss the
    moments between another process's writes."""
    for attempt in itertools.count():
        try:
            return call()
        except sqlite3.OperationalError as exc:
            if deadline is None:
                deadline = time.monotonic() + BUSY_TIMEOUT
            if not _busy(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(PAUSES[min(attempt, len(PAUSES) - 1)])
    raise AssertionError("unreachable")  # pragma: no cover


def _busy(error: sqlite3.OperationalError) -> bool:
    """Whether SQLite refused because another connection holds the write lock, which
    trying again will get. Not when a read this connection left open has seen an older
    version of the file (SQLITE_BUSY_SNAPSHOT): that never passes, and fails at once."""
    code = getattr(error, "sqlite_errorcode", None)
    if code is None:  # Python 3.10: only SQLite's words
        return str(error).strip().lower() == "database is locked"
    return code & 0xFF == _SQLITE_BUSY and code != _SQLITE_BUSY_SNAPSHOT
