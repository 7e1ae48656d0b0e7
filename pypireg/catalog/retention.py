"""Cleanup policies, and the versions a cleanup chooses from."""

from __future__ import annotations

from typing import Any

from .base import CatalogBase, load_json, utcnow
from .packages import INSTALLABLE


class RetentionQueries(CatalogBase):
    def cleanup_policy(self, project_id: int) -> dict[str, Any] | None:
        row = self.row("SELECT * FROM cleanup_policies WHERE project_id = ?", [project_id])
        if row is None:
            return None
        for column in ("include_names", "exclude_names"):
            row[column] = tuple(load_json(row[column]) or ())
        return row

    def set_cleanup_policy(self, project_id: int, fields: dict[str, Any]) -> None:
        with self.write():
            self.upsert("cleanup_policies", {
                "project_id": project_id, **fields,
                "include_names": list(fields["include_names"]),
                "exclude_names": list(fields["exclude_names"]), "updated_at": utcnow()},
                key="project_id")

    def projects_with_cleanup_policies(self) -> list[int]:
        return [row["project_id"] for row in self.rows(
            "SELECT c.project_id FROM cleanup_policies c JOIN projects p ON p.id = c.project_id"
            " WHERE p.deleted_at IS NULL ORDER BY c.project_id")]

    def versions_with_usage(self, project_id: int) -> list[dict[str, Any]]:
        """Every installable version in the project, with its live files, how many of them
        are yanked, and their bytes."""
        return self.rows(
            "SELECT p.id, p.name, p.normalized_name, p.version, p.created_at,"
            " count(f.id) AS files, CAST(coalesce(sum(f.yanked), 0) AS BIGINT) AS yanked_files,"
            " CAST(coalesce(sum(f.size), 0) AS BIGINT) AS bytes"
            " FROM packages p LEFT JOIN package_files f"
            "  ON f.package_id = p.id AND f.status = 'default'"
            f" WHERE p.project_id = ? AND p.status IN ({INSTALLABLE}) GROUP BY p.id"
            " ORDER BY p.id",
            [project_id])
