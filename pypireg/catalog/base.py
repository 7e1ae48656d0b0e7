"""Connections and transactions shared by every part of the catalog."""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlite_utils import Database

from ..times import utcnow

__all__ = ["CatalogBase", "CatalogError", "load_json", "utcnow"]


class CatalogError(Exception):
    """A catalog rule was broken (unknown parent, duplicate path, ...); the message says which."""


class CatalogBase:
    """One SQLite database at ``path``; ``None`` gives a private in-memory one."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self._local = threading.local()
        self._keepalive: sqlite3.Connection | None = None
        if path is None:
            # A named shared-cache memory database, so every thread's connection sees it;
            # the unique name keeps two catalogs in one process apart. It lives as long
            # as one connection to it is open.
            self._target = f"file:pypireg-{uuid.uuid4().hex}?mode=memory&cache=shared"
            self._keepalive = self._connect()
        else:
            self._target = path

    # -- connections and transactions -------------------------------------------------

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
        return conn

    @property
    def db(self) -> Database:
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
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # -- statements ------------------------------------------------------------------------
    # Every query of the catalog goes through these few methods, with ``?`` placeholders,
    # so that the engine underneath is one small part.

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self.db.conn.execute(sql, params)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, values, strict=True)) for values in cursor]

    def row(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    def value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first column of the first row, or None."""
        first = self.db.conn.execute(sql, params).fetchone()
        return first[0] if first else None

    def tuples(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """Rows as plain tuples, for pages that list thousands of them."""
        return iter(self.db.conn.execute(sql, params))

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement that changes rows; returns how many it changed."""
        return self.db.conn.execute(sql, params).rowcount

    def run_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.db.conn.executemany(sql, rows)

    def in_ids(self, column: str) -> str:
        """``column`` is one of a list of ids, given as one parameter (:meth:`ids`), so a
        statement's text is the same whatever the list's length."""
        return f"{column} IN (SELECT value FROM json_each(?))"

    def ids(self, values: Iterable[int]) -> Any:
        """The parameter for :meth:`in_ids`."""
        return json.dumps([int(v) for v in values])

    def insert(self, table: str, row: dict[str, Any]) -> None:
        """One row; lists and dicts are stored as JSON text."""
        columns = ", ".join(row)
        marks = ", ".join("?" * len(row))
        self.run(f"INSERT INTO {table} ({columns}) VALUES ({marks})", _stored(row.values()))

    def update(self, table: str, row_id: int, fields: dict[str, Any]) -> None:
        sets = ", ".join(f"{column} = ?" for column in fields)
        self.run(f"UPDATE {table} SET {sets} WHERE id = ?", [*_stored(fields.values()), row_id])

    def upsert(self, table: str, row: dict[str, Any], key: str) -> None:
        """Insert ``row``, or update the one with the same ``key`` column."""
        columns = ", ".join(row)
        marks = ", ".join("?" * len(row))
        sets = ", ".join(f"{column} = excluded.{column}" for column in row if column != key)
        self.run(f"INSERT INTO {table} ({columns}) VALUES ({marks})"
                 f" ON CONFLICT ({key}) DO UPDATE SET {sets}", _stored(row.values()))

    # -- ids, never given twice ---------------------------------------------------------
    # SQLite gives a new row the highest id plus one, so deleting the highest row would hand
    # its id to the next: audit events, ETags and URLs would then name another thing. Before
    # deleting rows for good, the catalog remembers the table's highest id, and new rows of
    # tables whose rows are deleted are numbered past it.

    def next_id(self, table: str) -> int:
        """Call inside ``write()``, and insert the row with this id."""
        return self.value(
            f"SELECT max(coalesce((SELECT max(id) FROM {table}), 0),"
            " coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?), 0)) + 1",
            [f"last_id:{table}"])

    def remember_last_id(self, table: str) -> None:
        """Call inside ``write()``, before deleting rows of ``table``."""
        self.run(
            "INSERT INTO meta (key, value) SELECT ?, max(id) FROM " + table +
            " WHERE true ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            " WHERE CAST(excluded.value AS INTEGER) > CAST(meta.value AS INTEGER)",
            [f"last_id:{table}"])


def _stored(values: Iterable[Any]) -> list[Any]:
    return [json.dumps(v) if isinstance(v, (dict, list, tuple)) else v for v in values]


def load_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
