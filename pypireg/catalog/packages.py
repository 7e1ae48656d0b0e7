"""Packages (a name and version in a project) and their files."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..models import (
    PENDING_DESTRUCTION,
    FileLink,
    IndexEntry,
    Package,
    PackageFile,
)
from .base import load_json, utcnow
from .names import INSTALLABLE, NameQueries

# Page queries keep statuses off their indexes (``engine.unindexed``): driven by a status
# index, a query would visit every live row of the registry, where a page should walk only
# its own project's and name's rows, whatever the statistics.
_FILE_COLUMNS = (
    "f.id, f.package_id, f.project_id, f.file_name, f.size, f.md5, f.sha1, f.sha256,"
    " f.storage_key, f.requires_python, f.created_at, f.metadata_sha256, f.metadata_key,"
    " f.yanked, coalesce(f.yanked_reason, '') AS yanked_reason"
)


def to_package(row: Mapping[str, Any]) -> Package:
    return Package(
        id=row["id"], project_id=row["project_id"], name=row["name"],
        normalized_name=row["normalized_name"], version=row["version"],
        package_type=row["package_type"], status=row["status"],
        created_at=row["created_at"], updated_at=row["updated_at"],
        last_downloaded_at=row["last_downloaded_at"], metadata=load_json(row["metadata"]),
    )


class PackageQueries(NameQueries):
    # -- simple pages -------------------------------------------------------------------------

    def package_index(self, project_ids: Iterable[int]) -> list[IndexEntry]:
        """Each installable package name once, with its newest requires-python."""
        in_projects, ids = self.in_projects("project_id", project_ids)
        cursor = self.tuples(
            "SELECT name, normalized_name, requires_python FROM packages WHERE id IN ("
            f" SELECT max(id) FROM packages WHERE {in_projects}"
            f" AND {self.engine.unindexed('status')} IN ({INSTALLABLE})"
            " GROUP BY normalized_name) ORDER BY normalized_name",
            ids,
        )
        return list(map(IndexEntry._make, cursor))

    def file_links(self, project_ids: Iterable[int], normalized_name: str) -> list[FileLink]:
        """Every live file of every installable version of one name, each file once (a
        group's projects may hold the same file), in upload order of its first version."""
        in_projects, ids = self.in_projects("p.project_id", project_ids)
        rows = self.tuples(
            "SELECT p.name AS package_name, p.version, f.file_name, f.sha256,"
            " f.requires_python, f.size, f.created_at AS upload_time, f.metadata_sha256,"
            " f.yanked, coalesce(f.yanked_reason, '') AS yanked_reason,"
            " EXISTS (SELECT 1 FROM file_provenance v WHERE v.file_id = f.id) AS provenance"
            " FROM packages p JOIN package_files f ON f.package_id = p.id"
            f" WHERE {in_projects} AND p.normalized_name = ?"
            f" AND {self.engine.unindexed('p.status')} IN ({INSTALLABLE})"
            f" AND {self.engine.unindexed('f.status')} = 'default'"
            " ORDER BY p.id, f.file_name",
            [*ids, normalized_name],
        )
        seen: set[tuple[str, str]] = set()
        links = []
        for row in rows:
            link = FileLink(*row)
            if (link.file_name, link.sha256) not in seen:
                seen.add((link.file_name, link.sha256))
                links.append(link)
        return links

    def live_file(
        self, project_ids: Iterable[int], sha256: str, file_name: str
    ) -> tuple[PackageFile, bool] | None:
        """A live file of an installable package in these projects, by digest and name,
        and whether its name is quarantined in its project (PEP 792: it is not served)."""
        in_projects, ids = self.in_projects("f.project_id", project_ids)
        row = self._file_row(
            f"{in_projects} AND f.file_name = ? AND f.sha256 = ?"
            f" AND {self.engine.unindexed('p.status')} IN ({INSTALLABLE})",
            [*ids, file_name, sha256],
            also=", EXISTS (SELECT 1 FROM name_statuses s WHERE s.project_id = f.project_id"
                 " AND s.normalized_name = p.normalized_name AND s.status = 'quarantined')"
                 " AS quarantined")
        if row is None:
            return None
        quarantined = bool(row.pop("quarantined"))
        return PackageFile(**row), quarantined

    def file_provenance(self, file_id: int) -> dict[str, Any] | None:
        """A file's PEP 740 provenance object, if it was uploaded with attestations."""
        return load_json(self.value("SELECT provenance FROM file_provenance WHERE file_id = ?",
                                    [file_id]))

    def live_file_named(self, project_id: int, file_name: str) -> PackageFile | None:
        """The live file with this name in a project, whatever its package's status."""
        return self._one_file("f.project_id = ? AND f.file_name = ?", [project_id, file_name])

    def _one_file(self, where: str, params: list[Any]) -> PackageFile | None:
        row = self._file_row(where, params)
        return PackageFile(**row) if row else None

    def _file_row(self, where: str, params: list[Any], also: str = "") -> dict[str, Any] | None:
        """One live file's columns (and ``also`` these), its package joined as ``p``."""
        return self.row(
            f"SELECT {_FILE_COLUMNS}{also} FROM package_files f"
            " JOIN packages p ON p.id = f.package_id"
            f" WHERE {self.engine.unindexed('f.status')} = 'default' AND {where} LIMIT 1",
            params,
        )

    # -- one package --------------------------------------------------------------------------

    def package(self, project_id: int, package_id: int) -> Package | None:
        """An installable package of the project (the API shows no other single package)."""
        row = self.row(
            f"SELECT * FROM packages WHERE id = ? AND project_id = ? AND status IN ({INSTALLABLE})",
            [package_id, project_id],
        )
        return to_package(row) if row else None

    def package_by_id(self, package_id: int) -> Package:
        """A package whatever its project and status (it must exist)."""
        return to_package(self.row("SELECT * FROM packages WHERE id = ?",  # type: ignore[arg-type]
                                   [package_id]))

    def other_versions(self, package: Package) -> list[Package]:
        """The project's other versions of the same name, oldest first."""
        rows = self.rows(
            "SELECT * FROM packages WHERE project_id = ? AND normalized_name = ?"
            " AND package_type = ? AND id != ? AND status != ? ORDER BY created_at, id",
            [package.project_id, package.normalized_name, package.package_type, package.id,
             PENDING_DESTRUCTION],
        )
        return [to_package(row) for row in rows]

    def package_files(
        self, package_id: int, *, limit: int, offset: int
    ) -> tuple[list[PackageFile], int]:
        """One page of a package's live files, oldest first, and how many there are."""
        where = "f.package_id = ? AND f.status = 'default'"
        total = self.value(f"SELECT count(*) FROM package_files f WHERE {where}", [package_id])
        rows = self.rows(
            f"SELECT {_FILE_COLUMNS} FROM package_files f WHERE {where}"
            " ORDER BY f.id LIMIT ? OFFSET ?",
            [package_id, limit, offset],
        )
        return [PackageFile(**row) for row in rows], total

    def package_file(self, package_id: int, file_id: int) -> PackageFile | None:
        row = self.row(
            f"SELECT {_FILE_COLUMNS} FROM package_files f"
            " WHERE f.id = ? AND f.package_id = ? AND f.status = 'default'",
            [file_id, package_id],
        )
        return PackageFile(**row) if row else None

    # -- writing ------------------------------------------------------------------------------

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
        details: dict[str, Any] | None = None,
        provenance: dict[str, Any] | None = None,
        now: str | None = None,
    ) -> tuple[Package, PackageFile]:
        """Record one uploaded file, creating its package (name + version) if needed.

        ``details`` (what its page shows, :mod:`pypireg.details`) replace the package's;
        ``provenance`` is the file's PEP 740 provenance object; ``now`` its upload time (a
        stage's files share one). Call inside ``write()``; bumps the project's change serial.
        """
        now = now or utcnow()
        with self.write():
            existing = self.row(
                "SELECT * FROM packages WHERE project_id = ? AND package_type = 'pypi'"
                " AND normalized_name = ? AND canonical_version = ? AND status != ?",
                [project_id, normalized_name, canonical_version, PENDING_DESTRUCTION],
            )
            requires_python = file["requires_python"]
            if existing:
                package_id = existing["id"]
                self.update("packages", package_id, {
                    "updated_at": now, "requires_python": requires_python,
                    "metadata": {**load_json(existing["metadata"]), **metadata}})
            else:
                package_id = self.next_id("packages")
                self.insert("packages", {
                    "id": package_id, "project_id": project_id, "name": name,
                    "normalized_name": normalized_name, "version": version,
                    "canonical_version": canonical_version,
                    "package_type": "pypi", "status": "default",
                    "requires_python": requires_python, "metadata": metadata,
                    "created_at": now, "updated_at": now,
                })
            file_row = {**file, "id": self.next_id("package_files"), "package_id": package_id,
                        "project_id": project_id, "status": "default", "created_at": now}
            self.insert("package_files", file_row)
            if provenance is not None:
                self.insert("file_provenance", {"file_id": file_row["id"],
                                                "provenance": provenance})
            if details is not None:
                self.set_package_details(package_id, details)
            self.note_upload(
                project_id, normalized_name, name, version, str(metadata.get("summary", "")),
                now)
            self.bump_serial(project_id)
            package = self.package_by_id(package_id)
        del file_row["status"]
        return package, PackageFile(**file_row)

    def destroy_package(self, package: Package) -> list[str]:
        """Soft-delete a package and its files; returns the storage keys they used."""
        now = utcnow()
        with self.write():
            keys = [key for row in self.rows(
                "SELECT storage_key, metadata_key FROM package_files"
                " WHERE package_id = ? AND status = 'default'",
                [package.id],
            ) for key in (row["storage_key"], row["metadata_key"]) if key]
            self.run("UPDATE package_files SET status = ? WHERE package_id = ?",
                     [PENDING_DESTRUCTION, package.id])
            self.update("packages", package.id, {"status": PENDING_DESTRUCTION, "updated_at": now})
            self.refresh_names(
                package.project_id, [package.normalized_name])
            self.bump_serial(package.project_id)
        return keys

    def destroy_file(self, package: Package, package_file: PackageFile) -> list[str]:
        """Soft-delete one file; returns the storage keys it used."""
        with self.write():
            self.update("package_files", package_file.id, {"status": PENDING_DESTRUCTION})
            self.update("packages", package.id, {"updated_at": utcnow()})
            self.refresh_names(package.project_id, [package.normalized_name])
            self.bump_serial(package.project_id)
        return [k for k in (package_file.storage_key, package_file.metadata_key) if k]

    def live_package(self, project_id: int, normalized_name: str,
                     canonical_version: str) -> Package | None:
        row = self.row(
            "SELECT * FROM packages WHERE project_id = ? AND normalized_name = ?"
            " AND canonical_version = ? AND status != ?",
            [project_id, normalized_name, canonical_version, PENDING_DESTRUCTION])
        return to_package(row) if row else None

    def set_yanked(self, package: Package, *, yanked: bool, reason: str = "",
                   file_name: str | None = None) -> int:
        """Yank or unyank a package's live files (or the one named); returns how many
        changed (a file already in that state, with that reason, does not count)."""
        reason = reason if yanked else ""
        where = ("package_id = ? AND status = 'default'"
                 " AND (yanked != ? OR coalesce(yanked_reason, '') != ?)")
        params: list[Any] = [package.id, int(yanked), reason]
        if file_name is not None:
            where, params = where + " AND file_name = ?", [*params, file_name]
        with self.write():
            changed = self.run(
                f"UPDATE package_files SET yanked = ?, yanked_reason = ? WHERE {where}",
                [int(yanked), reason, *params])
            if changed:
                self.update("packages", package.id, {"updated_at": utcnow()})
                self.refresh_names(package.project_id, [package.normalized_name])
                self.bump_serial(package.project_id)
        return changed

    def record_downloads(self, last_downloads: Mapping[int, str],
                         counts: Mapping[Any, int] | None = None) -> None:
        """Set ``last_downloaded_at`` for many packages, and add ``counts`` (by
        :class:`~.downloads.FileDay`) to the download statistics, in one transaction."""
        with self.write():
            self.run_many(
                "UPDATE packages SET last_downloaded_at = ? WHERE id = ?",
                [(when, package_id) for package_id, when in last_downloads.items()],
            )
            if counts:
                self.count_downloads(counts)  # type: ignore[attr-defined]

    def files_never_checked_for_metadata(self, limit: int = 500) -> list[PackageFile]:
        """Live files stored before core metadata was kept (PEP 658), a batch at a time."""
        rows = self.rows(
            f"SELECT {_FILE_COLUMNS} FROM package_files f"
            " WHERE f.status = 'default' AND f.metadata_sha256 IS NULL ORDER BY f.id LIMIT ?",
            [limit])
        return [PackageFile(**row) for row in rows]

    def set_file_metadata(self, package_file: PackageFile, sha256: str, key: str | None
                          ) -> None:
        """Record a file's core metadata (``sha256`` "" and ``key`` None: it has none)."""
        with self.write():
            self.update("package_files", package_file.id,
                        {"metadata_sha256": sha256, "metadata_key": key})
            if sha256:
                self.bump_serial(package_file.project_id)  # its pages gain attributes

    # -- storage bookkeeping (see also .blobs) --------------------------------------------

    def purge_destroyed(self) -> tuple[int, int, set[str]]:
        """Delete soft-deleted rows for good: ``(packages, files, their storage keys)``."""
        with self.write():
            keys = {key for row in self.rows(
                "SELECT storage_key, metadata_key FROM package_files WHERE status = ?",
                [PENDING_DESTRUCTION]) for key in (row["storage_key"], row["metadata_key"]) if key}
            self.remember_last_id("package_files")
            self.remember_last_id("packages")
            for table in ("file_provenance", "download_counts"):
                self.run(f"DELETE FROM {table} WHERE file_id IN"
                         " (SELECT id FROM package_files WHERE status = ?)",
                         [PENDING_DESTRUCTION])
            files = self.run("DELETE FROM package_files WHERE status = ?", [PENDING_DESTRUCTION])
            self.run("DELETE FROM package_details WHERE package_id IN"
                     " (SELECT id FROM packages WHERE status = ?)", [PENDING_DESTRUCTION])
            packages = self.run(
                "DELETE FROM packages WHERE status = ? AND id NOT IN"
                " (SELECT package_id FROM package_files)", [PENDING_DESTRUCTION])
        return packages, files, keys



