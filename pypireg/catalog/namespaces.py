"""Groups (nested by path) and the projects in them."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict
from typing import TypeVar

from ..limits import MAX_ID, as_id
from ..models import PENDING_DESTRUCTION, Group, Project, Usage, Visibility
from .base import CatalogBase, CatalogError, utcnow

LIVE = "deleted_at IS NULL"  # a group or project not deleted
_PROJECT_COLUMNS = "id, path, name, group_id, visibility, serial, created_at"
_COLUMNS = {"projects": _PROJECT_COLUMNS,
            "groups": "id, path, name, parent_id, visibility, created_at"}
T = TypeVar("T", Project, Group)
_PATH = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*")


class NotEmpty(CatalogError):
    """A group or project to delete still holds packages (``force`` deletes them too)."""

    def __init__(self, kind: str, path: str, packages: int) -> None:
        super().__init__(f"{kind} {path!r} holds {packages} package"
                         f"{'' if packages == 1 else 's'}: delete them first, or delete them"
                         " with it (force)")
        self.kind, self.path, self.packages = kind, path, packages


class NamespaceQueries(CatalogBase):
    def create_group(self, path: str, visibility: Visibility) -> Group:
        parent, name = _split(path)
        with self.write():
            self._check_free(path)
            parent_id = self._parent_group_id(parent, path)
            self._check_parent_allows(parent, path, "group", visibility)
            group = Group(id=self.next_id("groups"), path=path, name=name,
                          parent_id=parent_id,
                          visibility=visibility, created_at=utcnow())
            self.insert("groups", asdict(group))
        return group

    def create_project(self, path: str, visibility: Visibility) -> Project:
        parent, name = _split(path)
        with self.write():
            self._check_free(path)
            group_id = self._parent_group_id(parent, path)
            self._check_parent_allows(parent, path, "project", visibility)
            project = Project(id=self.next_id("projects"), path=path, name=name,
                              group_id=group_id,
                              visibility=visibility, serial=0, created_at=utcnow())
            self.insert("projects", asdict(project))
        return project

    def set_visibility(self, path: str, visibility: Visibility) -> Group | Project:
        """Make a group or project public or private, keeping GitLab's rule: nothing is
        more visible than the group it is in."""
        with self.write():
            group, project = self.group_by_path(path), self.project_by_path(path)
            if group is None and project is None:
                raise CatalogError(f"no group or project {path!r}")
            kind, table = ("group", "groups") if group else ("project", "projects")
            parent = path.rpartition("/")[0]
            self._check_parent_allows(parent, path, kind, visibility)
            if group is not None and visibility == "private":
                public = self._public_below(group)
                if public:
                    raise CatalogError(
                        f"group {path!r} cannot be private while something inside it is"
                        f" public ({', '.join(public)}): make that private first")
            self.run(f"UPDATE {table} SET visibility = ?"
                     f" WHERE {self.engine.nocase_equals('path')} AND {LIVE}", [visibility, path])
            if project is not None:
                self.run("UPDATE projects SET serial = serial + 1 WHERE id = ?",
                         [project.id])  # its pages' caching changes
        return self.group_by_path(path) or self.project_by_path(path)  # type: ignore[return-value]

    def delete_namespace(self, path: str, *, force: bool = False) -> int:
        """Delete a group (with everything below it) or a project; returns how many
        packages went with it.

        Refused while it holds packages, unless ``force``: then they are soft-deleted like
        any deleted package, and gc purges them and the deleted rows. The path is free
        again at once.
        """
        with self.write():
            found = self.project_by_path(path) or self.group_by_path(path)
            if found is None:
                raise CatalogError(f"no group or project {path!r}")
            if isinstance(found, Project):
                kind, project_ids, group_ids = "project", [found.id], []
            else:
                kind, project_ids = "group", [p.id for p in self.projects_in_group(found)]
                group_ids = [found.id, *(row["id"] for row in self.rows(
                    f"SELECT id FROM groups WHERE path {self.engine.like} ? ESCAPE '\\'"
                    f" AND {LIVE}",
                    [like_below(path)]))]
            ids = self.ids(project_ids)
            held = self.value(
                f"SELECT count(*) FROM packages WHERE {self.in_ids('project_id')}"
                f" AND status != '{PENDING_DESTRUCTION}'", [ids])
            if held and not force:
                raise NotEmpty(kind, path, held)
            now = utcnow()
            for table in ("package_files", "packages"):
                self.run(f"UPDATE {table} SET status = ? WHERE {self.in_ids('project_id')}",
                         [PENDING_DESTRUCTION, ids])
            self.run("UPDATE projects SET deleted_at = ?, serial = serial + 1"
                     f" WHERE {self.in_ids('id')}", [now, ids])
            self.run(f"UPDATE groups SET deleted_at = ? WHERE {self.in_ids('id')}",
                     [now, self.ids(group_ids)])
        return held

    def purge_deleted_namespaces(self) -> int:
        """Remove deleted projects and groups for good once nothing refers to them (gc
        runs this after purging their packages); returns how many went."""
        removed = 0
        with self.write():
            self.remember_last_id("projects")
            self.remember_last_id("groups")
            self._forget_hooks_of_deleted()
            self.run("DELETE FROM stage_files WHERE stage_id IN (SELECT id FROM stages"
                     " WHERE project_id IN (SELECT id FROM projects WHERE deleted_at IS NOT NULL))")
            for table in ("cleanup_policies", "package_names", "name_statuses",
                          "protection_rules", "trusted_publishers", "stages"):
                self.run(f"DELETE FROM {table} WHERE project_id IN"
                         " (SELECT id FROM projects WHERE deleted_at IS NOT NULL)")
            removed += self.run(
                "DELETE FROM projects WHERE deleted_at IS NOT NULL AND id NOT IN"
                " (SELECT project_id FROM packages)")
            # Deepest first, so that a parent goes once its subgroups have.
            for row in self.rows("SELECT id FROM groups WHERE deleted_at IS NOT NULL"
                                 " ORDER BY length(path) DESC"):
                removed += self.run(
                    "DELETE FROM groups WHERE id = ? AND id NOT IN"
                    " (SELECT parent_id FROM groups WHERE parent_id IS NOT NULL)"
                    " AND id NOT IN (SELECT group_id FROM projects WHERE group_id IS NOT NULL)",
                    [row["id"]])
        return removed

    def _forget_hooks_of_deleted(self) -> None:
        """The hooks of deleted projects and groups, with their deliveries."""
        gone = ("(project_id IN (SELECT id FROM projects WHERE deleted_at IS NOT NULL)"
                " OR group_id IN (SELECT id FROM groups WHERE deleted_at IS NOT NULL))")
        for table in ("hooks", "hook_deliveries", "hook_attempts"):
            self.remember_last_id(table)
        self.run("DELETE FROM hook_attempts WHERE delivery_id IN (SELECT id FROM"
                 f" hook_deliveries WHERE hook_id IN (SELECT id FROM hooks WHERE {gone}))")
        self.run("DELETE FROM hook_deliveries WHERE hook_id IN"
                 f" (SELECT id FROM hooks WHERE {gone})")
        self.run(f"DELETE FROM hooks WHERE {gone}")

    def _check_parent_allows(self, parent: str, path: str, kind: str,
                             visibility: Visibility) -> None:
        if visibility != "public" or not parent:
            return
        group = self.group_by_path(parent)
        if group is not None and not group.is_public:
            raise CatalogError(f"{kind} {path!r} cannot be public inside private group"
                               f" {parent!r}")

    def _public_below(self, group: Group) -> list[str]:
        """Paths of the public groups and projects anywhere below ``group``."""
        pattern = like_below(group.path)
        return [row["path"] for row in self.rows(
            f"SELECT path FROM groups WHERE path {self.engine.like} ? ESCAPE '\\' AND {LIVE}"
            " AND visibility = 'public' UNION ALL"
            f" SELECT path FROM projects WHERE path {self.engine.like} ? ESCAPE '\\' AND {LIVE}"
            " AND visibility = 'public' ORDER BY path", [pattern, pattern])]

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
        return self._by_ref(Group, "groups", path, numeric_is_id=False)

    def group(self, ref: str | int) -> Group | None:
        """A group by numeric id or full path (kept, as :meth:`project`)."""
        return self._kept("groups", ref, lambda: self._by_ref(Group, "groups", ref))

    def project_by_path(self, path: str) -> Project | None:
        return self._by_ref(Project, "projects", path, numeric_is_id=False)

    def project(self, ref: str | int) -> Project | None:
        """A project by numeric id or full path, as GitLab's ``:id`` accepts either; once
        found, kept in memory while no change moves the catalog's generation (.changes)."""
        return self._kept("projects", ref, lambda: self._by_ref(Project, "projects", ref))

    def _kept(self, table: str, ref: str | int, read: Callable[[], T | None]) -> T | None:
        # By the ref exactly as asked: which row a path matches is the database's to say
        # (its case folding is not Python's in every collation).
        return self.kept((table, ref), read)

    def _by_ref(self, kind: type[T], table: str, ref: str | int, *,
                numeric_is_id: bool = True) -> T | None:
        """One live row by id (an int, or digits when ``numeric_is_id``) or by full path.
        Every request that names a project asks this: the row comes as a tuple in the
        dataclass's own field order (no dict, one fetch)."""
        value: int | str
        if isinstance(ref, int) or (numeric_is_id and ref.isascii() and ref.isdigit()):
            number = ref if isinstance(ref, int) else as_id(ref)
            if number is None or number > MAX_ID:
                return None  # past the database's integers: no row has that id
            where, value = "id = ?", number
        else:
            where, value = self.engine.nocase_equals("path"), ref
        columns = _COLUMNS[table]
        row = next(self.tuples(f"SELECT {columns} FROM {table} WHERE {where} AND {LIVE}"
                               " LIMIT 1", [value]), None)
        return kind(*row) if row is not None else None

    def projects_in_group(self, group: Group, *, subgroups: bool = True) -> list[Project]:
        """The group's projects, and with ``subgroups`` those of every group below it
        (kept, as :meth:`project`)."""
        kept = self.changes.kept(("in group", group.id, subgroups),
                                 lambda: tuple(self._projects_in(group, subgroups)),
                                 self.generation)
        return list(kept or ())

    def _projects_in(self, group: Group, subgroups: bool) -> list[Project]:
        if subgroups:
            rows = self.rows(
                f"SELECT {_PROJECT_COLUMNS} FROM projects WHERE path {self.engine.like} ?"
                " ESCAPE '\\'"
                f" AND {LIVE} ORDER BY id",
                [like_below(group.path)],
            )
        else:
            rows = self.rows(
                f"SELECT {_PROJECT_COLUMNS} FROM projects WHERE group_id = ? AND {LIVE}"
                " ORDER BY id", [group.id]
            )
        return [Project(**row) for row in rows]

    def project_usage(self) -> list[Usage]:
        """Every project with its live packages, files and bytes, by path."""
        rows = self.rows(
            "SELECT pr.id, pr.path, pr.visibility, pr.created_at,"
            " (SELECT count(*) FROM packages p WHERE p.project_id = pr.id"
            f"  AND p.status != '{PENDING_DESTRUCTION}') AS packages,"
            " (SELECT count(*) FROM package_files f WHERE f.project_id = pr.id"
            "  AND f.status = 'default') AS files,"
            " (SELECT CAST(coalesce(sum(f.size), 0) AS BIGINT) FROM package_files f"
            "  WHERE f.project_id = pr.id"
            "  AND f.status = 'default') AS bytes"
            f" FROM projects pr WHERE pr.deleted_at IS NULL"
            f" ORDER BY {self.engine.nocase_order('pr.path')}")
        return [Usage(**row) for row in rows]

    def group_usage(self) -> list[Usage]:
        """Every group with what the projects anywhere below it hold, by path."""
        projects = self.project_usage()
        usage = []
        for row in self.rows("SELECT id, path, visibility, created_at FROM groups"
                             f" WHERE {LIVE} ORDER BY {self.engine.nocase_order('path')}"):
            prefix = row["path"].lower() + "/"
            below = [p for p in projects if p.path.lower().startswith(prefix)]
            usage.append(Usage(**row, packages=sum(p.packages for p in below),
                               files=sum(p.files for p in below),
                               bytes=sum(p.bytes for p in below), projects=len(below)))
        return usage

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


def like_below(path: str) -> str:
    """A LIKE pattern for everything below ``path`` (LIKE compares case-insensitively, as
    paths are), its wildcards escaped."""
    return path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "/%"
