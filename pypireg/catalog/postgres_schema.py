"""The catalog's tables and indexes on PostgreSQL (declared in :mod:`.tables`, as for
SQLite), created or completed on every open, under the write lock, so several processes
starting at once create them once."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .base import CatalogError
from .tables import INDEXES as SQLITE_INDEXES
from .tables import SCHEMA_VERSION, WATCHED, bring_up_to_date, move_data

if TYPE_CHECKING:
    from .base import CatalogBase

# SQLite's indexes (one list, so the engines never drift apart), with lower(column) where
# SQLite says COLLATE NOCASE; and one for the path prefixes a group's queries look up.
_NOCASE = re.compile(r"(\w+) COLLATE NOCASE")
_INDEXES = (
    *(_NOCASE.sub(r"lower(\1)", sql) for sql in SQLITE_INDEXES if not sql.startswith("DROP ")),
    "CREATE INDEX IF NOT EXISTS projects_by_path ON projects (lower(path) text_pattern_ops)",
    # Search (SQLite has FTS5 instead): the expression PostgresEngine.text_match matches.
    "CREATE INDEX IF NOT EXISTS names_search ON package_names"
    " USING GIN (to_tsvector('simple', translate(name || ' ' || summary, '-_.', '   ')))",
)


def migrate(catalog: CatalogBase) -> None:
    """Create what is missing; refuse a catalog written by a newer pypireg."""
    with catalog.write():
        catalog.run("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        found = catalog.value("SELECT value FROM meta WHERE key = 'schema_version'")
        if found is not None and int(found) > SCHEMA_VERSION:
            raise CatalogError(
                f"the catalog {catalog.engine} has schema version {found}, made by a newer"
                f" pypireg; this one reads up to version {SCHEMA_VERSION}: upgrade pypireg")
        bring_up_to_date(catalog, "postgresql", lambda table: {
            row["column_name"] for row in catalog.rows(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND table_name = ?", [table])})
        move_data(catalog, int(found or 0))
        for statement in _INDEXES:
            catalog.run(statement)
        _watch(catalog)
        catalog.upsert("meta", {"key": "schema_version", "value": str(SCHEMA_VERSION)},
                       key="key")


NEW_GENERATION = "md5(random()::text || clock_timestamp()::text)"


def _watch(catalog: CatalogBase) -> None:
    """The generation, and the statement triggers that move it with every change to a
    watched table."""
    catalog.run("INSERT INTO meta (key, value) VALUES ('generation', "
                f"{NEW_GENERATION}) ON CONFLICT (key) DO NOTHING")
    # The meta table of the changed table's own schema, whatever the search_path of the
    # session that changes it (a restore runs with an empty one).
    catalog.run("CREATE OR REPLACE FUNCTION pypireg_move_generation() RETURNS trigger"
                " LANGUAGE plpgsql AS $$ BEGIN EXECUTE format('UPDATE %I.meta SET value ="
                f" {NEW_GENERATION} WHERE key = ''generation''', TG_TABLE_SCHEMA);"
                " RETURN NULL; END $$")
    for table in WATCHED:
        name = f"{table}_moves_generation"
        if not catalog.value("SELECT 1 FROM pg_trigger WHERE tgname = ?"
                             " AND tgrelid = to_regclass(?)", [name, table]):
            catalog.run(f"CREATE TRIGGER {name} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE"
                        f" ON {table} FOR EACH STATEMENT EXECUTE FUNCTION"
                        " pypireg_move_generation()")
