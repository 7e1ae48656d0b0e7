"""The catalog's schema, declared once (pypireg/catalog/tables.py), is the same on SQLite and
PostgreSQL, and a catalog of every version still supported on each engine is brought to
exactly what a new catalog has: tables, columns, types, defaults, NOT NULL, keys, foreign
keys and indexes. Runs on a real PostgreSQL in CI (tests/postgres.py)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import pypireg
from pypireg.catalog.tables import OLDEST, SCHEMA_VERSION, TABLES, TYPES, WATCHED

FIXTURES = Path(__file__).parent / "fixtures"
# Indexes one engine has and the other has not: PostgreSQL's for path prefixes and search
# (SQLite searches with FTS5 tables instead).
POSTGRES_ONLY = {"projects_by_path", "names_search"}


def describe_sqlite(path: Path) -> dict[str, Any]:
    db = sqlite3.connect(path)
    try:
        tables = {}
        for table in TABLES:
            columns = {row[1]: (row[2].upper(), bool(row[3]), row[4], bool(row[5]))
                       for row in db.execute(f"PRAGMA table_info({table.name})")}
            references = {row[3]: row[2] for row in
                          db.execute(f"PRAGMA foreign_key_list({table.name})")}
            tables[table.name] = {name: (*spec, references.get(name))
                                  for name, spec in columns.items()}
        indexes = {name: " ".join(sql.split()) for name, sql in db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")}
        names = {row[0] for row in db.execute("SELECT name FROM sqlite_master"
                                              " WHERE type = 'table'")}
        triggers = db.execute("SELECT tbl_name, sql FROM sqlite_master WHERE type = 'trigger'"
                              " AND name LIKE '%moves_generation'").fetchall()
        watched = {(table, sql.split(" AFTER ")[1].split()[0]) for table, sql in triggers}
    finally:
        db.close()
    return {"tables": tables, "indexes": indexes, "all tables": names, "watched": watched}


def describe_postgres(url: str) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(url) as db:
        keys = {(table, column) for table, column in db.execute(
            "SELECT kcu.table_name, kcu.column_name FROM information_schema.table_constraints tc"
            " JOIN information_schema.key_column_usage kcu"
            " ON kcu.constraint_name = tc.constraint_name"
            " AND kcu.table_schema = tc.table_schema"
            " WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = current_schema()")}
        references = {(table, column): target for table, column, target in db.execute(
            "SELECT kcu.table_name, kcu.column_name, ccu.table_name"
            " FROM information_schema.table_constraints tc"
            " JOIN information_schema.key_column_usage kcu"
            " ON kcu.constraint_name = tc.constraint_name"
            " AND kcu.table_schema = tc.table_schema"
            " JOIN information_schema.constraint_column_usage ccu"
            " ON ccu.constraint_name = tc.constraint_name"
            " AND ccu.table_schema = tc.table_schema"
            " WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = current_schema()")}
        tables: dict[str, dict[str, tuple[Any, ...]]] = {}
        for table, column, kind, nullable, default in db.execute(
                "SELECT table_name, column_name, upper(data_type), is_nullable, column_default"
                " FROM information_schema.columns WHERE table_schema = current_schema()"):
            default = re.sub(r"::\w+$", "", default) if default else None
            key = (table, column) in keys
            tables.setdefault(table, {})[column] = (
                kind, nullable == "NO" and not key, default, key,
                references.get((table, column)))
        indexes = {name: definition for name, definition in db.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
            " AND indexname NOT LIKE '%\\_pkey'")}
        watched = set(db.execute(
            "SELECT event_object_table, event_manipulation FROM information_schema.triggers"
            " WHERE trigger_schema = current_schema() AND trigger_name LIKE '%moves_generation'"))
    return {"tables": {t.name: tables.get(t.name, {}) for t in TABLES}, "indexes": indexes,
            "all tables": set(tables), "watched": watched}


def declared(engine: str) -> dict[str, dict[str, tuple[Any, ...]]]:
    """What tables.py says each table's columns are, as the describe functions put it."""
    return {table.name: {
        table.key.name: (TYPES[engine][table.key.kind], False, None, True,
                         table.key.references),
        **{column.name: (TYPES[engine][column.kind], column.not_null, column.default, False,
                         column.references) for column in table.columns}}
        for table in TABLES}


@contextmanager
def sqlite_catalog(tmp_path: Path, name: str, version: int | None = None) -> Iterator[str]:
    """A catalog file: new, or built as a catalog of ``version`` was and then opened (so
    upgraded) by this pypireg. Yields its path."""
    path = tmp_path / f"{name}.db"
    if version is not None:
        db = sqlite3.connect(path)
        build(db.execute, "sqlite", version)
        db.commit()
        db.close()
    pypireg.Catalog(str(path))
    yield str(path)


@contextmanager
def postgres_catalog(server: Any, version: int | None = None) -> Iterator[str]:
    import psycopg

    from pypireg.catalog.postgres import PostgresEngine

    with server.database() as url:
        if version is not None:
            with psycopg.connect(url, autocommit=True) as db:
                build(db.execute, "postgresql", version)
        engine = PostgresEngine(url, max_connections=1)
        pypireg.Catalog(engine=engine)
        engine.close()
        yield url


def build(execute: Any, engine: str, version: int) -> None:
    """The tables and columns a catalog of ``version`` had, a row in one, and the version."""
    for table in TABLES:
        if table.since <= version:
            execute(table.create(engine, version))
    execute("INSERT INTO groups (id, path, name, visibility, created_at)"
            " VALUES (1, 'kept', 'kept', 'public', '2020-01-01T00:00:00Z')")
    execute(f"INSERT INTO meta (key, value) VALUES ('schema_version', '{version}')")


def test_a_new_sqlite_catalog_is_as_declared(tmp_path) -> None:
    with sqlite_catalog(tmp_path, "new") as path:
        assert describe_sqlite(Path(path))["tables"] == declared("sqlite")


@pytest.mark.parametrize("version", range(OLDEST["sqlite"], SCHEMA_VERSION))
def test_every_older_sqlite_catalog_is_brought_to_a_new_ones_schema(tmp_path, version) -> None:
    with sqlite_catalog(tmp_path, "new") as new, \
            sqlite_catalog(tmp_path, "old", version) as old:
        assert describe_sqlite(Path(old)) == describe_sqlite(Path(new))
        db = sqlite3.connect(old)
        assert db.execute("SELECT path FROM groups").fetchall() == [("kept",)]
        db.close()


def test_a_catalog_written_by_an_old_release_is_brought_to_a_new_ones_schema(tmp_path
                                                                            ) -> None:
    """Not built from the declaration: the file an old release wrote (schema 3)."""
    old = tmp_path / "v3.db"
    db = sqlite3.connect(old)
    db.executescript((FIXTURES / "catalog-v3.sql").read_text())
    db.close()
    pypireg.Catalog(str(old))
    with sqlite_catalog(tmp_path, "new") as new:
        assert describe_sqlite(old) == describe_sqlite(Path(new))


def test_a_new_postgresql_catalog_is_as_declared(postgres_server) -> None:
    with postgres_catalog(postgres_server) as url:
        assert describe_postgres(url)["tables"] == declared("postgresql")


@pytest.mark.parametrize("version", range(OLDEST["postgresql"], SCHEMA_VERSION))
def test_every_older_postgresql_catalog_is_brought_to_a_new_ones_schema(postgres_server,
                                                                        version) -> None:
    import psycopg

    with postgres_catalog(postgres_server) as new, \
            postgres_catalog(postgres_server, version) as old:
        assert describe_postgres(old) == describe_postgres(new)
        with psycopg.connect(old) as db:
            assert db.execute("SELECT path FROM groups").fetchall() == [("kept",)]


def test_the_engines_have_the_same_tables_columns_and_indexes(postgres_server, tmp_path
                                                              ) -> None:
    with sqlite_catalog(tmp_path, "new") as path, postgres_catalog(postgres_server) as url:
        sqlite, postgres = describe_sqlite(Path(path)), describe_postgres(url)

    def portable(tables: dict[str, dict[str, tuple[Any, ...]]]) -> dict[str, Any]:
        # Types aside (tested against the declaration for each engine), column for column.
        return {table: {name: spec[1:] for name, spec in columns.items()}
                for table, columns in tables.items()}

    assert portable(sqlite["tables"]) == portable(postgres["tables"])
    assert set(sqlite["indexes"]) == set(postgres["indexes"]) - POSTGRES_ONLY
    # Every change to a watched table moves the generation, on both (.changes).
    assert sqlite["watched"] == postgres["watched"] == {
        (table, event) for table in WATCHED for event in ("INSERT", "UPDATE", "DELETE")}
    assert {t.name for t in TABLES} <= postgres["all tables"]


def test_columns_added_to_a_table_can_be_added_to_its_rows() -> None:
    """A column that came after its table is nullable or has a default: ALTER TABLE ADD
    COLUMN must give the existing rows a value."""
    for table in TABLES:
        for column in table.columns:
            if column.since > table.since:
                assert not column.not_null or column.default is not None, (table, column)
            assert column.since <= SCHEMA_VERSION, (table, column)


def test_the_next_column_reaches_an_existing_catalog_on_both_engines(
        postgres_server, tmp_path, monkeypatch) -> None:
    """A column declared for a version to come is added to catalogs that exist, on
    PostgreSQL as on SQLite, keeping their rows and giving them its default."""
    import dataclasses

    from pypireg.catalog import tables
    from pypireg.catalog.tables import FLAG, Column

    with sqlite_catalog(tmp_path, "existing", SCHEMA_VERSION) as path, \
            postgres_catalog(postgres_server, SCHEMA_VERSION) as url:
        coming = Column("archived", FLAG, not_null=True, default="0",
                        since=SCHEMA_VERSION + 1)
        monkeypatch.setattr(tables, "TABLES", tuple(
            dataclasses.replace(table, columns=(*table.columns, coming))
            if table.name == "groups" else table for table in TABLES))
        pypireg.Catalog(path)
        from pypireg.catalog.postgres import PostgresEngine

        engine = PostgresEngine(url, max_connections=1)
        pypireg.Catalog(engine=engine)
        engine.close()
        assert describe_sqlite(Path(path))["tables"]["groups"]["archived"] == (
            "INTEGER", True, "0", False, None)
        assert describe_postgres(url)["tables"]["groups"]["archived"] == (
            "INTEGER", True, "0", False, None)
        db = sqlite3.connect(path)
        assert db.execute("SELECT path, archived FROM groups").fetchall() == [("kept", 0)]
        db.close()
