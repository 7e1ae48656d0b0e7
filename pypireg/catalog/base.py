"""Connections and transactions shared by every part of the catalog."""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator
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

    # -- ids, never given twice ---------------------------------------------------------
    # SQLite gives a new row the highest id plus one, so deleting the highest row would hand
    # its id to the next: audit events, ETags and URLs would then name another thing. Before
    # deleting rows for good, the catalog remembers the table's highest id, and new rows of
    # tables whose rows are deleted are numbered past it.

    def next_id(self, table: str) -> int:
        """Call inside ``write()``, and insert the row with this id."""
        return self.db.execute(
            f"SELECT max(coalesce((SELECT max(id) FROM {table}), 0),"
            " coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?), 0)) + 1",
            [f"last_id:{table}"]).fetchone()[0]

    def remember_last_id(self, table: str) -> None:
        """Call inside ``write()``, before deleting rows of ``table``."""
        self.db.execute(
            "INSERT INTO meta (key, value) SELECT ?, max(id) FROM " + table +
            " WHERE true ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            " WHERE CAST(excluded.value AS INTEGER) > CAST(meta.value AS INTEGER)",
            [f"last_id:{table}"])


def load_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
