"""Package listings for the Packages API: filters, order and one page at a time."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..models import Package
from .base import CatalogBase
from .packages import IN_PROJECTS, _ids, to_package

ORDER_COLUMNS = {
    "created_at": "p.created_at",
    "name": "p.name",
    "version": "p.version",
    "type": "p.package_type",
    "project_path": "pr.path",
}
# Without a status filter GitLab lists these.
DEFAULT_LISTED_STATUSES = ("default", "error")


class ListingQueries(CatalogBase):
    def list_packages(
        self,
        project_ids: Iterable[int],
        *,
        order_by: str = "created_at",
        sort: str = "asc",
        package_type: str | None = None,
        name_terms: Sequence[str] = (),
        status: str | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> tuple[list[Package], int]:
        """One page of packages in these projects, and how many match in all.

        Each whitespace-separated term of the name filter must occur in the name, in any
        case. The page is cut by SQL (LIMIT/OFFSET over an index), never in Python.
        """
        where = [f"p.{IN_PROJECTS}"]
        params: list[object] = [_ids(project_ids)]
        if status:
            where.append("p.status = ?")
            params.append(status)
        else:
            where.append("p.status IN (" + ", ".join("?" * len(DEFAULT_LISTED_STATUSES)) + ")")
            params.extend(DEFAULT_LISTED_STATUSES)
        if package_type:
            where.append("p.package_type = ?")
            params.append(package_type)
        for term in name_terms:
            where.append("p.name LIKE ? ESCAPE '\\'")
            params.append("%" + _escape_like(term) + "%")
        condition = " AND ".join(where)
        total = next(self.db.query(
            f"SELECT count(*) AS n FROM packages p WHERE {condition}", params))["n"]
        direction = "DESC" if sort == "desc" else "ASC"
        rows = self.db.query(
            "SELECT p.* FROM packages p JOIN projects pr ON pr.id = p.project_id"
            f" WHERE {condition} ORDER BY {ORDER_COLUMNS[order_by]} {direction},"
            f" p.id {direction} LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [to_package(row) for row in rows], total


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
