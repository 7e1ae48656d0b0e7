"""The catalog's tables and indexes on SQLite (declared in :mod:`.tables`), created or
completed on every open; and the search index that SQLite keeps with FTS5."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import CatalogError
from .tables import (
    INDEXES,
    SCHEMA_VERSION,
    WATCHED,
    bring_up_to_date,
    move_data,
    stored_version,
)

if TYPE_CHECKING:
    from .base import CatalogBase

__all__ = ["SCHEMA_VERSION", "migrate", "refresh_statistics", "stored_version"]


def migrate(catalog: CatalogBase) -> None:
    """Create missing tables, columns and indexes; existing data is kept as it is, but
    for what a version moves (:func:`.tables.move_data`).

    A catalog written by a newer pypireg is refused rather than half understood.
    """
    with catalog.write():
        catalog.run("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        found = stored_version(catalog)
        if found > SCHEMA_VERSION:
            raise CatalogError(
                f"the catalog {catalog.path or '(in memory)'} has schema version {found},"
                f" made by a newer pypireg; this one reads up to version {SCHEMA_VERSION}:"
                " upgrade pypireg")
        bring_up_to_date(catalog, "sqlite", lambda table: {
            row["name"] for row in catalog.rows("SELECT name FROM pragma_table_info(?)",
                                                [table])})
        move_data(catalog, found)
        if not catalog.value("SELECT 1 FROM sqlite_master WHERE name = 'package_names_fts'"):
            # Kept in step with package_names by triggers (sqlite-utils writes them).
            catalog.db.table("package_names").enable_fts(
                ["name", "summary"], create_triggers=True, tokenize="unicode61")
        for sql in INDEXES:
            catalog.run(sql)
        _watch(catalog)
        catalog.upsert("meta", {"key": "schema_version", "value": str(SCHEMA_VERSION)},
                       key="key")
    refresh_statistics(catalog)


NEW_GENERATION = "lower(hex(randomblob(16)))"


def _watch(catalog: CatalogBase) -> None:
    """The generation, and the triggers that move it with every change to a watched table
    (per row: SQLite has no statement triggers)."""
    catalog.run("INSERT INTO meta (key, value) VALUES ('generation', "
                f"{NEW_GENERATION}) ON CONFLICT (key) DO NOTHING")
    for table in WATCHED:
        for event in ("INSERT", "UPDATE", "DELETE"):
            catalog.run(f"CREATE TRIGGER IF NOT EXISTS {table}_{event.lower()}_moves_generation"
                        f" AFTER {event} ON {table} BEGIN UPDATE meta SET value ="
                        f" {NEW_GENERATION} WHERE key = 'generation'; END")


def refresh_statistics(catalog: CatalogBase, *, force: bool = False) -> bool:
    """Gather the query planner's statistics again once the catalog has doubled (or
    ``force``); returns whether it did. Runs on every open and in gc, so statistics keep
    up with a growing registry. ``analysis_limit`` keeps each run to milliseconds however
    big the tables are."""
    size = catalog.value("SELECT coalesce(max(id), 0) FROM package_files")
    stored = catalog.value("SELECT value FROM meta WHERE key = 'analyzed_at_files'")
    analyzed = int(stored) if stored is not None else -1
    if not force and analyzed >= 0 and size < max(2 * analyzed, 1000):
        return False
    with catalog.write():
        catalog.run("PRAGMA analysis_limit = 1000")
        catalog.run("ANALYZE")
        catalog.upsert("meta", {"key": "analyzed_at_files", "value": str(size)}, key="key")
    return True
