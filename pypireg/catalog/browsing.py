"""What people's pages read: package names (kept by :mod:`.names`) listed, counted and
searched, a name's versions, and a package's details."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..models import Group, NameEntry, Package, Project
from .base import CatalogBase, load_json
from .listing import escape_like
from .names import INSTALLABLE, search_words
from .namespaces import LIVE
from .packages import to_package

_ENTRY = ("n.project_id, n.normalized_name, n.name, n.version, n.summary, n.last_upload_at,"
          " n.last_version")
NAME_ORDERS = {"name": "n.normalized_name", "last_upload": "n.last_upload_at"}
SEARCH_RESULTS = 1000  # matches a search ranks by text; past it, by name and age only


class BrowsingQueries(CatalogBase):
    def name_entries(
        self, project_ids: Iterable[int], *, terms: Sequence[str] = (), order: str = "name",
        descending: bool = False, limit: int = 20, offset: int = 0,
    ) -> tuple[list[NameEntry], int]:
        """One page of the names in these projects, and how many match in all. Each
        term must occur in the name, in any case."""
        in_projects, params = self.in_projects("n.project_id", project_ids)
        where = [in_projects]
        for term in terms:
            where.append(f"n.name {self.engine.like} ? ESCAPE '\\'")
            params.append("%" + escape_like(term) + "%")
        condition = " AND ".join(where)
        total = self.value(f"SELECT count(*) FROM package_names n WHERE {condition}", params)
        direction = "DESC" if descending else "ASC"
        rows = self.tuples(
            f"SELECT {_ENTRY} FROM package_names n WHERE {condition}"
            f" ORDER BY {NAME_ORDERS[order]} {direction}, n.id {direction} LIMIT ? OFFSET ?",
            [*params, limit, offset])
        return list(map(NameEntry._make, rows)), int(total)

    def recent_names(self, project_ids: Iterable[int], limit: int = 10) -> list[NameEntry]:
        """The names uploaded to last, newest first: the newest of each project's own
        newest (its index by time), so the cost follows the projects, not the names."""
        in_projects, params = self.in_projects("pr.id", project_ids)
        rows = self.tuples(
            f"SELECT {_ENTRY} FROM projects pr JOIN package_names n ON n.id IN ("
            " SELECT m.id FROM package_names m WHERE m.project_id = pr.id"
            " ORDER BY m.last_upload_at DESC, m.id DESC LIMIT ?)"
            f" WHERE {in_projects} ORDER BY n.last_upload_at DESC, n.id DESC LIMIT ?",
            [limit, *params, limit])
        return list(map(NameEntry._make, rows))

    def name_counts(self, project_ids: Iterable[int]) -> dict[int, int]:
        """How many package names each of these projects holds."""
        in_projects, params = self.in_projects("n.project_id", project_ids)
        return {row["project_id"]: row["names"] for row in self.rows(
            f"SELECT n.project_id, count(*) AS names FROM package_names n WHERE {in_projects}"
            " GROUP BY n.project_id", params)}

    def search_names(self, project_ids: Iterable[int], words: Sequence[str], *,
                     limit: int = 20, offset: int = 0) -> tuple[list[NameEntry], int]:
        """Names whose name or summary has every word (as a word's start), and how many:
        the exact name first, then names starting with the query, then by text rank.

        Ranking by text costs a score for every match, so a query matching more than
        :data:`SEARCH_RESULTS` names (``pkg`` in a registry of ``pkg*``) ranks the
        exact name and the newest of the rest instead: cost bounded, count exact.
        """
        if not words:
            return [], 0
        exact = "-".join(words)
        text = self.engine.text_match("n", words)
        in_projects, params = self.in_projects("n.project_id", project_ids)
        condition, condition_params = f"{text.where} AND {in_projects}", [*text.params, *params]
        total = int(self.value(f"SELECT count(*) FROM {text.source} WHERE {condition}",
                               condition_params))
        if total <= SEARCH_RESULTS:
            rows = self.rows(f"SELECT {_ENTRY}, {text.rank} AS text_rank FROM {text.source}"
                             f" WHERE {condition}", [*text.rank_params, *condition_params])
        else:
            rows = self.rows(f"SELECT {_ENTRY}, 0 AS text_rank FROM {text.source}"
                             f" WHERE {condition} ORDER BY {text.newest}"
                             f" LIMIT {SEARCH_RESULTS}", condition_params)
            rows += self.rows(f"SELECT {_ENTRY}, 0 AS text_rank FROM package_names n"
                              f" WHERE n.normalized_name = ? AND {in_projects}",
                              [exact, *params])
        found = {(r["project_id"], r["normalized_name"]): r for r in rows}
        ranked = sorted(found.values(), key=lambda r: (
            "-".join(search_words(r["normalized_name"])) != exact,
            not r["normalized_name"].startswith(words[0]), r["text_rank"],
            r["normalized_name"], r["project_id"]))
        page = ranked[offset:offset + limit]
        return [NameEntry(*(r[c] for c in NameEntry._fields)) for r in page], total

    def name_marks(self, names: Iterable[tuple[int, str]]) -> dict[tuple[int, str], list[str]]:
        """For these ``(project id, normalized name)`` pairs, the marks a list shows beside
        each: ``yanked`` when every live file of the name is yanked (its current version
        is then a yanked one), and its PEP 792 status when not ``active``."""
        pairs = sorted(set(names))
        marks: dict[tuple[int, str], list[str]] = {}
        if not pairs:
            return marks
        in_projects, params = self.in_projects("p.project_id", {p for p, _ in pairs})
        listed = ", ".join("?" * len({n for _, n in pairs}))
        named = sorted({n for _, n in pairs})
        wanted = set(pairs)
        # Each version's files by its package (files_by_package), never a walk of them all.
        live = ("CASE WHEN EXISTS (SELECT 1 FROM package_files f WHERE f.package_id = p.id"
                " AND f.status = 'default'{}) THEN 1 ELSE 0 END")
        for project_id, name, has_files, installable in self.tuples(
                f"SELECT p.project_id, p.normalized_name, max({live.format('')}),"
                f" max({live.format(' AND f.yanked = 0')}) FROM packages p"
                f" WHERE {in_projects} AND p.normalized_name IN ({listed})"
                f" AND p.status IN ({INSTALLABLE})"
                " GROUP BY p.project_id, p.normalized_name", [*params, *named]):
            if (project_id, name) in wanted and has_files and not installable:
                marks.setdefault((project_id, name), []).append("yanked")
        in_projects, params = self.in_projects("project_id", {p for p, _ in pairs})
        for project_id, name, status in self.tuples(
                "SELECT project_id, normalized_name, status FROM name_statuses"
                f" WHERE {in_projects} AND normalized_name IN ({listed})", [*params, *named]):
            if (project_id, name) in wanted:
                marks.setdefault((project_id, name), []).append(status)
        return marks

    def versions_named(self, project_id: int, normalized_name: str) -> list[Package]:
        """Every live version of a name in a project, in no particular order."""
        return [to_package(row) for row in self.rows(
            "SELECT * FROM packages WHERE project_id = ? AND normalized_name = ?"
            f" AND status IN ({INSTALLABLE})", [project_id, normalized_name])]

    def yanked_versions(self, package_ids: Iterable[int]) -> dict[int, str]:
        """Of these packages, those whose live files are all yanked, with a reason
        given (or "")."""
        return {row["package_id"]: row["reason"] or "" for row in self.rows(
            "SELECT package_id, max(coalesce(yanked_reason, '')) AS reason FROM package_files"
            f" WHERE {self.in_ids('package_id')} AND status = 'default'"
            " GROUP BY package_id HAVING min(yanked) = 1", [self.ids(package_ids)])}

    def live_projects(self) -> list[Project]:
        """Every project, by path (people's pages keep those the caller may read)."""
        return [Project(**row) for row in self.rows(
            "SELECT id, path, name, group_id, visibility, serial, created_at FROM projects"
            f" WHERE {LIVE} ORDER BY path")]

    def live_groups(self) -> list[Group]:
        return [Group(**row) for row in self.rows(
            "SELECT id, path, name, parent_id, visibility, created_at FROM groups"
            f" WHERE {LIVE} ORDER BY path")]

    def package_details(self, package_id: int) -> dict[str, Any] | None:
        """What the upload of this package's latest file said of it, for its page."""
        found = self.value("SELECT details FROM package_details WHERE package_id = ?",
                           [package_id])
        return load_json(found) if found is not None else None
