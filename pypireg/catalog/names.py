"""One row per package name in a project (its current version, summary and last upload),
kept up to date as packages come and go, for people's pages (:mod:`.browsing`) and their
search; and each package's details, as its page shows them."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from packaging.version import InvalidVersion, Version

from ..models import INSTALLABLE_STATUSES
from .base import CatalogBase, load_json

INSTALLABLE = ", ".join(f"'{s}'" for s in INSTALLABLE_STATUSES)
_WORD = re.compile(r"[^\W_]+")
_LOWEST = Version("0.dev0")


def current_key(version: str) -> tuple[bool, Version]:
    """The order in which a version becomes a name's current one: final releases above
    pre-releases (as pip chooses), then by PEP 440."""
    try:
        parsed = Version(version)
    except InvalidVersion:  # never stored by an upload; below every real version
        return (False, _LOWEST)
    return (not parsed.is_prerelease, parsed)


def search_words(text: str) -> list[str]:
    """The lower-case runs of letters and digits in ``text``: the words a search matches."""
    return _WORD.findall(text.lower())


class NameQueries(CatalogBase):
    def note_upload(self, project_id: int, normalized_name: str, name: str, version: str,
                    summary: str, when: str) -> None:
        """Record an upload of ``version`` on its name's row, in the upload's transaction.
        Flat in the number of versions: only the stored current version is compared."""
        summary = summary.replace("\x00", "")  # PostgreSQL's text holds no NUL
        row = self.row("SELECT id, version FROM package_names"
                       " WHERE project_id = ? AND normalized_name = ?",
                       [project_id, normalized_name])
        if row is None:
            self.insert("package_names", {
                "id": self.next_id("package_names"), "project_id": project_id,
                "normalized_name": normalized_name, "name": name, "version": version,
                "summary": summary, "last_upload_at": when, "last_version": version})
        elif current_key(version) >= current_key(row["version"]):
            self.update("package_names", row["id"], {
                "name": name, "version": version, "summary": summary,
                "last_upload_at": when, "last_version": version})
        elif not self._installable(project_id, normalized_name, row["version"]):
            self.refresh_names(project_id, [normalized_name])  # a lower one over a yanked one
        else:
            self.update("package_names", row["id"],
                        {"last_upload_at": when, "last_version": version})

    def _installable(self, project_id: int, normalized_name: str, version: str) -> bool:
        """Whether this version of the name has a live file that is not yanked."""
        return self.value(
            "SELECT count(*) FROM packages p WHERE p.project_id = ? AND p.normalized_name = ?"
            f" AND p.version = ? AND p.status IN ({INSTALLABLE}) AND EXISTS (SELECT 1 FROM"
            " package_files f WHERE f.package_id = p.id AND f.status = 'default'"
            " AND f.yanked = 0)", [project_id, normalized_name, version]) > 0

    def refresh_names(self, project_id: int, normalized_names: Iterable[str]) -> None:
        """Work the rows of these names out again from their live versions (after a
        delete or a yank): the current version, which is what ``pip install NAME`` picks
        (the highest among those with a live file that is not yanked; if all are
        yanked, the highest), and the last upload of a live file. A name without any live
        file loses its row."""
        for normalized_name in set(normalized_names):
            packages = self.rows(
                "SELECT p.name, p.version, p.metadata, max(f.created_at) AS created_at,"
                " min(f.yanked) AS yanked"
                " FROM packages p JOIN package_files f"
                " ON f.package_id = p.id AND f.status = 'default'"
                " WHERE p.project_id = ? AND p.normalized_name = ?"
                f" AND p.status IN ({INSTALLABLE})"
                " GROUP BY p.id, p.name, p.version, p.metadata",
                [project_id, normalized_name])
            row_id = self.value("SELECT id FROM package_names"
                                " WHERE project_id = ? AND normalized_name = ?",
                                [project_id, normalized_name])
            if not packages:
                if row_id is not None:
                    self.run("DELETE FROM package_names WHERE id = ?", [row_id])
                continue
            current = max(packages, key=lambda p: (not p["yanked"], current_key(p["version"])))
            last = max(packages, key=lambda p: p["created_at"])
            fields = {"name": current["name"], "version": current["version"],
                      "summary": str(load_json(current["metadata"]).get("summary", "")
                                     ).replace("\x00", ""),
                      "last_upload_at": last["created_at"], "last_version": last["version"]}
            if row_id is None:
                self.insert("package_names", {
                    "id": self.next_id("package_names"), "project_id": project_id,
                    "normalized_name": normalized_name, **fields})
            else:
                self.update("package_names", row_id, fields)

    def build_names(self) -> None:
        """Fill every name's row from its packages, once: a catalog written before
        schema 6 has packages and no rows for them."""
        if self.value("SELECT value FROM meta WHERE key = 'names_built'") is not None:
            return
        with self.write():
            if self.value("SELECT value FROM meta WHERE key = 'names_built'") is not None:
                return
            for row in self.rows("SELECT DISTINCT project_id, normalized_name FROM packages"):
                self.refresh_names(row["project_id"], [row["normalized_name"]])
            self.upsert("meta", {"key": "names_built", "value": "1"}, key="key")

    def set_package_details(self, package_id: int, details: dict[str, Any]) -> None:
        self.upsert("package_details", {"package_id": package_id, "details": details},
                    key="package_id")

    def packages_without_details(self, limit: int = 500) -> list[tuple[int, int, str]]:
        """Live packages stored before their details were kept (schema 6) that have a
        file with core metadata: ``(project id, package id, the key of the metadata of
        its last file)``, a batch at a time."""
        return [(row["project_id"], row["id"], row["key"]) for row in self.rows(
            "SELECT p.project_id, p.id, (SELECT f.metadata_key FROM package_files f"
            " WHERE f.package_id = p.id"
            " AND f.status = 'default' AND f.metadata_key IS NOT NULL ORDER BY f.id DESC"
            " LIMIT 1) AS key FROM packages p"
            f" WHERE p.status IN ({INSTALLABLE}) AND NOT EXISTS"
            " (SELECT 1 FROM package_details d WHERE d.package_id = p.id) AND EXISTS"
            " (SELECT 1 FROM package_files f WHERE f.package_id = p.id"
            " AND f.status = 'default' AND f.metadata_key IS NOT NULL)"
            " ORDER BY p.id LIMIT ?", [limit])]
