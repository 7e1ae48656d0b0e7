"""The catalog's tables and indexes, created (or completed) on every open."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..models import PENDING_DESTRUCTION
from .base import CatalogError

if TYPE_CHECKING:
    from .base import CatalogBase

SCHEMA_VERSION = 8

# Columns added after version 1, created on older catalogs when they open.
_ADDED_FILE_COLUMNS = {
    # PEP 658: sha256 of the file's core metadata; NULL = not looked at yet, '' = none.
    "metadata_sha256": str,
    "metadata_key": str,
    # PEP 592
    "yanked": int,
    "yanked_reason": str,
}

# Token lifecycle (schema 3).
_ADDED_TOKEN_COLUMNS = {"expires_at": str, "last_used_at": str, "revoked": int}
# A deleted group or project waits, invisible, until gc has purged its packages (schema 4).
_ADDED_NAMESPACE_COLUMNS = {"deleted_at": str}

INDEXES = (
    # One live group or project per path; a deleted one's path may be taken again.
    "DROP INDEX IF EXISTS groups_path",
    "DROP INDEX IF EXISTS projects_path",
    "CREATE UNIQUE INDEX IF NOT EXISTS groups_live_path ON groups (path COLLATE NOCASE)"
    " WHERE deleted_at IS NULL",
    "CREATE UNIQUE INDEX IF NOT EXISTS projects_live_path ON projects (path COLLATE NOCASE)"
    " WHERE deleted_at IS NULL",
    "CREATE INDEX IF NOT EXISTS packages_by_name"
    " ON packages (project_id, normalized_name, status)",
    # One per listing order; status last, so filtering and skipping stay in the index.
    "DROP INDEX IF EXISTS packages_by_created",  # replaced by packages_by_created_at
    "CREATE INDEX IF NOT EXISTS packages_by_created_at"
    " ON packages (project_id, created_at, id, status)",
    "CREATE INDEX IF NOT EXISTS packages_by_listed_name"
    " ON packages (project_id, name, id, status)",
    "CREATE INDEX IF NOT EXISTS packages_by_version ON packages (project_id, version, id, status)",
    "CREATE INDEX IF NOT EXISTS packages_by_type"
    " ON packages (project_id, package_type, id, status)",
    "CREATE INDEX IF NOT EXISTS packages_by_status ON packages (status)",
    # One live package per name and version in a project.
    "CREATE UNIQUE INDEX IF NOT EXISTS packages_live_version ON packages"
    " (project_id, package_type, normalized_name, canonical_version)"
    f" WHERE status != '{PENDING_DESTRUCTION}'",
    "CREATE INDEX IF NOT EXISTS files_by_package ON package_files (package_id, status)",
    "CREATE INDEX IF NOT EXISTS files_by_digest ON package_files (project_id, sha256)",
    "CREATE INDEX IF NOT EXISTS files_by_key ON package_files (storage_key, status)",
    "CREATE INDEX IF NOT EXISTS files_by_metadata_key ON package_files (metadata_key, status)",
    "CREATE INDEX IF NOT EXISTS files_by_status ON package_files (status)",
    # One live file per filename in a project.
    "CREATE UNIQUE INDEX IF NOT EXISTS files_live_name"
    " ON package_files (project_id, file_name) WHERE status = 'default'",
    "CREATE UNIQUE INDEX IF NOT EXISTS tokens_secret ON tokens (secret_hash)",
    "CREATE INDEX IF NOT EXISTS reservations_by_key ON blob_reservations (storage_key)",
    "CREATE INDEX IF NOT EXISTS audit_by_entity ON audit_events (entity_type, entity_id, id)",
    "CREATE INDEX IF NOT EXISTS audit_by_path ON audit_events (entity_path COLLATE NOCASE, id)",
    "CREATE INDEX IF NOT EXISTS audit_by_time ON audit_events (created_at, id)",
    # People's pages (schema 6): one row per name in a project, listed by name or by time.
    "CREATE UNIQUE INDEX IF NOT EXISTS names_by_name"
    " ON package_names (project_id, normalized_name)",
    "CREATE INDEX IF NOT EXISTS names_by_time ON package_names (project_id, last_upload_at)",
    # PEP 792 statuses (schema 7): one row per name that is not active.
    "CREATE UNIQUE INDEX IF NOT EXISTS statuses_by_name"
    " ON name_statuses (project_id, normalized_name)",
    # Package protection rules (schema 7): one per pattern and type in a project.
    "CREATE UNIQUE INDEX IF NOT EXISTS rules_by_pattern"
    " ON protection_rules (project_id, package_type, package_name_pattern)",
    # The cache of upstream indexes (schema 8): one page per upstream and name, one row per
    # file any cached page lists, found by the digest and name in its URL.
    "CREATE UNIQUE INDEX IF NOT EXISTS upstream_pages_by_name"
    " ON upstream_pages (upstream, normalized_name)",
    "CREATE UNIQUE INDEX IF NOT EXISTS upstream_files_by_digest"
    " ON upstream_files (sha256, file_name)",
    "CREATE INDEX IF NOT EXISTS upstream_files_by_name ON upstream_files (normalized_name)",
    "CREATE INDEX IF NOT EXISTS upstream_files_by_key ON upstream_files (storage_key)",
    "CREATE INDEX IF NOT EXISTS upstream_files_by_metadata_key"
    " ON upstream_files (metadata_key)",
)


def migrate(catalog: CatalogBase) -> None:
    """Create missing tables, columns and indexes; existing data is kept as it is.

    A catalog written by a newer pypireg is refused rather than half understood.
    """
    db = catalog.db
    with catalog.write():
        db["meta"].create({"key": str, "value": str}, pk="key", if_not_exists=True)
        found = stored_version(catalog)
        if found > SCHEMA_VERSION:
            raise CatalogError(
                f"the catalog {catalog.path or '(in memory)'} has schema version {found},"
                f" made by a newer pypireg; this one reads up to version {SCHEMA_VERSION}:"
                " upgrade pypireg")
        db["groups"].create(
            {"id": int, "path": str, "name": str, "parent_id": int, "visibility": str,
             "created_at": str},
            pk="id", not_null={"path", "name", "visibility", "created_at"},
            foreign_keys=[("parent_id", "groups", "id")], if_not_exists=True,
        )
        db["projects"].create(
            {"id": int, "path": str, "name": str, "group_id": int, "visibility": str,
             "serial": int, "created_at": str},
            pk="id", not_null={"path", "name", "visibility", "serial", "created_at"},
            defaults={"serial": 0}, foreign_keys=[("group_id", "groups", "id")],
            if_not_exists=True,
        )
        db["packages"].create(
            {"id": int, "project_id": int, "name": str, "normalized_name": str,
             "version": str, "canonical_version": str, "package_type": str, "status": str,
             "requires_python": str, "metadata": str, "created_at": str, "updated_at": str,
             "last_downloaded_at": str},
            pk="id",
            not_null={"project_id", "name", "normalized_name", "version", "canonical_version",
                      "package_type", "status", "created_at", "updated_at"},
            defaults={"requires_python": "", "metadata": "{}"},
            foreign_keys=[("project_id", "projects", "id")], if_not_exists=True,
        )
        db["package_files"].create(
            {"id": int, "package_id": int, "project_id": int, "file_name": str, "size": int,
             "md5": str, "sha1": str, "sha256": str, "storage_key": str,
             "requires_python": str, "status": str, "created_at": str},
            pk="id",
            not_null={"package_id", "project_id", "file_name", "size", "md5", "sha1",
                      "sha256", "storage_key", "requires_python", "status", "created_at"},
            foreign_keys=[("package_id", "packages", "id"), ("project_id", "projects", "id")],
            if_not_exists=True,
        )
        db["tokens"].create(
            {"id": int, "name": str, "kind": str, "secret_hash": str, "grants": str,
             "created_at": str},
            pk="id", not_null={"name", "kind", "secret_hash", "grants", "created_at"},
            if_not_exists=True,
        )
        db["audit_events"].create(
            {"id": int, "created_at": str, "event_name": str, "author_id": int,
             "author_name": str, "author_class": str, "ip_address": str, "entity_type": str,
             "entity_id": int, "entity_path": str, "target_type": str, "target_id": str,
             "target_details": str, "details": str},
            pk="id", not_null={"created_at", "event_name", "author_name", "entity_type",
                               "entity_path"},
            defaults={"details": "{}"}, if_not_exists=True,
        )
        # Uploads in flight (schema 5): see .blobs.
        db["blob_reservations"].create(
            {"id": int, "storage_key": str, "created_at": str}, pk="id",
            not_null={"storage_key", "created_at"}, if_not_exists=True)
        db["cleanup_policies"].create(
            {"project_id": int, "keep_n_duplicated_package_files": str,
             "keep_n_latest_versions": int, "older_than": str, "include_names": str,
             "exclude_names": str, "updated_at": str},
            pk="project_id", not_null={"keep_n_duplicated_package_files", "updated_at"},
            foreign_keys=[("project_id", "projects", "id")], if_not_exists=True,
        )
        # What people's pages show (schema 6): see .browsing.
        db["package_names"].create(
            {"id": int, "project_id": int, "normalized_name": str, "name": str,
             "version": str, "summary": str, "last_upload_at": str, "last_version": str},
            pk="id", not_null={"project_id", "normalized_name", "name", "version",
                               "summary", "last_upload_at", "last_version"},
            defaults={"summary": ""}, foreign_keys=[("project_id", "projects", "id")],
            if_not_exists=True)
        db["package_details"].create(
            {"package_id": int, "details": str}, pk="package_id", not_null={"details"},
            foreign_keys=[("package_id", "packages", "id")], if_not_exists=True)
        db["name_statuses"].create(
            {"id": int, "project_id": int, "normalized_name": str, "status": str,
             "reason": str, "updated_at": str},
            pk="id", not_null={"project_id", "normalized_name", "status", "reason",
                               "updated_at"},
            foreign_keys=[("project_id", "projects", "id")], if_not_exists=True)
        # PEP 740 (schema 7): a file's provenance object, as the Integrity API serves it.
        db["file_provenance"].create(
            {"file_id": int, "provenance": str}, pk="file_id", not_null={"provenance"},
            foreign_keys=[("file_id", "package_files", "id")], if_not_exists=True)
        db["protection_rules"].create(
            {"id": int, "project_id": int, "package_name_pattern": str, "package_type": str,
             "minimum_access_level_for_push": str, "minimum_access_level_for_delete": str,
             "updated_at": str},
            pk="id", not_null={"project_id", "package_name_pattern", "package_type",
                               "updated_at"},
            foreign_keys=[("project_id", "projects", "id")], if_not_exists=True)
        # The cache of upstream indexes (schema 8): see .upstream.
        db["upstream_pages"].create(
            {"id": int, "upstream": str, "normalized_name": str, "found": int, "name": str,
             "files": str, "status": str, "status_reason": str, "etag": str,
             "last_modified": str, "checked_at": str, "changed_at": str},
            pk="id", not_null={"upstream", "normalized_name", "found", "name", "files",
                               "status", "status_reason", "etag", "last_modified",
                               "checked_at", "changed_at"}, if_not_exists=True)
        db["upstream_files"].create(
            {"id": int, "sha256": str, "file_name": str, "normalized_name": str,
             "upstream": str, "url": str, "size": int, "upload_time": str,
             "metadata_sha256": str, "storage_key": str, "metadata_key": str,
             "cached_at": str, "cached_size": int, "fetch_owner": str,
             "fetch_heartbeat": str},
            pk="id", not_null={"sha256", "file_name", "normalized_name", "upstream", "url",
                               "upload_time"}, if_not_exists=True)
        if not db["package_names_fts"].exists():
            # Kept in step with package_names by triggers (sqlite-utils writes them).
            db["package_names"].enable_fts(["name", "summary"], create_triggers=True,
                                           tokenize="unicode61")
        for table, added in (("package_files", _ADDED_FILE_COLUMNS),
                             ("tokens", _ADDED_TOKEN_COLUMNS),
                             ("groups", _ADDED_NAMESPACE_COLUMNS),
                             ("projects", _ADDED_NAMESPACE_COLUMNS)):
            columns = db[table].columns_dict
            for column, kind in added.items():
                if column not in columns:
                    db[table].add_column(column, kind,
                                         not_null_default=0 if kind is int else None)
        for sql in INDEXES:
            db.execute(sql)
        db["meta"].upsert({"key": "schema_version", "value": str(SCHEMA_VERSION)}, pk="key")
    refresh_statistics(catalog)


def refresh_statistics(catalog: CatalogBase, *, force: bool = False) -> bool:
    """Gather the query planner's statistics again once the catalog has doubled (or
    ``force``); returns whether it did. Runs on every open and in gc, so statistics keep
    up with a growing registry. ``analysis_limit`` keeps each run to milliseconds however
    big the tables are."""
    db = catalog.db
    size = catalog.value("SELECT coalesce(max(id), 0) FROM package_files")
    stored = catalog.value("SELECT value FROM meta WHERE key = 'analyzed_at_files'")
    analyzed = int(stored) if stored is not None else -1
    if not force and analyzed >= 0 and size < max(2 * analyzed, 1000):
        return False
    with catalog.write():
        db.execute("PRAGMA analysis_limit = 1000")
        db.execute("ANALYZE")
        db["meta"].upsert({"key": "analyzed_at_files", "value": str(size)}, pk="key")
    return True


def stored_version(catalog: CatalogBase) -> int:
    """The schema version a catalog was last written with (0 for a new one)."""
    stored = catalog.value("SELECT value FROM meta WHERE key = 'schema_version'")
    return int(stored) if stored is not None else 0
