"""Which blobs are in use: by file rows, and by uploads in flight that reserved them.

An upload reserves its blobs' keys (a short transaction), stores the bytes without holding
the write lock, then commits its row and drops the reservation. A reserved key counts as in
use everywhere a blob may be deleted, so no delete or gc removes a blob an upload in flight
is about to reference; a crash leaves a reservation that gc drops once it is older than the
grace period, and the blob, if nothing else uses it, goes with the next sweep.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..models import PENDING_DESTRUCTION
from .base import CatalogBase, utcnow


class BlobQueries(CatalogBase):
    def reserve_blobs(self, keys: Iterable[str]) -> list[int]:
        """Reserve keys for an upload in flight; returns the reservations, to release."""
        reservations = []
        with self.write():
            for key in keys:
                reservation = self.next_id("blob_reservations")
                self.insert("blob_reservations", {"id": reservation, "storage_key": key,
                                                  "created_at": utcnow()})
                reservations.append(reservation)
        return reservations

    def release_reservations(self, reservations: Iterable[int]) -> None:
        with self.write():
            self.run(f"DELETE FROM blob_reservations WHERE {self.in_ids('id')}",
                     [self.ids(reservations)])

    def purge_stale_reservations(self, older_than: str) -> int:
        """Drop the reservations of uploads that never finished (a crash), made before
        ``older_than`` (a catalog timestamp); returns how many."""
        with self.write():
            self.remember_last_id("blob_reservations")
            return self.run("DELETE FROM blob_reservations WHERE created_at < ?", [older_than])

    def key_in_use(self, storage_key: str, *, live_only: bool = False) -> bool:
        """Whether a blob is reserved by an upload in flight, or a file row points at it,
        as file or as metadata (only a live package file counts, with ``live_only``; a
        cached or staged file always does)."""
        if self.value("SELECT 1 FROM blob_reservations WHERE storage_key = ? LIMIT 1",
                      [storage_key]):
            return True
        status = " AND status = 'default'" if live_only else ""
        for column in ("storage_key", "metadata_key"):
            if self.value(f"SELECT 1 FROM package_files WHERE {column} = ?{status} LIMIT 1",
                          [storage_key]):
                return True
            for table in ("upstream_files", "stage_files"):  # cached, or staged to publish
                if self.value(f"SELECT 1 FROM {table} WHERE {column} = ? LIMIT 1",
                              [storage_key]):
                    return True
        return False

    def referenced_keys(self) -> set[str]:
        """Every key a file row (a package's, a cached upstream file's or a staged one's)
        or a reservation names."""
        return {row["key"] for row in self.rows(
            "SELECT storage_key AS key FROM package_files UNION"
            " SELECT metadata_key FROM package_files WHERE metadata_key IS NOT NULL UNION"
            " SELECT storage_key FROM upstream_files WHERE storage_key IS NOT NULL UNION"
            " SELECT metadata_key FROM upstream_files WHERE metadata_key IS NOT NULL UNION"
            " SELECT storage_key FROM stage_files UNION"
            " SELECT metadata_key FROM stage_files WHERE metadata_key IS NOT NULL UNION"
            " SELECT storage_key FROM blob_reservations")}

    def registry_size(self) -> dict[str, int]:
        """Live projects, packages and files, and the bytes of the files (for the metrics,
        which reuse it for a while: each count reads a whole table's index)."""
        projects = self.value("SELECT count(*) FROM projects WHERE deleted_at IS NULL")
        packages = self.value("SELECT count(*) FROM packages WHERE status != ?",
                              [PENDING_DESTRUCTION])
        files, size = next(self.tuples(
            "SELECT count(*), coalesce(sum(size), 0) FROM package_files WHERE status = ?",
            ["default"]))
        return {"projects": int(projects), "packages": int(packages), "files": int(files),
                "stored_bytes": int(size)}
