"""The SQLite engine (the embedded default): one connection per thread through sqlite-utils,
WAL, a busy timeout, and ``BEGIN IMMEDIATE`` write transactions."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database

from .base import TextMatch

if TYPE_CHECKING:
    from .base import CatalogBase


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
        self._memory_writes = threading.Lock() if path is None else None
        if path is None:
            # A named shared-cache memory database, so every thread's connection sees it;
            # the unique name keeps two catalogs in one process apart. It lives as long
            # as one connection to it is open.
            self._target = f"file:pypireg-{uuid.uuid4().hex}?mode=memory&cache=shared"
            self._keepalive = self._connect()
        else:
            self._target = path

    # What opening says when the file is no database, or cannot be opened or written.
    unavailable = (sqlite3.DatabaseError,)

    @staticmethod
    def read_only_reason(error: Exception) -> str | None:
        """Why a write failed, when it is the file's fault and not the statement's."""
        code = getattr(error, "sqlite_errorcode", 0) & 0xFF
        if code == sqlite3.SQLITE_FULL:
            return "no space left on the catalog's disk"
        if code == sqlite3.SQLITE_READONLY:
            return "the catalog file is read-only"
        return None

    def __str__(self) -> str:
        return self.path or "(in memory)"

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._target,
            uri=self.path is None,
            isolation_level=None,
            timeout=30,
            check_same_thread=False,
        )
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA foreign_keys = ON")
        if self.path is not None:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        else:
            conn.execute("PRAGMA read_uncommitted = 1")
        return conn

    @property
    def db(self) -> Database:
        """This thread's sqlite-utils database."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = Database(self._connect())
        return db

    @contextmanager
    def write(self) -> Iterator[None]:
        """One write transaction, taking the write lock up front (``BEGIN IMMEDIATE``).

        Nested calls join the outer transaction. Storage work done inside commits or
        fails together with the rows, because nobody else can write meanwhile.
        """
        conn = self.db.conn
        if conn.in_transaction:
            yield
            return
        with self._memory_writes or contextlib.nullcontext():
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # -- statements ----------------------------------------------------------------------

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self.db.conn.execute(sql, params)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, values, strict=True)) for values in cursor]

    def value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        first = self.db.conn.execute(sql, params).fetchone()
        return first[0] if first else None

    def tuples(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        return iter(self.db.conn.execute(sql, params))

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self.db.conn.execute(sql, params).rowcount

    def run_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.db.conn.executemany(sql, rows)

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
