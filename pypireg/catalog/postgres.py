"""The PostgreSQL engine, for several pypireg processes on several hosts: psycopg 3 with a
connection pool (``pip install 'pypireg[postgres]'``).

Writes are serialized by one transaction-scoped advisory lock, taken first in every write
transaction, so a write decides exactly what it would decide on SQLite (whose
``BEGIN IMMEDIATE`` is one lock too), whichever host runs it. Reads take no lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from .base import CatalogError, TextMatch, redacted

if TYPE_CHECKING:
    from .base import CatalogBase

WRITE_LOCK = 0x70797069  # "pypi": the advisory lock every write transaction takes


def _driver() -> tuple[Any, Any]:
    try:
        import psycopg
        import psycopg_pool
    except ImportError:
        raise CatalogError("a PostgreSQL catalog needs psycopg: pip install"
                           " 'pypireg[postgres]'") from None
    return psycopg, psycopg_pool


@lru_cache(maxsize=2048)
def _sql(text: str) -> str:
    """The catalog's ``?`` placeholders as psycopg's ``%s`` (its own ``%`` escaped)."""
    return text.replace("%", "%%").replace("?", "%s")


class PostgresEngine:
    """A PostgreSQL database at ``url`` (``postgresql://user:password@host/db``)."""

    name = "postgresql"
    like = "ILIKE"
    greatest = "greatest"

    def __init__(self, url: str, *, max_connections: int = 10) -> None:
        psycopg, psycopg_pool = _driver()
        self.url = url
        self._local = threading.local()
        self.pool = psycopg_pool.ConnectionPool(
            url, min_size=1, max_size=max_connections, open=True,
            kwargs={"autocommit": True, "prepare_threshold": None},
        )
        self._errors = psycopg.Error
        # What opening says when the server is down, refuses us, or is no database.
        self.unavailable = (psycopg.Error, psycopg_pool.PoolTimeout)

    def __str__(self) -> str:
        return redacted(self.url)

    @staticmethod
    def read_only_reason(error: Exception) -> str | None:
        """Why a write failed, when it is the server's state and not the statement."""
        state = getattr(error, "sqlstate", None)
        if state == "53100":  # disk_full
            return "no space left on the catalog's disk"
        if state == "25006":  # read_only_sql_transaction: a standby, or read-only by setting
            return "the catalog is read-only"
        return None

    def close(self) -> None:
        self.pool.close()

    @contextmanager
    def write(self) -> Iterator[None]:
        """One transaction holding the write lock; nested calls join it."""
        if getattr(self._local, "conn", None) is not None:
            yield
            return
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [WRITE_LOCK])
            self._local.conn = conn
            try:
                yield
            finally:
                self._local.conn = None

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            with conn.cursor() as cursor:
                yield cursor
            return
        with self.pool.connection() as conn, conn.cursor() as cursor:
            yield cursor

    # -- statements ----------------------------------------------------------------------

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._cursor() as cursor:
            cursor.execute(_sql(sql), params)
            names = [column.name for column in cursor.description]
            return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]

    def value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._cursor() as cursor:
            cursor.execute(_sql(sql), params)
            first = cursor.fetchone()
            return first[0] if first else None

    def tuples(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        with self._cursor() as cursor:
            cursor.execute(_sql(sql), params)
            return iter(cursor.fetchall())

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._cursor() as cursor:
            cursor.execute(_sql(sql), params)
            return cursor.rowcount

    def run_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._cursor() as cursor:
            cursor.executemany(_sql(sql), list(rows))

    # -- the fragments that differ -----------------------------------------------------------

    def in_ids(self, column: str) -> str:
        return f"{column} = ANY(CAST(? AS BIGINT[]))"

    def ids(self, values: Iterable[int]) -> Any:
        return [int(v) for v in values]

    def nocase_equals(self, column: str) -> str:
        return f"lower({column}) = lower(?)"

    def nocase_order(self, column: str) -> str:
        return f"lower({column})"

    def unindexed(self, column: str) -> str:
        return column  # PostgreSQL's planner keeps statistics of its own (autovacuum)

    def text_match(self, alias: str, words: Sequence[str]) -> TextMatch:
        # The expression of the names_search GIN index (postgres_schema.py); each word
        # matches a lexeme's start. Separators become spaces, or "a-1" would hold "-1".
        document = (f"to_tsvector('simple', translate({alias}.name || ' ' || {alias}.summary,"
                    " '-_.', '   '))")
        query = " & ".join(f"{word}:*" for word in words)
        return TextMatch(f"package_names {alias}", f"{document} @@ to_tsquery('simple', ?)",
                         [query], f"-ts_rank({document}, to_tsquery('simple', ?))", [query],
                         f"{alias}.id DESC")

    # -- schema --------------------------------------------------------------------------

    def has_schema(self, catalog: CatalogBase) -> bool:
        return catalog.value("SELECT to_regclass('meta') IS NOT NULL") is True

    def migrate(self, catalog: CatalogBase) -> None:
        from .postgres_schema import migrate

        migrate(catalog)

    def refresh_statistics(self, catalog: CatalogBase, *, force: bool = False) -> bool:
        if force:
            catalog.run("ANALYZE")
        return force  # otherwise autovacuum keeps them as the tables grow
