"""Download statistics: how many times each file was downloaded on each day (UTC), added
up in batches by :class:`pypireg.downloads.DownloadTracker` (one statement adds to a
day's row on SQLite and PostgreSQL alike, so processes and hosts add up), read by package
and by project over a span of days, and forgotten after ``download_stats_days``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from .base import CatalogBase
from .names import INSTALLABLE


class FileDay(NamedTuple):
    """Where a download is counted: a file, its package and project, and the day; or,
    for a cached upstream file, its id in ``upstream_file_id`` alone, and the day."""
    project_id: int | None
    package_id: int | None
    file_id: int | None
    day: str  # YYYY-MM-DD, UTC
    upstream_file_id: int | None = None

    @property
    def key(self) -> str:
        if self.upstream_file_id is not None:
            return f"u{self.upstream_file_id}:{self.day}"
        return f"{self.file_id}:{self.day}"


class VersionDownloads(NamedTuple):
    name: str
    version: str
    downloads: int


class DownloadQueries(CatalogBase):
    def count_downloads(self, counts: Mapping[FileDay, int]) -> None:
        """Add these downloads to their days' rows (call inside ``write()``)."""
        self.run_many(
            "INSERT INTO download_counts (key, file_id, package_id, project_id,"
            " upstream_file_id, day, downloads) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key)"
            " DO UPDATE SET downloads = download_counts.downloads + excluded.downloads",
            [(at.key, at.file_id, at.package_id, at.project_id, at.upstream_file_id, at.day, n)
             for at, n in counts.items()])

    def upstream_downloads(self, normalized_name: str | None, first: str, last: str) -> int:
        """Downloads of cached upstream files (of one name, or all) from ``first`` to
        ``last``."""
        named, params = "", [first, last]
        if normalized_name is not None:
            named, params = " AND u.normalized_name = ?", [*params, normalized_name]
        return int(self.value(
            "SELECT coalesce(sum(d.downloads), 0) FROM download_counts d"
            " JOIN upstream_files u ON u.id = d.upstream_file_id"
            f" WHERE d.day >= ? AND d.day <= ?{named}", params))

    def package_downloads(self, package_id: int, first: str, last: str) -> dict[str, int]:
        """A package's downloads by day, from ``first`` to ``last`` (dates, included)."""
        return self.downloads_by_day([package_id], first, last)

    def downloads_by_day(self, package_ids: list[int], first: str, last: str
                         ) -> dict[str, int]:
        """These packages' downloads together, by day, from ``first`` to ``last``."""
        if not package_ids:
            return {}
        return {day: int(n) for day, n in self.tuples(
            f"SELECT day, sum(downloads) FROM download_counts WHERE {self.in_ids('package_id')}"
            " AND day >= ? AND day <= ? GROUP BY day ORDER BY day",
            [self.ids(package_ids), first, last])}

    def version_downloads(self, package_ids: list[int], first: str, last: str
                          ) -> dict[int, int]:
        """Each of these packages' downloads from ``first`` to ``last``, by package id."""
        if not package_ids:
            return {}
        return {int(package): int(n) for package, n in self.tuples(
            "SELECT package_id, sum(downloads) FROM download_counts"
            f" WHERE {self.in_ids('package_id')} AND day >= ? AND day <= ?"
            " GROUP BY package_id", [self.ids(package_ids), first, last])}

    def project_downloads(self, project_id: int, first: str, last: str, *,
                          normalized_name: str | None = None, limit: int = 20,
                          offset: int = 0) -> tuple[list[VersionDownloads], int]:
        """One page of a project's live versions by downloads from ``first`` to ``last``
        (most first), of one name or all, and how many versions had any."""
        named, params = "", [project_id, first, last]
        if normalized_name is not None:
            named, params = " AND p.normalized_name = ?", [*params, normalized_name]
        source = (" FROM download_counts d JOIN packages p ON p.id = d.package_id"
                  " WHERE d.project_id = ? AND d.day >= ? AND d.day <= ?"
                  f" AND p.status IN ({INSTALLABLE}){named}")
        total = self.value(f"SELECT count(DISTINCT d.package_id){source}", params)
        rows = self.tuples(
            f"SELECT p.name, p.version, sum(d.downloads) AS n{source}"
            " GROUP BY p.id, p.name, p.version ORDER BY n DESC, p.name, p.id DESC"
            " LIMIT ? OFFSET ?", [*params, limit, offset])
        return [VersionDownloads(name, version, int(n)) for name, version, n in rows], total

    def forget_downloads(self, before: str) -> int:
        """Delete the days before ``before`` (a date); returns how many rows went."""
        with self.write():
            return self.run("DELETE FROM download_counts WHERE day < ?", [before])
