"""Package listings for the Packages API: filters, order and one page at a time."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..models import Package
from .base import CatalogBase
from .packages import to_package

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
        version: str | None = None,
        status: str | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> tuple[list[Package], int]:
        """One page of packages in these projects, and how many match in all.

        Each whitespace-separated term of the name filter must occur in the name, in any
        case; ``version`` is matched exactly, as uploaded (GitLab's ``package_version``).
        The page is cut by SQL (LIMIT/OFFSET over an index), never in Python.
        """
        ids = list(project_ids)
        where: list[str]
        params: list[object]
        if len(ids) == 1:
            # A plain equality lets SQLite walk an order index instead of sorting.
            where, params = ["p.project_id = ?"], [ids[0]]
        else:
            where, params = [self.in_ids("p.project_id")], [self.ids(ids)]
        if status:
            where.append("p.status = ?")
            params.append(status)
        else:
            where.append("p.status IN (" + ", ".join("?" * len(DEFAULT_LISTED_STATUSES)) + ")")
            params.extend(DEFAULT_LISTED_STATUSES)
        if package_type:
            where.append("p.package_type = ?")
            params.append(package_type)
        if version is not None:
            where.append("p.version = ?")
            params.append(version)
        for term in name_terms:
            where.append(f"p.name {self.engine.like} ? ESCAPE '\\'")
            params.append("%" + escape_like(term) + "%")
        condition = " AND ".join(where)
        total = self.value(f"SELECT count(*) FROM packages p WHERE {condition}", params)
        direction = "DESC" if sort == "desc" else "ASC"
        join = " JOIN projects pr ON pr.id = p.project_id" if order_by == "project_path" else ""
        # Pick the page's ids from the index first (skipped rows never touch the table),
        # then read those rows only.
        page_ids = [row["id"] for row in self.rows(
            f"SELECT p.id FROM packages p{join} WHERE {condition}"
            f" ORDER BY {ORDER_COLUMNS[order_by]} {direction}, p.id {direction}"
            " LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )]
        rows = {row["id"]: row for row in self.rows(
            f"SELECT * FROM packages WHERE {self.in_ids('id')}", [self.ids(page_ids)])}
        return [to_package(rows[i]) for i in page_ids], total


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
