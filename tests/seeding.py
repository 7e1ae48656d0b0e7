"""Large catalogs, fast: rows written straight into SQLite, for query plans and benchmarks.

The rows are what uploads would have written (names, versions, digests, statuses, and
the rows of people's pages), without the files themselves.
"""

from __future__ import annotations

import hashlib

import pypireg

STAMP = "2026-12-01T00:00:00.000Z"
_PACKAGE = ("INSERT INTO packages (id, project_id, name, normalized_name, version,"
            " canonical_version, package_type, status, requires_python, metadata, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, 'pypi', ?, '', '{}', ?, ?)")
_NAME = ("INSERT INTO package_names (id, project_id, normalized_name, name, version, summary,"
         " last_upload_at, last_version) VALUES (?, ?, ?, ?, '1.0', ?, ?, '1.0')")
_FILE = ("INSERT INTO package_files (id, package_id, project_id, file_name, size, md5, sha1,"
         " sha256, storage_key, requires_python, status, created_at, metadata_sha256,"
         " metadata_key, yanked, yanked_reason) VALUES"
         " (?, ?, ?, ?, 100, '', '', ?, ?, '', ?, ?, '', NULL, 0, '')")


def seed(registry: pypireg.Registry, projects: list[pypireg.Project], packages: int, *,
         files_per_package: int = 2, big: int = 0, deleted_every: int = 10) -> None:
    """``packages`` names of one version each, spread over ``projects``; the first name of
    the first project has ``big`` files. Every ``deleted_every``-th package is
    soft-deleted, as a registry that has run for a while holds some."""
    db = registry.catalog.db
    start_package = (db.execute("SELECT max(id) FROM packages").fetchone()[0] or 0) + 1
    start_file = (db.execute("SELECT max(id) FROM package_files").fetchone()[0] or 0) + 1
    start_name = (db.execute("SELECT max(id) FROM package_names").fetchone()[0] or 0) + 1
    package_rows, file_rows, name_rows = [], [], []
    file_id = start_file
    for n in range(packages):
        package_id = start_package + n
        project = projects[n % len(projects)]
        status = "pending_destruction" if deleted_every and n % deleted_every == 7 else (
            "default")
        name = f"pkg{package_id - 1}"
        package_rows.append((package_id, project.id, name, name, "1.0", "1", status, STAMP,
                             STAMP))
        if status == "default":  # what people's pages list (catalog/names.py)
            name_rows.append((start_name + len(name_rows), project.id, name, name,
                              f"Package number {package_id - 1}", STAMP))
        for j in range(big if n == 0 and big else files_per_package):
            digest = hashlib.sha256(f"{package_id}-{j}".encode()).hexdigest()
            file_rows.append((file_id, package_id, project.id, f"{name}-1.0.{j}.tar.gz",
                              digest, f"sha256/{digest}", status, STAMP))
            file_id += 1
    with registry.catalog.write():
        db.conn.executemany(_PACKAGE, package_rows)
        db.conn.executemany(_FILE, file_rows)
        db.conn.executemany(_NAME, name_rows)
