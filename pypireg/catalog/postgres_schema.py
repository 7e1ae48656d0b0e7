"""The catalog's tables and indexes on PostgreSQL: the same columns as on SQLite
(:mod:`.schema`), created or completed on every open, under the write lock, so several
processes starting at once create them once."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .base import CatalogError
from .schema import INDEXES as SQLITE_INDEXES
from .schema import SCHEMA_VERSION

if TYPE_CHECKING:
    from .base import CatalogBase

_TABLES = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)",
    "CREATE TABLE IF NOT EXISTS groups (id BIGINT PRIMARY KEY, path TEXT NOT NULL,"
    " name TEXT NOT NULL, parent_id BIGINT REFERENCES groups (id), visibility TEXT NOT NULL,"
    " created_at TEXT NOT NULL, deleted_at TEXT)",
    "CREATE TABLE IF NOT EXISTS projects (id BIGINT PRIMARY KEY, path TEXT NOT NULL,"
    " name TEXT NOT NULL, group_id BIGINT REFERENCES groups (id), visibility TEXT NOT NULL,"
    " serial BIGINT NOT NULL DEFAULT 0, created_at TEXT NOT NULL, deleted_at TEXT)",
    "CREATE TABLE IF NOT EXISTS packages (id BIGINT PRIMARY KEY,"
    " project_id BIGINT NOT NULL REFERENCES projects (id), name TEXT NOT NULL,"
    " normalized_name TEXT NOT NULL, version TEXT NOT NULL, canonical_version TEXT NOT NULL,"
    " package_type TEXT NOT NULL, status TEXT NOT NULL, requires_python TEXT DEFAULT '',"
    " metadata TEXT DEFAULT '{}', created_at TEXT NOT NULL, updated_at TEXT NOT NULL,"
    " last_downloaded_at TEXT)",
    "CREATE TABLE IF NOT EXISTS package_files (id BIGINT PRIMARY KEY,"
    " package_id BIGINT NOT NULL REFERENCES packages (id),"
    " project_id BIGINT NOT NULL REFERENCES projects (id), file_name TEXT NOT NULL,"
    " size BIGINT NOT NULL, md5 TEXT NOT NULL, sha1 TEXT NOT NULL, sha256 TEXT NOT NULL,"
    " storage_key TEXT NOT NULL, requires_python TEXT NOT NULL, status TEXT NOT NULL,"
    " created_at TEXT NOT NULL, metadata_sha256 TEXT, metadata_key TEXT,"
    " yanked INTEGER NOT NULL DEFAULT 0, yanked_reason TEXT)",
    "CREATE TABLE IF NOT EXISTS tokens (id BIGINT PRIMARY KEY, name TEXT NOT NULL,"
    " kind TEXT NOT NULL, secret_hash TEXT NOT NULL, grants TEXT NOT NULL,"
    " created_at TEXT NOT NULL, expires_at TEXT, last_used_at TEXT,"
    " revoked INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS audit_events (id BIGINT PRIMARY KEY, created_at TEXT NOT NULL,"
    " event_name TEXT NOT NULL, author_id BIGINT, author_name TEXT NOT NULL,"
    " author_class TEXT, ip_address TEXT, entity_type TEXT NOT NULL, entity_id BIGINT,"
    " entity_path TEXT NOT NULL, target_type TEXT, target_id TEXT, target_details TEXT,"
    " details TEXT DEFAULT '{}')",
    "CREATE TABLE IF NOT EXISTS blob_reservations (id BIGINT PRIMARY KEY,"
    " storage_key TEXT NOT NULL, created_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS cleanup_policies ("
    " project_id BIGINT PRIMARY KEY REFERENCES projects (id),"
    " keep_n_duplicated_package_files TEXT NOT NULL, keep_n_latest_versions BIGINT,"
    " older_than TEXT, include_names TEXT, exclude_names TEXT, updated_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS package_names (id BIGINT PRIMARY KEY,"
    " project_id BIGINT NOT NULL REFERENCES projects (id), normalized_name TEXT NOT NULL,"
    " name TEXT NOT NULL, version TEXT NOT NULL, summary TEXT NOT NULL DEFAULT '',"
    " last_upload_at TEXT NOT NULL, last_version TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS name_statuses (id BIGINT PRIMARY KEY,"
    " project_id BIGINT NOT NULL REFERENCES projects (id), normalized_name TEXT NOT NULL,"
    " status TEXT NOT NULL, reason TEXT NOT NULL, updated_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS file_provenance ("
    " file_id BIGINT PRIMARY KEY REFERENCES package_files (id), provenance TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS protection_rules (id BIGINT PRIMARY KEY,"
    " project_id BIGINT NOT NULL REFERENCES projects (id),"
    " package_name_pattern TEXT NOT NULL, package_type TEXT NOT NULL,"
    " minimum_access_level_for_push TEXT, minimum_access_level_for_delete TEXT,"
    " updated_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS package_details ("
    " package_id BIGINT PRIMARY KEY REFERENCES packages (id), details TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS upstream_pages (id BIGINT PRIMARY KEY,"
    " upstream TEXT NOT NULL, normalized_name TEXT NOT NULL, found INTEGER NOT NULL,"
    " name TEXT NOT NULL, files TEXT NOT NULL, status TEXT NOT NULL,"
    " status_reason TEXT NOT NULL, etag TEXT NOT NULL, last_modified TEXT NOT NULL,"
    " checked_at TEXT NOT NULL, changed_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS upstream_files (id BIGINT PRIMARY KEY,"
    " sha256 TEXT NOT NULL, file_name TEXT NOT NULL, normalized_name TEXT NOT NULL,"
    " upstream TEXT NOT NULL, url TEXT NOT NULL, size BIGINT, upload_time TEXT NOT NULL,"
    " metadata_sha256 TEXT, storage_key TEXT, metadata_key TEXT, cached_at TEXT,"
    " cached_size BIGINT, fetch_owner TEXT, fetch_heartbeat TEXT)",
)

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
        catalog.run(_TABLES[0])
        found = catalog.value("SELECT value FROM meta WHERE key = 'schema_version'")
        if found is not None and int(found) > SCHEMA_VERSION:
            raise CatalogError(
                f"the catalog {catalog.engine} has schema version {found}, made by a newer"
                f" pypireg; this one reads up to version {SCHEMA_VERSION}: upgrade pypireg")
        for statement in (*_TABLES[1:], *_INDEXES):
            catalog.run(statement)
        catalog.upsert("meta", {"key": "schema_version", "value": str(SCHEMA_VERSION)},
                       key="key")
