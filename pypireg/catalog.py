"""The catalog: groups, projects, packages, files and tokens in SQLite.

This is the only module that speaks SQL, so another database can implement the same
methods. One connection per thread, WAL mode and a busy timeout let several threads
and processes (gunicorn workers) share one data directory.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from sqlite_utils import Database

from .models import (
    INSTALLABLE_STATUSES,
    PENDING_DESTRUCTION,
    FileLink,
    Group,
    IndexEntry,
    Package,
    PackageFile,
    Project,
    Visibility,
)

SCHEMA_VERSION = 1
_INSTALLABLE = ", ".join(f"'{s}'" for s in INSTALLABLE_STATUSES)


class CatalogError(Exception):
    """A catalog rule was broken (unknown parent, duplicate path, ...); the message says which."""


def utcnow() -> str:
    """GitLab-style timestamp: ``2019-11-27T03:37:38.711Z``."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Catalog:
    """SQLite catalog at ``path``; ``None`` gives a private in-memory one."""

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
        self._migrate()

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

    # -- schema --------------------------------------------------------------------------

    def _migrate(self) -> None:
        db = self.db
        with self.write():
            db["meta"].create({"key": str, "value": str}, pk="key", if_not_exists=True)
            db["groups"].create(
                {"id": int, "path": str, "name": str, "parent_id": int,
                 "visibility": str, "created_at": str},
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
                 "requires_python": str, "metadata": str, "created_at": str,
                 "updated_at": str, "last_downloaded_at": str},
                pk="id",
                not_null={"project_id", "name", "normalized_name", "version",
                          "canonical_version", "package_type", "status", "created_at",
                          "updated_at"},
                defaults={"requires_python": "", "metadata": "{}"},
                foreign_keys=[("project_id", "projects", "id")], if_not_exists=True,
            )
            db["package_files"].create(
                {"id": int, "package_id": int, "project_id": int, "file_name": str,
                 "size": int, "md5": str, "sha1": str, "sha256": str, "storage_key": str,
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
            for sql in (
                "CREATE UNIQUE INDEX IF NOT EXISTS groups_path ON groups (path COLLATE NOCASE)",
                "CREATE UNIQUE INDEX IF NOT EXISTS projects_path"
                " ON projects (path COLLATE NOCASE)",
                "CREATE INDEX IF NOT EXISTS packages_by_name"
                " ON packages (project_id, normalized_name, status)",
                # One live package per name and version in a project.
                "CREATE UNIQUE INDEX IF NOT EXISTS packages_live_version ON packages"
                " (project_id, package_type, normalized_name, canonical_version)"
                f" WHERE status != '{PENDING_DESTRUCTION}'",
                "CREATE INDEX IF NOT EXISTS files_by_package ON package_files (package_id)",
                "CREATE INDEX IF NOT EXISTS files_by_digest"
                " ON package_files (project_id, sha256)",
                "CREATE INDEX IF NOT EXISTS files_by_key ON package_files (storage_key)",
                # One live file per filename in a project.
                "CREATE UNIQUE INDEX IF NOT EXISTS files_live_name"
                " ON package_files (project_id, file_name) WHERE status = 'default'",
                "CREATE UNIQUE INDEX IF NOT EXISTS tokens_secret ON tokens (secret_hash)",
            ):
                db.execute(sql)
            db["meta"].upsert({"key": "schema_version", "value": str(SCHEMA_VERSION)}, pk="key")

    # -- groups and projects -----------------------------------------------------------------

    def create_group(self, path: str, visibility: Visibility) -> Group:
        parent, name = _split(path)
        with self.write():
            if self.group_by_path(path) or self.project_by_path(path):
                raise CatalogError(f"{path!r} already exists")
            parent_id = self._parent_group_id(parent, path)
            row = {"path": path, "name": name, "parent_id": parent_id,
                   "visibility": visibility, "created_at": utcnow()}
            row["id"] = self.db["groups"].insert(row).last_pk
        return Group(**row)

    def create_project(self, path: str, visibility: Visibility) -> Project:
        parent, name = _split(path)
        with self.write():
            if self.group_by_path(path) or self.project_by_path(path):
                raise CatalogError(f"{path!r} already exists")
            group_id = self._parent_group_id(parent, path)
            if group_id is not None and visibility == "public":
                group = self.group_by_path(parent)
                if group and group.visibility == "private":
                    raise CatalogError(
                        f"project {path!r} cannot be public inside private group {parent!r}"
                    )
            row = {"path": path, "name": name, "group_id": group_id,
                   "visibility": visibility, "serial": 0, "created_at": utcnow()}
            row["id"] = self.db["projects"].insert(row).last_pk
        return Project(**row)

    def _parent_group_id(self, parent: str, path: str) -> int | None:
        if not parent:
            return None
        group = self.group_by_path(parent)
        if group is None:
            raise CatalogError(f"parent group {parent!r} of {path!r} does not exist")
        return group.id

    def group_by_path(self, path: str) -> Group | None:
        rows = list(self.db.query("SELECT * FROM groups WHERE path = ? COLLATE NOCASE", [path]))
        return Group(**rows[0]) if rows else None

    def project_by_path(self, path: str) -> Project | None:
        rows = list(
            self.db.query("SELECT * FROM projects WHERE path = ? COLLATE NOCASE", [path])
        )
        return Project(**rows[0]) if rows else None

    def project(self, ref: str | int) -> Project | None:
        """A project by numeric id or full path, as GitLab's ``:id`` accepts either."""
        if isinstance(ref, int) or ref.isdigit():
            rows = list(self.db.query("SELECT * FROM projects WHERE id = ?", [int(ref)]))
            return Project(**rows[0]) if rows else None
        return self.project_by_path(ref)

    def path_exists(self, path: str) -> bool:
        return self.group_by_path(path) is not None or self.project_by_path(path) is not None

    # -- simple pages --------------------------------------------------------------------------

    def package_index(self, project_id: int) -> list[IndexEntry]:
        """Each installable package name once, with its newest requires-python."""
        rows = self.db.query(
            "SELECT name, normalized_name, requires_python FROM packages WHERE id IN ("
            " SELECT max(id) FROM packages"
            f" WHERE project_id = ? AND status IN ({_INSTALLABLE}) GROUP BY normalized_name"
            ") ORDER BY normalized_name",
            [project_id],
        )
        return [IndexEntry(**row) for row in rows]

    def file_links(self, project_id: int, normalized_name: str) -> list[FileLink]:
        """Every live file of every installable version of one package name."""
        rows = self.db.query(
            "SELECT p.name AS package_name, p.version, f.file_name, f.sha256,"
            " f.requires_python FROM packages p JOIN package_files f ON f.package_id = p.id"
            " WHERE p.project_id = ? AND p.normalized_name = ?"
            f" AND p.status IN ({_INSTALLABLE}) AND f.status = 'default'"
            " ORDER BY p.id, f.file_name",
            [project_id, normalized_name],
        )
        return [FileLink(**row) for row in rows]

    # -- files -----------------------------------------------------------------------------------

    def live_file(self, project_id: int, sha256: str, file_name: str) -> PackageFile | None:
        """The live file of an installable package matching both digest and name."""
        return self._one_file(
            "f.project_id = ? AND f.sha256 = ? AND f.file_name = ?"
            f" AND p.status IN ({_INSTALLABLE})",
            [project_id, sha256, file_name],
        )

    def live_file_named(self, project_id: int, file_name: str) -> PackageFile | None:
        """The live file with this name in a project, whatever its package's status."""
        return self._one_file("f.project_id = ? AND f.file_name = ?", [project_id, file_name])

    def _one_file(self, where: str, params: list[Any]) -> PackageFile | None:
        rows = list(self.db.query(
            "SELECT f.id, f.package_id, f.project_id, f.file_name, f.size, f.md5, f.sha1,"
            " f.sha256, f.storage_key, f.requires_python, f.created_at"
            " FROM package_files f JOIN packages p ON p.id = f.package_id"
            f" WHERE f.status = 'default' AND {where} LIMIT 1",
            params,
        ))
        return PackageFile(**rows[0]) if rows else None

    def key_in_use(self, storage_key: str) -> bool:
        """Whether any file row, live or pending destruction, still points at a blob."""
        rows = self.db.query(
            "SELECT 1 FROM package_files WHERE storage_key = ? LIMIT 1", [storage_key]
        )
        return any(True for _ in rows)

    def add_file(
        self,
        project_id: int,
        *,
        name: str,
        normalized_name: str,
        version: str,
        canonical_version: str,
        metadata: dict[str, Any],
        file: dict[str, Any],
    ) -> tuple[Package, PackageFile]:
        """Record one uploaded file, creating its package (name + version) if needed.

        Call inside ``write()``; bumps the project's change serial.
        """
        now = utcnow()
        with self.write():
            rows = list(self.db.query(
                "SELECT * FROM packages WHERE project_id = ? AND package_type = 'pypi'"
                " AND normalized_name = ? AND canonical_version = ? AND status != ?",
                [project_id, normalized_name, canonical_version, PENDING_DESTRUCTION],
            ))
            requires_python = file["requires_python"]
            if rows:
                package_row = rows[0]
                self.db["packages"].update(
                    package_row["id"],
                    {"updated_at": now, "requires_python": requires_python,
                     "metadata": {**_json(package_row["metadata"]), **metadata}},
                )
            else:
                package_row = {
                    "project_id": project_id, "name": name, "normalized_name": normalized_name,
                    "version": version, "canonical_version": canonical_version,
                    "package_type": "pypi", "status": "default",
                    "requires_python": requires_python, "metadata": metadata,
                    "created_at": now, "updated_at": now,
                }
                package_row["id"] = self.db["packages"].insert(package_row).last_pk
            file_row = {**file, "package_id": package_row["id"], "project_id": project_id,
                        "status": "default", "created_at": now}
            file_row["id"] = self.db["package_files"].insert(file_row).last_pk
            self.db.execute("UPDATE projects SET serial = serial + 1 WHERE id = ?", [project_id])
        package = Package(
            id=package_row["id"], project_id=project_id, name=package_row["name"],
            normalized_name=normalized_name, version=package_row["version"],
            package_type="pypi", status=package_row["status"],
            created_at=package_row["created_at"], metadata=metadata,
        )
        del file_row["status"]
        return package, PackageFile(**file_row)

    # -- tokens ----------------------------------------------------------------------------------

    def add_token(self, name: str, kind: str, secret_hash: str, grants: list[dict]) -> int:
        with self.write():
            return self.db["tokens"].insert(
                {"name": name, "kind": kind, "secret_hash": secret_hash, "grants": grants,
                 "created_at": utcnow()}
            ).last_pk

    def token_by_hash(self, secret_hash: str) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM tokens WHERE secret_hash = ?", [secret_hash]))
        if not rows:
            return None
        row = rows[0]
        row["grants"] = _json(row["grants"])
        return row


_PATH = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*")


def _split(path: str) -> tuple[str, str]:
    """Check a full path and split it into parent path and last segment."""
    if not _PATH.fullmatch(path) or ".." in path:
        raise CatalogError(
            f"{path!r} is not a valid path: use segments of letters, digits, '_', '.' and '-',"
            " each starting with a letter or digit, separated by '/'"
        )
    parent, _, name = path.rpartition("/")
    return parent, name


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
