"""Staged releases: stages of a project and the files uploaded into them (pypireg/stages.py
publishes them through :meth:`.packages.PackageQueries.add_file`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..models import IndexEntry
from ..records import Stage, StagedFile
from .base import CatalogBase, CatalogError, load_json

OPEN, PUBLISHED, EXPIRED = "open", "published", "expired"
_STAGE_COLUMNS = ("id, project_id, name, status, created_at, expires_at, created_by,"
                  " published_at")


# A staged file's columns but those only publishing reads.
_LISTED = ("id, stage_id, name, normalized_name, version, canonical_version, file_name, size,"
           " md5, sha1, sha256, storage_key, requires_python, created_at, metadata_sha256,"
           " metadata_key")


class StageExists(CatalogError):
    """The project has an open stage of that name."""


def _stage(row: Mapping[str, Any], now: str) -> Stage:
    status = row["status"]
    if status == OPEN and row["expires_at"] <= now:
        status = EXPIRED
    return Stage(**{**row, "status": status})


def _staged_file(row: Mapping[str, Any]) -> StagedFile:
    return StagedFile(**{**row, "metadata": load_json(row["metadata"]) or {},
                         "details": load_json(row["details"]),
                         "provenance": load_json(row["provenance"])})


class StageQueries(CatalogBase):
    def create_stage(self, project_id: int, name: str, *, now: str, expires_at: str,
                     created_by: str) -> Stage:
        """A new open stage; an expired one of the same name is marked so first. Raises
        :class:`StageExists` while an open one has the name."""
        with self.write():
            found = self.row(f"SELECT {_STAGE_COLUMNS} FROM stages WHERE project_id = ?"
                             " AND name = ? AND status = ?", [project_id, name, OPEN])
            if found is not None:
                if found["expires_at"] > now:
                    raise StageExists(f"the project has an open stage named {name!r}")
                self.update("stages", found["id"], {"status": EXPIRED})
            row = {"id": self.next_id("stages"), "project_id": project_id, "name": name,
                   "status": OPEN, "created_at": now, "expires_at": expires_at,
                   "created_by": created_by, "published_at": None}
            self.insert("stages", row)
        return _stage(row, now)

    def stage(self, project_id: int, name: str, *, now: str) -> Stage | None:
        """The project's newest stage of that name."""
        row = self.row(f"SELECT {_STAGE_COLUMNS} FROM stages WHERE project_id = ? AND name = ?"
                       " ORDER BY id DESC LIMIT 1", [project_id, name])
        return _stage(row, now) if row else None

    def stages(self, project_ids: Iterable[int], *, now: str, open_only: bool = False,
               limit: int = 100, offset: int = 0) -> tuple[list[Stage], int]:
        """One page of the projects' stages (only those open, with ``open_only``), newest
        first, and how many there are."""
        in_projects, ids = self.in_projects("project_id", project_ids)
        where, params = in_projects, list[Any](ids)
        if open_only:
            where, params = f"{where} AND status = ? AND expires_at > ?", [*ids, OPEN, now]
        total = self.value(f"SELECT count(*) FROM stages WHERE {where}", params)
        rows = self.rows(f"SELECT {_STAGE_COLUMNS} FROM stages WHERE {where}"
                         " ORDER BY id DESC LIMIT ? OFFSET ?", [*params, limit, offset])
        return [_stage(row, now) for row in rows], int(total)

    def staged_files(self, stage_id: int, normalized_name: str | None = None
                     ) -> list[StagedFile]:
        """A stage's files (of one package name), in upload order, without what only
        publishing needs (their metadata, details and provenance: :meth:`staged_whole`)."""
        where, params = "stage_id = ?", list[Any]([stage_id])
        if normalized_name is not None:
            where, params = where + " AND normalized_name = ?", [*params, normalized_name]
        return [StagedFile(**row) for row in self.rows(
            f"SELECT {_LISTED} FROM stage_files WHERE {where} ORDER BY id", params)]

    def staged_file(self, stage_id: int, file_name: str) -> StagedFile | None:
        """One of a stage's files by name, as :meth:`staged_files` lists it."""
        row = self.row(f"SELECT {_LISTED} FROM stage_files WHERE stage_id = ?"
                       " AND file_name = ?", [stage_id, file_name])
        return StagedFile(**row) if row else None

    def staged_whole(self, staged_file_id: int) -> StagedFile:
        """One staged file with everything publishing records (its details may be a
        megabyte: read one file at a time)."""
        return _staged_file(self.row(  # type: ignore[arg-type]
            "SELECT * FROM stage_files WHERE id = ?", [staged_file_id]))

    def staged_counts(self, stage_ids: Iterable[int]) -> dict[int, tuple[int, int]]:
        """How many files, and bytes, each stage holds."""
        ids = list(stage_ids)
        if not ids:
            return {}
        return {row[0]: (int(row[1]), int(row[2])) for row in self.tuples(  # PG: Decimal
            f"SELECT stage_id, count(*), coalesce(sum(size), 0) FROM stage_files"
            f" WHERE {self.in_ids('stage_id')} GROUP BY stage_id", [self.ids(ids)])}

    def staged_index(self, stage_id: int) -> list[IndexEntry]:
        """Each package name a stage holds once, as a simple index lists it."""
        return [IndexEntry(*row) for row in self.tuples(
            "SELECT max(name), normalized_name, max(requires_python) FROM stage_files"
            " WHERE stage_id = ? GROUP BY normalized_name ORDER BY normalized_name",
            [stage_id])]

    def add_staged_file(self, stage_id: int, row: dict[str, Any]) -> StagedFile:
        """Record a file uploaded into a stage (its columns but ``id`` and ``stage_id``)."""
        with self.write():
            full = {**row, "id": self.next_id("stage_files"), "stage_id": stage_id}
            self.insert("stage_files", full)
        return _staged_file(full)

    def mark_published(self, stage_id: int, when: str, expires_at: str) -> None:
        """A stage published ``when``; gc forgets it at ``expires_at``."""
        with self.write():
            self.update("stages", stage_id, {"status": PUBLISHED, "published_at": when,
                                             "expires_at": expires_at})

    def open_stage_count(self, project_id: int, now: str) -> int:
        return int(self.value("SELECT count(*) FROM stages WHERE project_id = ?"
                              " AND status = ? AND expires_at > ?", [project_id, OPEN, now]))

    def stage_by_id(self, stage_id: int, now: str) -> Stage | None:
        row = self.row(f"SELECT {_STAGE_COLUMNS} FROM stages WHERE id = ?", [stage_id])
        return _stage(row, now) if row else None

    def delete_stage(self, stage_id: int) -> list[str]:
        """Forget a stage and its files; returns the blobs they held."""
        with self.write():
            keys = [key for row in self.tuples(
                "SELECT storage_key, metadata_key FROM stage_files WHERE stage_id = ?",
                [stage_id]) for key in row if key]
            self.remember_last_id("stage_files")
            self.remember_last_id("stages")
            self.run("DELETE FROM stage_files WHERE stage_id = ?", [stage_id])
            self.run("DELETE FROM stages WHERE id = ?", [stage_id])
        return keys

    def stages_past(self, when: str) -> list[Stage]:
        """Every stage, open or published, whose time ran out before ``when`` (gc's)."""
        return [_stage(row, when) for row in self.rows(
            f"SELECT {_STAGE_COLUMNS} FROM stages WHERE expires_at <= ? ORDER BY id", [when])]

    def name_staged(self, project_ids: list[int], normalized_name: str) -> bool:
        """Whether an open stage of these projects holds a file of the name."""
        in_projects, params = self.in_projects("s.project_id", project_ids)
        return bool(self.value(
            "SELECT 1 FROM stage_files f JOIN stages s ON s.id = f.stage_id"
            f" WHERE {in_projects} AND s.status = ? AND f.normalized_name = ? LIMIT 1",
            [*params, OPEN, normalized_name]))
