"""PEP 792 statuses of package names in a project (``active`` when none is stored)."""

from __future__ import annotations

from collections.abc import Iterable

from ..models import NAME_STATUS_ORDER, NameStatus
from .base import CatalogBase, utcnow


class StatusQueries(CatalogBase):
    def name_status(self, project_ids: Iterable[int], normalized_name: str) -> NameStatus:
        """The status of a name in these projects: for several (a group's page), the most
        restrictive one of theirs (quarantined, archived, deprecated, active)."""
        in_projects, params = self.in_projects("project_id", project_ids)
        found = [NameStatus(*row) for row in self.tuples(
            f"SELECT status, reason, updated_at FROM name_statuses WHERE {in_projects}"
            " AND normalized_name = ? ORDER BY project_id", [*params, normalized_name])]
        return max(found, key=lambda s: NAME_STATUS_ORDER.index(s.status), default=NameStatus())

    def name_statuses(self, project_id: int) -> dict[str, NameStatus]:
        """Every name of the project with a status other than ``active``."""
        return {row[0]: NameStatus(*row[1:]) for row in self.tuples(
            "SELECT normalized_name, status, reason, updated_at FROM name_statuses"
            " WHERE project_id = ? ORDER BY normalized_name", [project_id])}

    def set_name_status(self, project_id: int, normalized_name: str, status: str,
                        reason: str) -> NameStatus | None:
        """Store a name's status (``active`` removes the row); returns the one it replaced,
        or None when nothing changed. A change moves the project's serial: its pages say
        the status."""
        reason = reason.replace("\x00", "") if status != "active" else ""
        with self.write():
            before = self.name_status([project_id], normalized_name)
            if (before.status, before.reason) == (status, reason):
                return None
            if status == "active":
                self.run("DELETE FROM name_statuses WHERE project_id = ? AND normalized_name = ?",
                         [project_id, normalized_name])
            else:
                self.run(
                    "INSERT INTO name_statuses (id, project_id, normalized_name, status,"
                    " reason, updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (project_id,"
                    " normalized_name) DO UPDATE SET status = excluded.status,"
                    " reason = excluded.reason, updated_at = excluded.updated_at",
                    [self.next_id("name_statuses"), project_id, normalized_name, status,
                     reason, utcnow()])
            self.bump_serial(project_id)
        return before

    def name_known(self, project_ids: list[int], normalized_name: str) -> bool:
        """Whether these projects hold or held the name: a package of it (even one
        deleted and not yet purged) or a status."""
        in_projects, params = self.in_projects("project_id", project_ids)
        return bool(self.value(
            f"SELECT EXISTS (SELECT 1 FROM packages WHERE {in_projects} AND normalized_name = ?)"
            f" OR EXISTS (SELECT 1 FROM name_statuses WHERE {in_projects}"
            " AND normalized_name = ?)", [*params, normalized_name, *params, normalized_name]))
