"""Groups (nested by path) and the projects in them."""

from __future__ import annotations

import re

from ..models import Group, Project, Visibility
from .base import CatalogBase, CatalogError, utcnow

_PATH = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*")


class NamespaceQueries(CatalogBase):
    def create_group(self, path: str, visibility: Visibility) -> Group:
        parent, name = _split(path)
        with self.write():
            self._check_free(path)
            parent_id = self._parent_group_id(parent, path)
            row = {"path": path, "name": name, "parent_id": parent_id,
                   "visibility": visibility, "created_at": utcnow()}
            row["id"] = self.db["groups"].insert(row).last_pk
        return Group(**row)

    def create_project(self, path: str, visibility: Visibility) -> Project:
        parent, name = _split(path)
        with self.write():
            self._check_free(path)
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

    def _check_free(self, path: str) -> None:
        if self.path_exists(path):
            raise CatalogError(f"{path!r} already exists")

    def _parent_group_id(self, parent: str, path: str) -> int | None:
        if not parent:
            return None
        group = self.group_by_path(parent)
        if group is None:
            raise CatalogError(f"parent group {parent!r} of {path!r} does not exist")
        return group.id

    def group_by_path(self, path: str) -> Group | None:
        row = self._by_ref("groups", path, numeric_is_id=False)
        return Group(**row) if row else None

    def group(self, ref: str | int) -> Group | None:
        """A group by numeric id or full path."""
        row = self._by_ref("groups", ref)
        return Group(**row) if row else None

    def project_by_path(self, path: str) -> Project | None:
        row = self._by_ref("projects", path, numeric_is_id=False)
        return Project(**row) if row else None

    def project(self, ref: str | int) -> Project | None:
        """A project by numeric id or full path, as GitLab's ``:id`` accepts either."""
        row = self._by_ref("projects", ref)
        return Project(**row) if row else None

    def _by_ref(self, table: str, ref: str | int, *, numeric_is_id: bool = True) -> dict | None:
        """One row by id (an int, or digits when ``numeric_is_id``) or by full path."""
        if isinstance(ref, int) or (numeric_is_id and ref.isdigit()):
            where, value = "id = ?", int(ref)
        else:
            where, value = "path = ? COLLATE NOCASE", ref
        rows = list(self.db.query(f"SELECT * FROM {table} WHERE {where}", [value]))
        return rows[0] if rows else None

    def projects_in_group(self, group: Group, *, subgroups: bool = True) -> list[Project]:
        """The group's projects, and with ``subgroups`` those of every group below it."""
        if subgroups:
            # Paths are compared case-insensitively; escape LIKE's wildcards in the path.
            pattern = group.path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            rows = self.db.query(
                "SELECT * FROM projects WHERE path LIKE ? ESCAPE '\\' ORDER BY id",
                [pattern + "/%"],
            )
        else:
            rows = self.db.query(
                "SELECT * FROM projects WHERE group_id = ? ORDER BY id", [group.id]
            )
        return [Project(**row) for row in rows]

    def path_exists(self, path: str) -> bool:
        return self.group_by_path(path) is not None or self.project_by_path(path) is not None


def _split(path: str) -> tuple[str, str]:
    """Check a full path and split it into parent path and last segment."""
    if not _PATH.fullmatch(path) or ".." in path:
        raise CatalogError(
            f"{path!r} is not a valid path: use segments of letters, digits, '_', '.' and '-',"
            " each starting with a letter or digit, separated by '/'"
        )
    parent, _, name = path.rpartition("/")
    return parent, name
