"""Deleting blobs safely, and sweeping up what crashes leave behind (``pypireg gc``)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .protocols import ListsKeys

if TYPE_CHECKING:
    from .catalog import Catalog
    from .protocols import Storage

STAGING_MAX_AGE = 24 * 3600  # an upload still staging after a day was abandoned


def release_blobs(catalog: Catalog, storage: Storage, keys: Iterable[str]) -> int:
    """Delete the blobs no live file uses any more; returns how many went.

    Each check and delete runs under the catalog's write lock, so an upload of the same
    bytes cannot start using a blob while it is being removed.
    """
    removed = 0
    for key in sorted(set(keys)):
        with catalog.write():
            if not catalog.key_in_use(key, live_only=True) and storage.exists(key):
                storage.delete(key)
                removed += 1
    return removed


@dataclass
class GarbageReport:
    packages: int = 0
    files: int = 0
    blobs: int = 0
    staging_files: int = 0
    orphans_checked: bool = True

    def __str__(self) -> str:
        text = (f"purged {self.packages} packages and {self.files} files pending destruction;"
                f" removed {self.blobs} blobs and {self.staging_files} stale staging files")
        if not self.orphans_checked:
            text += "; the storage cannot list its keys, so unreferenced blobs were not swept"
        return text


def collect_garbage(
    catalog: Catalog, storage: Storage, staging_dir: str, *,
    staging_max_age: float = STAGING_MAX_AGE,
) -> GarbageReport:
    """Remove soft-deleted rows, blobs no row uses, and abandoned staging files.

    Safe to run while the registry serves, and as often as you like: a second run finds
    nothing left to do.
    """
    report = GarbageReport()
    report.packages, report.files, keys = catalog.purge_destroyed()
    report.blobs += release_blobs(catalog, storage, keys)
    if isinstance(storage, ListsKeys):
        referenced = catalog.referenced_keys()
        for key in storage.keys():  # noqa: SIM118 - the ListsKeys method, not a dict
            if key in referenced:
                continue
            # Checked again under the lock: an upload may have just committed a row for it.
            with catalog.write():
                if not catalog.key_in_use(key):
                    storage.delete(key)
                    report.blobs += 1
    else:
        report.orphans_checked = False
    report.staging_files = _sweep_staging(staging_dir, staging_max_age)
    return report


def _sweep_staging(staging_dir: str, max_age: float) -> int:
    cutoff = time.time() - max_age
    removed = 0
    for entry in os.scandir(staging_dir):
        if entry.name.startswith("upload-") and entry.stat().st_mtime < cutoff:
            try:
                os.unlink(entry.path)
                removed += 1
            except FileNotFoundError:
                pass
    return removed
