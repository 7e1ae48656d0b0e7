"""The catalog's tables, declared once for every engine.

Each table and each column says the schema version that brought it, so a catalog of any
version is brought up to date the same way on SQLite and on PostgreSQL: a missing table
is created whole, a missing column added (:func:`bring_up_to_date`). To add a column,
append it to its table with ``since=`` the new :data:`SCHEMA_VERSION`, nullable or with a
default (an existing row must get a value), and raise :data:`SCHEMA_VERSION`; the schema
tests build every older version on both engines, upgrade it, and compare it with a new
catalog. The indexes are one list too (:data:`INDEXES`), in SQLite's spelling, which
:mod:`.postgres_schema` translates. Data a version keeps elsewhere is moved once, by
:func:`move_data`, when a catalog older than that version is opened.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..models import PENDING_DESTRUCTION

if TYPE_CHECKING:
    from .base import CatalogBase

SCHEMA_VERSION = 12
OLDEST = {"sqlite": 1, "postgresql": 4}  # the first version each engine was written at

INT, FLAG, TEXT = "int", "flag", "text"  # a number (an id, a size), a 0 or 1, a string
TYPES = {"sqlite": {INT: "INTEGER", FLAG: "INTEGER", TEXT: "TEXT"},
         "postgresql": {INT: "BIGINT", FLAG: "INTEGER", TEXT: "TEXT"}}


@dataclass(frozen=True)
class Column:
    name: str
    kind: str = TEXT
    not_null: bool = False
    default: str | None = None  # an SQL literal: 0, '', '{}'
    references: str | None = None  # the table whose id it holds
    since: int = 1  # the version that added it to its table (its table's, if later)

    def sql(self, engine: str) -> str:
        spelled = f"{self.name} {TYPES[engine][self.kind]}"
        if self.not_null:
            spelled += " NOT NULL"
        if self.default is not None:
            spelled += f" DEFAULT {self.default}"
        if self.references:
            spelled += f" REFERENCES {self.references} (id)"
        return spelled


@dataclass(frozen=True)
class Table:
    name: str
    key: Column  # the primary key
    columns: tuple[Column, ...]
    since: int = 1

    def create(self, engine: str, version: int = SCHEMA_VERSION) -> str:
        """``CREATE TABLE IF NOT EXISTS``, with the columns a catalog of ``version`` has."""
        key = f"{self.key.name} {TYPES[engine][self.key.kind]} PRIMARY KEY"
        if self.key.references:
            key += f" REFERENCES {self.key.references} (id)"
        columns = [column.sql(engine) for column in self.columns if column.since <= version]
        return f"CREATE TABLE IF NOT EXISTS {self.name} ({', '.join([key, *columns])})"

    def add(self, column: Column, engine: str) -> str:
        return f"ALTER TABLE {self.name} ADD COLUMN {column.sql(engine)}"


def _id(references: str | None = None) -> Column:
    return Column("id", INT, references=references)


def _text(*names: str, since: int = 1) -> tuple[Column, ...]:
    """Required text columns."""
    return tuple(Column(name, TEXT, not_null=True, since=since) for name in names)


def _optional(*names: str, since: int = 1) -> tuple[Column, ...]:
    """Text columns that may be NULL."""
    return tuple(Column(name, since=since) for name in names)


TABLES = (
    Table("meta", Column("key"), _optional("value")),
    Table("groups", _id(), (
        *_text("path", "name"), Column("parent_id", INT, references="groups"),
        *_text("visibility", "created_at"), *_optional("deleted_at", since=4))),
    Table("projects", _id(), (
        *_text("path", "name"), Column("group_id", INT, references="groups"),
        *_text("visibility"), Column("serial", INT, not_null=True, default="0"),
        *_text("created_at"), *_optional("deleted_at", since=4))),
    Table("packages", _id(), (
        Column("project_id", INT, not_null=True, references="projects"),
        *_text("name", "normalized_name", "version", "canonical_version", "package_type",
               "status"),
        Column("requires_python", default="''"), Column("metadata", default="'{}'"),
        *_text("created_at", "updated_at"), *_optional("last_downloaded_at"))),
    Table("package_files", _id(), (
        Column("package_id", INT, not_null=True, references="packages"),
        Column("project_id", INT, not_null=True, references="projects"),
        *_text("file_name"), Column("size", INT, not_null=True),
        *_text("md5", "sha1", "sha256", "storage_key", "requires_python", "status",
               "created_at"),
        # PEP 658: the sha256 of the file's core metadata (NULL: not looked at yet; '':
        # none), and its blob; PEP 592.
        *_optional("metadata_sha256", "metadata_key", since=2),
        Column("yanked", FLAG, not_null=True, default="0", since=2),
        *_optional("yanked_reason", since=2))),
    Table("tokens", _id(), (
        *_text("name", "kind", "secret_hash", "grants", "created_at"),
        *_optional("expires_at", "last_used_at", since=3),
        Column("revoked", FLAG, not_null=True, default="0", since=3),
        # A token minted by trusted publishing: a JSON object of the publishers and the
        # identity token's claims that the audit log shows beside its every change.
        *_optional("trusted_publishing", since=10))),
    Table("audit_events", _id(), (
        *_text("created_at", "event_name"), Column("author_id", INT),
        *_text("author_name"), *_optional("author_class", "ip_address"),
        *_text("entity_type"), Column("entity_id", INT), *_text("entity_path"),
        *_optional("target_type", "target_id", "target_details"),
        Column("details", default="'{}'")), since=4),
    # Uploads in flight: see .blobs.
    Table("blob_reservations", _id(), _text("storage_key", "created_at"), since=5),
    Table("cleanup_policies", Column("project_id", INT, references="projects"), (
        *_text("keep_n_duplicated_package_files"), Column("keep_n_latest_versions", INT),
        *_optional("older_than", "include_names", "exclude_names"), *_text("updated_at")),
        since=4),
    # What people's pages show: see .browsing.
    Table("package_names", _id(), (
        Column("project_id", INT, not_null=True, references="projects"),
        *_text("normalized_name", "name", "version"),
        Column("summary", not_null=True, default="''"),
        *_text("last_upload_at", "last_version")), since=6),
    Table("name_statuses", _id(), (
        Column("project_id", INT, not_null=True, references="projects"),
        *_text("normalized_name", "status", "reason", "updated_at")), since=7),
    # PEP 740: a file's provenance object, as the Integrity API serves it.
    Table("file_provenance", Column("file_id", INT, references="package_files"),
          _text("provenance"), since=7),
    Table("protection_rules", _id(), (
        Column("project_id", INT, not_null=True, references="projects"),
        *_text("package_name_pattern", "package_type"),
        *_optional("minimum_access_level_for_push", "minimum_access_level_for_delete"),
        *_text("updated_at")), since=7),
    Table("package_details", Column("package_id", INT, references="packages"),
          _text("details"), since=6),
    # The cache of upstream indexes: see .upstream. A page's list of files (megabytes on
    # a big page) is a row of its own, so that reading the page's other columns never
    # walks it: its "files" column held it up to version 10, and is "" since.
    Table("upstream_pages", _id(), (
        *_text("upstream", "normalized_name"), Column("found", FLAG, not_null=True),
        *_text("name", "files", "status", "status_reason", "etag", "last_modified",
               "checked_at", "changed_at")), since=8),
    Table("upstream_page_files", _id(references="upstream_pages"), _text("files"), since=11),
    Table("upstream_files", _id(), (
        *_text("sha256", "file_name", "normalized_name", "upstream", "url"),
        Column("size", INT), *_text("upload_time"),
        *_optional("metadata_sha256", "storage_key", "metadata_key", "cached_at"),
        Column("cached_size", INT), *_optional("fetch_owner", "fetch_heartbeat")), since=8),
    # Downloads per file per day (UTC), added up in batches: see .downloads. A row is of
    # an uploaded file (file_id, with its package and project) or of a cached upstream
    # file (upstream_file_id); its key, "FILE_ID:YYYY-MM-DD" or "uID:YYYY-MM-DD", lets one
    # statement add to a day's row on either engine.
    Table("download_counts", Column("key"), (
        Column("file_id", INT), Column("package_id", INT), Column("project_id", INT),
        Column("upstream_file_id", INT), *_text("day"),
        Column("downloads", INT, not_null=True, default="0")), since=9),
    # Trusted publishing (docs/trusted-publishing.md): the CI identities a project trusts
    # (which fields count depends on the kind; claims is a JSON object), and the identity
    # tokens already exchanged, by issuer and jti (or digest), kept until they expire.
    Table("trusted_publishers", _id(), (
        Column("project_id", INT, not_null=True, references="projects"),
        *_text("kind", "issuer"),
        *_optional("repository", "repository_owner_id", "workflow", "project_path",
                   "ci_config_path", "environment"),
        Column("claims", not_null=True, default="'{}'"), *_text("created_at")), since=10),
    Table("spent_identity_tokens", Column("key"), _text("expires_at"), since=10),
    # Staged releases (docs/staging.md): a stage's files wait in stage_files, on no page,
    # until one write publishes them all as package files. A stage is open, published or
    # expired; a discarded one, and any past its expires_at once gc runs, is deleted.
    Table("stages", _id(), (
        Column("project_id", INT, not_null=True, references="projects"),
        *_text("name", "status", "created_at", "expires_at", "created_by"),
        *_optional("published_at")), since=12),
    Table("stage_files", _id(), (
        Column("stage_id", INT, not_null=True, references="stages"),
        *_text("name", "normalized_name", "version", "canonical_version", "file_name"),
        Column("size", INT, not_null=True),
        *_text("md5", "sha1", "sha256", "storage_key", "requires_python", "created_at"),
        Column("metadata_sha256", not_null=True, default="''"), *_optional("metadata_key"),
        Column("metadata", not_null=True, default="'{}'"),
        *_optional("details", "provenance")), since=12),
    # Webhooks (docs/webhooks.md): a project's or a group's hooks, the deliveries queued in
    # the transaction of the change they tell of, and every attempt at one (.hooks).
    Table("hooks", _id(), (
        Column("project_id", INT, references="projects"),
        Column("group_id", INT, references="groups"),
        *_text("url", "secret", "events"), Column("enabled", FLAG, not_null=True, default="1"),
        *_text("created_at"), *_optional("failing_since", "disabled_reason")), since=12),
    Table("hook_deliveries", _id(), (
        Column("hook_id", INT, not_null=True, references="hooks"),
        *_text("event", "webhook_id", "body", "created_at", "status"),
        Column("attempts", INT, not_null=True, default="0"), *_text("next_attempt_at"),
        *_optional("claimed_until", "claimed_by"), Column("last_status", INT),
        *_optional("last_error", "delivered_at")), since=12),
    Table("hook_attempts", _id(), (
        Column("delivery_id", INT, not_null=True, references="hook_deliveries"),
        *_text("attempted_at"), Column("status_code", INT), *_optional("error"),
        Column("duration_ms", INT, not_null=True, default="0")), since=12),
)

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
    # People's pages: one row per name in a project, listed by name or by time.
    "CREATE UNIQUE INDEX IF NOT EXISTS names_by_name"
    " ON package_names (project_id, normalized_name)",
    "CREATE INDEX IF NOT EXISTS names_by_time ON package_names (project_id, last_upload_at)",
    # PEP 792 statuses: one row per name that is not active.
    "CREATE UNIQUE INDEX IF NOT EXISTS statuses_by_name"
    " ON name_statuses (project_id, normalized_name)",
    # Package protection rules: one per pattern and type in a project.
    "CREATE UNIQUE INDEX IF NOT EXISTS rules_by_pattern"
    " ON protection_rules (project_id, package_type, package_name_pattern)",
    # The cache of upstream indexes: one page per upstream and name, one row per file
    # asked for (or no longer listed), found by the digest and name in its URL.
    "CREATE UNIQUE INDEX IF NOT EXISTS upstream_pages_by_name"
    " ON upstream_pages (upstream, normalized_name)",
    "CREATE UNIQUE INDEX IF NOT EXISTS upstream_files_by_digest"
    " ON upstream_files (sha256, file_name)",
    "CREATE INDEX IF NOT EXISTS upstream_files_by_name ON upstream_files (normalized_name)",
    "CREATE INDEX IF NOT EXISTS upstream_files_by_key ON upstream_files (storage_key)",
    "CREATE INDEX IF NOT EXISTS upstream_files_by_metadata_key"
    " ON upstream_files (metadata_key)",
    # Download statistics, read by package or project over a span of days, and forgotten
    # by age.
    "CREATE INDEX IF NOT EXISTS downloads_by_package ON download_counts (package_id, day)",
    "CREATE INDEX IF NOT EXISTS downloads_by_project ON download_counts (project_id, day)",
    "CREATE INDEX IF NOT EXISTS downloads_by_day ON download_counts (day)",
    "CREATE INDEX IF NOT EXISTS downloads_by_upstream_file"
    " ON download_counts (upstream_file_id, day)",
    # Trusted publishers, found by project, or by the issuer a token names.
    "CREATE INDEX IF NOT EXISTS publishers_by_project ON trusted_publishers (project_id, id)",
    "CREATE INDEX IF NOT EXISTS publishers_by_issuer ON trusted_publishers (issuer)",
    "CREATE INDEX IF NOT EXISTS spent_tokens_by_expiry ON spent_identity_tokens (expires_at)",
    # Staged releases: one open stage per name in a project (a published one's name may
    # be taken again), found by name or by expiry; one file per name in a stage, and the
    # blobs staged files hold.
    "CREATE UNIQUE INDEX IF NOT EXISTS stages_open_name ON stages (project_id, name)"
    " WHERE status = 'open'",
    "CREATE INDEX IF NOT EXISTS stages_by_name ON stages (project_id, name, id)",
    "CREATE INDEX IF NOT EXISTS stages_by_expiry ON stages (expires_at)",
    "CREATE UNIQUE INDEX IF NOT EXISTS stage_files_by_name ON stage_files (stage_id, file_name)",
    "CREATE INDEX IF NOT EXISTS stage_files_by_package"
    " ON stage_files (stage_id, normalized_name)",
    "CREATE INDEX IF NOT EXISTS stage_files_by_key ON stage_files (storage_key)",
    "CREATE INDEX IF NOT EXISTS stage_files_by_metadata_key ON stage_files (metadata_key)",
    # Webhooks: a project's and a group's hooks; a hook's deliveries, oldest pending first;
    # those due; those ended, forgotten by age; a delivery's attempts.
    "CREATE INDEX IF NOT EXISTS hooks_by_project ON hooks (project_id)",
    "CREATE INDEX IF NOT EXISTS hooks_by_group ON hooks (group_id)",
    "CREATE INDEX IF NOT EXISTS deliveries_by_hook ON hook_deliveries (hook_id, status, id)",
    "CREATE INDEX IF NOT EXISTS deliveries_due ON hook_deliveries (status, next_attempt_at)",
    "CREATE INDEX IF NOT EXISTS deliveries_by_time ON hook_deliveries (created_at)",
    "CREATE INDEX IF NOT EXISTS attempts_by_delivery ON hook_attempts (delivery_id, id)",
)


# The tables every change to which gives the catalog's generation (meta's "generation")
# a new random value, by triggers each engine keeps (.changes): what a process keeps in
# memory is read from these alone. Besides projects and groups, those that say which
# names may not come from an upstream index (views/pages.py, forwardable): a change to
# them by any means (SQL by hand, a catch-up of pypireg migrate) is seen everywhere.
WATCHED = ("projects", "groups", "packages", "name_statuses", "protection_rules", "stages",
           "stage_files")


def bring_up_to_date(catalog: CatalogBase, engine: str,
                     columns: Callable[[str], set[str]]) -> None:
    """Create every missing table, and add every missing column to the others
    (``columns(table)``: the names a table has). Call inside ``write()``."""
    for table in TABLES:
        catalog.run(table.create(engine))
        present = columns(table.name)
        for column in table.columns:
            if column.name not in present:
                catalog.run(table.add(column, engine))


def move_data(catalog: CatalogBase, found: int) -> None:
    """Move what a version keeps elsewhere, once, for a catalog last written at version
    ``found`` (0: a new one). Call inside ``write()``, after :func:`bring_up_to_date`."""
    if 8 <= found < 11:  # the cached pages' lists of files, out of their pages' rows
        catalog.run("INSERT INTO upstream_page_files (id, files)"
                    " SELECT id, files FROM upstream_pages")
        catalog.run("UPDATE upstream_pages SET files = ''")


def stored_version(catalog: CatalogBase) -> int:
    """The schema version a catalog was last written with (0 for a new one)."""
    stored = catalog.value("SELECT value FROM meta WHERE key = 'schema_version'")
    return int(stored) if stored is not None else 0
