"""What every part of the catalog shares: its engine, statements, and ids."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeVar

from ..exceptions import PypiregError
from ..times import utcnow
from ..tracing import span
from .changes import Changes

if TYPE_CHECKING:
    from sqlite_utils import Database

T = TypeVar("T")

__all__ = ["CatalogBase", "CatalogError", "CatalogReadOnly", "CatalogUnavailable", "Engine",
           "TextMatch", "load_json", "redacted", "utcnow"]


class Engine(Protocol):
    """What the catalog needs of a database: transactions, statements with ``?``
    placeholders, and the few fragments whose spelling differs between engines."""

    name: str
    like: str  # case-insensitive LIKE
    greatest: str  # the larger of two values
    unavailable: tuple[type[Exception], ...]  # what the driver raises for a database it
    # cannot reach or read

    def write(self) -> AbstractContextManager[None]: ...
    def read_only_reason(self, error: Exception) -> str | None: ...
    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]: ...
    def value(self, sql: str, params: Sequence[Any] = ()) -> Any: ...
    def tuples(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]: ...
    def run(self, sql: str, params: Sequence[Any] = ()) -> int: ...
    def run_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...
    def in_ids(self, column: str) -> str: ...
    def ids(self, values: Iterable[int]) -> Any: ...
    def nocase_equals(self, column: str) -> str: ...
    def nocase_order(self, column: str) -> str: ...
    def unindexed(self, column: str) -> str: ...
    def text_match(self, alias: str, words: Sequence[str]) -> TextMatch: ...
    def has_schema(self, catalog: CatalogBase) -> bool: ...
    def migrate(self, catalog: CatalogBase) -> None: ...
    def refresh_statistics(self, catalog: CatalogBase, *, force: bool = False) -> bool: ...


class TextMatch(NamedTuple):
    """How an engine finds the rows of ``package_names AS alias`` whose name or summary
    holds a word starting with each of the words: ``FROM source WHERE where``. ``rank``
    scores a match (lower is better); ``newest`` orders matches newest first, driven
    by the text index itself."""

    source: str
    where: str
    params: list[Any]
    rank: str
    rank_params: list[Any]
    newest: str


class CatalogReadOnly(PypiregError):
    """The catalog cannot be written now; the message says why. Not a
    :class:`CatalogError`: nothing about the request was wrong, and it may pass."""


class CatalogUnavailable(PypiregError):
    """The catalog's database does not answer now (a PostgreSQL server restarting or
    down); the message says what it said. The request may be tried again shortly."""


class CatalogError(PypiregError):
    """A catalog rule was broken (unknown parent, duplicate path, ...); the message says which."""


class CatalogBase:
    """The catalog's statements, run by an engine (:mod:`.sqlite` or :mod:`.postgres`)
    that holds the connections and transactions and spells the few fragments that differ.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._read_only: str | None = None  # why the last write failed, till one succeeds
        self.changes = Changes()  # projects and groups kept while nothing moves them
        # Told of every change the audit log records, inside the change's transaction
        # (pypireg/hooks/ queues webhook deliveries there): record_event's arguments.
        self.event_listener: Callable[..., None] | None = None

    @property
    def path(self) -> str | None:
        """The SQLite file, when the engine is SQLite with a file."""
        return getattr(self.engine, "path", None)

    @property
    def db(self) -> Database:
        """The SQLite engine's sqlite-utils database (tests and the SQLite schema use it)."""
        return self.engine.db  # type: ignore[attr-defined, no-any-return]

    @contextmanager
    def write(self) -> Iterator[None]:
        """One write transaction: every statement inside commits or fails together, and no
        other writer decides anything meanwhile. Nested calls join the outer one. A
        database that cannot be written now (its disk full, its file read-only) raises
        :class:`CatalogReadOnly`, saying why."""
        try:
            with self.changes.writing(), self.engine.write():
                yield
        except CatalogReadOnly as exc:
            self._read_only = str(exc)
            raise
        except self.engine.unavailable as exc:
            reason = self.engine.read_only_reason(exc)
            if reason is None:
                raise
            self._read_only = reason
            raise CatalogReadOnly(reason) from exc
        self._read_only = None

    def why_read_only(self) -> str | None:
        """Why the catalog cannot be written now, or None. Once a write has failed, this
        writes a row to find out whether it still would, so that it says when the disk
        has room again before anything else was written (``GET /-/readiness``)."""
        why = self._read_only
        if why is None:
            return None
        try:
            with self.write():
                self.upsert("meta", {"key": "written_at", "value": utcnow()},
                            key="key")
        except CatalogReadOnly as exc:
            return str(exc)
        except self.engine.unavailable:  # busy, say: as it was until it is known better
            return why
        return None

    def check_writable(self) -> None:
        """Raise :class:`CatalogReadOnly` if a write has failed and would still fail: for
        a change that would otherwise do work in vain first (stage an upload)."""
        why = self.why_read_only()
        if why is not None:
            raise CatalogReadOnly(why)

    def kept(self, key: Hashable, read: Callable[[], T | None], room: str = "found"
             ) -> T | None:
        """What ``read`` answers for ``key``, kept in memory while the catalog's generation
        stands (.changes); in ``room`` "found", only what was found. Only for an answer
        decided by rows of the watched tables (:data:`.tables.WATCHED`)."""
        return self.changes.kept(key, read, self.generation, room)

    def generation(self) -> str | None:
        """A value that every change to a watched table replaces (.changes)."""
        return self.value(  # type: ignore[no-any-return]
            "SELECT value FROM meta WHERE key = 'generation'")

    def check_ready(self) -> None:
        """Raise unless the catalog answers a query on its tables (``GET /-/readiness``)."""
        self.value("SELECT id FROM projects LIMIT 1")

    # -- statements ------------------------------------------------------------------------
    # Every query of the catalog goes through these few methods, with ``?`` placeholders.

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with span("catalog.query", **{"db.operation.name": _operation(sql)}):
            return self.engine.rows(sql, params)

    def row(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    def value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first column of the first row, or None."""
        with span("catalog.query", **{"db.operation.name": _operation(sql)}):
            return self.engine.value(sql, params)

    def tuples(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """Rows as plain tuples, for pages that list thousands of them."""
        with span("catalog.query", **{"db.operation.name": _operation(sql)}):
            return self.engine.tuples(sql, params)

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement that changes rows; returns how many it changed."""
        with span("catalog.query", **{"db.operation.name": _operation(sql)}):
            return self.engine.run(sql, params)

    def run_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with span("catalog.query", **{"db.operation.name": _operation(sql)}):
            self.engine.run_many(sql, rows)

    def in_ids(self, column: str) -> str:
        """``column`` is one of a list of ids, given as one parameter (:meth:`ids`), so a
        statement's text is the same whatever the list's length."""
        return self.engine.in_ids(column)

    def ids(self, values: Iterable[int]) -> Any:
        """The parameter for :meth:`in_ids`."""
        return self.engine.ids(values)

    def in_projects(self, column: str, project_ids: Iterable[int]) -> tuple[str, list[Any]]:
        """``column`` (a project id) in a set: a plain equality for one project (which the
        planner plans from the indexes alone), else one list parameter whatever the
        set's size."""
        ids = list(project_ids)
        if len(ids) == 1:
            return f"{column} = ?", ids
        return self.in_ids(column), [self.ids(ids)]

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

    def bump_serial(self, project_id: int) -> None:
        """Call inside ``write()`` with any change a project's pages show: their ETags and
        kept bodies follow the serial."""
        self.run("UPDATE projects SET serial = serial + 1 WHERE id = ?", [project_id])

    # -- ids, never given twice ---------------------------------------------------------
    # SQLite gives a new row the highest id plus one, so deleting the highest row would hand
    # its id to the next: audit events, ETags and URLs would then name another thing. Before
    # deleting rows for good, the catalog remembers the table's highest id, and new rows of
    # tables whose rows are deleted are numbered past it.

    def next_id(self, table: str) -> int:
        """Call inside ``write()``, and insert the row with this id."""
        return self.value(f"SELECT {self._next_id_of(table)}")

    def _next_id_of(self, table: str) -> str:
        """:meth:`next_id` as an expression, for the statement that inserts the row (one
        statement less inside the write)."""
        return (f"{self.engine.greatest}(coalesce((SELECT max(id) FROM {table}), 0),"
                " coalesce((SELECT CAST(value AS BIGINT) FROM meta"
                f" WHERE key = 'last_id:{table}'), 0)) + 1")

    def remember_last_id(self, table: str) -> None:
        """Call inside ``write()``, before deleting rows of ``table``."""
        self.run(
            "INSERT INTO meta (key, value) SELECT ?, CAST(max(id) AS TEXT) FROM " + table +
            " WHERE true ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            " WHERE CAST(excluded.value AS BIGINT) > CAST(meta.value AS BIGINT)",
            [f"last_id:{table}"])


def _stored(values: Iterable[Any]) -> list[Any]:
    return [json.dumps(v) if isinstance(v, (dict, list, tuple)) else v for v in values]


def load_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def redacted(url: str) -> str:
    """A URL as it may be shown: its password, if any, replaced by ``***``."""
    head, at, tail = url.rpartition("@")
    if not at or ":" not in head.partition("://")[2]:
        return url
    scheme, _, credentials = head.partition("://")
    return f"{scheme}://{credentials.partition(':')[0]}:***@{tail}"


@functools.lru_cache(maxsize=1024)  # a few hundred statements, each named once
def _operation(sql: str) -> str:
    """A statement's verb (SELECT, INSERT, ...), what a trace names it by."""
    return sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
