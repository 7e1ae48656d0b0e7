"""The PostgreSQL engine, for several pypireg processes on several hosts: psycopg 3 with a
connection pool (``pip install 'pypireg[postgres]'``).

Writes are serialized by one transaction-scoped advisory lock, taken first in every write
transaction, so a write decides exactly what it would decide on SQLite (whose
``BEGIN IMMEDIATE`` is one lock too), whichever host runs it. Reads take no lock.

A restart of the server closes every pooled connection. A statement, or a write
transaction's start, that finds its connection closed before anything ran is tried once
more, after the pool has replaced the closed ones; a statement the server cannot take now
(it is shutting down or starting) raises :class:`CatalogUnavailable`, which the registry
answers with a 503 and ``Retry-After``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

from .base import CatalogError, CatalogUnavailable, TextMatch, redacted

if TYPE_CHECKING:
    from .base import CatalogBase

WRITE_LOCK = 0x70797069  # "pypi": the advisory lock every write transaction takes
WAIT = 10.0  # seconds a statement waits for a connection (the server is down, or all busy)
# Seconds the pool goes on trying to replace a connection, its waits doubling from 1 s,
# before it gives up, so that the next statement starts afresh: psycopg_pool's default of
# 5 minutes would leave a server that is back unused for up to half of that.
RECONNECT = 5.0
# SQLSTATEs of a server that cannot take statements now: the connection's class, and a
# server shutting down, crashed, or starting.
GONE = ("08", "57P01", "57P02", "57P03")
T = TypeVar("T")


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
            url, min_size=1, max_size=max_connections, open=True, timeout=WAIT,
            reconnect_timeout=RECONNECT,
            kwargs={"autocommit": True, "prepare_threshold": None},
        )
        self._errors = psycopg.Error
        self._operational = psycopg.OperationalError
        self._timeout = psycopg_pool.PoolTimeout
        # What opening says when the server is down, refuses us, or is no database.
        self.unavailable: tuple[type[Exception], ...] = (
            psycopg.Error, psycopg_pool.PoolTimeout, CatalogUnavailable)

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
        conn = None
        try:
            with ExitStack() as held:
                conn = self._local.conn = self._begin(held)
                try:
                    yield
                    if conn.info.transaction_status.name == "INERROR":
                        # A statement failed and its error was caught: the COMMIT would
                        # roll the whole write back without a word. A fault, not one of
                        # the catalog's answers (a CatalogError is a 4xx to a view).
                        raise RuntimeError("a statement of this write failed and its error"
                                           " was caught: the write was rolled back")
                finally:
                    self._local.conn = None
        except self._operational as exc:  # its COMMIT, on a connection a restart closed
            self._raise_unavailable(exc, conn)
            raise

    def _begin(self, held: ExitStack) -> Any:
        """A pooled connection in a transaction that holds the write lock, its ends pushed
        on ``held``: one closed by a restart is replaced once, as nothing ran on it."""
        for last in (False, True):
            attempt, conn = ExitStack(), None
            try:
                conn = attempt.enter_context(self._connection())
                attempt.enter_context(conn.transaction())
                conn.execute("SELECT pg_advisory_xact_lock(%s)", [WRITE_LOCK])
            except self._operational as exc:
                with contextlib.suppress(self._errors):  # a rollback on a closed connection
                    attempt.__exit__(type(exc), exc, exc.__traceback__)
                if last or conn is None or not conn.broken:
                    self._raise_unavailable(exc, conn)
                    raise
                self.pool.check()
                continue
            held.enter_context(attempt)
            return conn
        raise AssertionError("unreachable")

    def _statement(self, work: Callable[[Any], T], *, read: bool = True) -> T:
        """``work(cursor)`` on the write transaction's connection, else on a pooled one:
        a ``read`` once more on another if the first was closed by a restart (a write may
        have been done before the connection broke, so it is not done again)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            try:
                with conn.cursor() as cursor:
                    return work(cursor)
            except self._operational as exc:
                self._raise_unavailable(exc, conn)
                raise
        for last in (False, True) if read else (True,):
            with self._connection() as conn:
                try:
                    with conn.cursor() as cursor:
                        return work(cursor)
                except self._operational as exc:
                    if last or not conn.broken:
                        self._raise_unavailable(exc, conn)
                        raise
            self.pool.check()  # the restart closed the other idle connections too
        raise AssertionError("unreachable")

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        try:
            with self.pool.connection() as conn:
                yield conn
        except self._timeout as exc:
            raise CatalogUnavailable(f"no connection to the catalog's database within"
                                     f" {WAIT:g} s") from exc

    @staticmethod
    def _raise_unavailable(error: Exception, conn: Any) -> None:
        """Raise CatalogUnavailable for an error of a server that cannot take statements
        now (one it sent, or a connection it closed); return for any other (a full disk,
        a statement's own error, one psycopg found in it before sending it)."""
        state = getattr(error, "sqlstate", None) or ""
        broken = conn is None or conn.broken
        if not (state.startswith(GONE) or (not state and broken)):
            return
        first = str(error).strip().splitlines()
        raise CatalogUnavailable("the catalog's database is not answering"
                                 + (f": {first[0]}" if first else "")) from error

    # -- statements ----------------------------------------------------------------------

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        def work(cursor: Any) -> list[dict[str, Any]]:
            cursor.execute(_sql(sql), params)
            names = [column.name for column in cursor.description]
            return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]

        return self._statement(work)

    def value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        def work(cursor: Any) -> Any:
            cursor.execute(_sql(sql), params)
            first = cursor.fetchone()
            return first[0] if first else None

        return self._statement(work)

    def tuples(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        def work(cursor: Any) -> Iterator[tuple[Any, ...]]:
            cursor.execute(_sql(sql), params)
            return iter(cursor.fetchall())

        return self._statement(work)

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        def work(cursor: Any) -> int:
            cursor.execute(_sql(sql), params)
            return int(cursor.rowcount)

        return self._statement(work, read=False)

    def run_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        batch = list(rows)
        self._statement(lambda cursor: cursor.executemany(_sql(sql), batch), read=False)

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
