"""Deleting blobs safely, and sweeping up what crashes leave behind (``pypireg gc``)."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from . import dists
from .defaults import STAGING_MAX_AGE
from .details import package_details
from .forms import STAGING_PREFIX
from .limits import DEFAULT_LIMITS
from .protocols import ListsKeys, SweepsLeftovers
from .storage import blob_key
from .times import stamp

if TYPE_CHECKING:
    from .catalog import Catalog
    from .limits import Limits
    from .models import PackageFile
    from .protocols import Storage

BACKFILL_PREFIX = "metadata-"  # a stored file copied out for its metadata to be read


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
    leftovers: int = 0  # temporary files of storage writes a crash interrupted
    metadata: int = 0  # files given their core metadata (PEP 658) after the fact
    details: int = 0  # packages given their page's details (docs/ui.md) after the fact
    namespaces: int = 0  # deleted groups and projects removed for good
    reservations: int = 0  # blob reservations of uploads a crash interrupted
    cleaned: int = 0  # versions cleanup policies removed (Registry.collect_garbage)
    download_days: int = 0  # rows of download statistics past download_stats_days
    minted_tokens: int = 0  # tokens of trusted publishing a day past their expiry
    stages: int = 0  # staged releases past their expiry, forgotten (Registry.collect_garbage)
    hook_deliveries: int = 0  # webhook deliveries that ended over 30 days ago, forgotten
    orphans_checked: bool = True
    # What the cache of upstream indexes holds (kept: `pypireg cache purge` frees it).
    upstream_pages: int = 0
    upstream_files: int = 0
    upstream_bytes: int = 0

    @property
    def total(self) -> int:
        return (self.packages + self.files + self.blobs + self.staging_files + self.leftovers
                + self.metadata + self.details + self.namespaces + self.cleaned
                + self.reservations + self.download_days + self.minted_tokens + self.stages
                + self.hook_deliveries)

    def __str__(self) -> str:
        text = f"cleanup policies removed {_n(self.cleaned, 'version')}; " if self.cleaned else ""
        blobs = _n(self.blobs, "blob") + ("" if self.orphans_checked else " of purged files")
        text += (f"purged {_n(self.packages, 'package')} and {_n(self.files, 'file')} pending"
                 f" destruction; removed "
                 + (f"{blobs} and " if self.orphans_checked or self.blobs else "")
                 + _n(self.staging_files, "stale staging file"))
        if self.namespaces:
            removed = _n(self.namespaces, "deleted group or project",
                         "deleted groups and projects")
            text += f"; removed {removed}"
        if self.reservations:
            text += (f"; dropped {_n(self.reservations, 'reservation')} of interrupted"
                     " uploads")
        if self.leftovers:
            text += f"; removed {_n(self.leftovers, 'temporary file')} of interrupted writes"
        if self.metadata:
            text += f"; extracted core metadata for {_n(self.metadata, 'older file')}"
        if self.details:
            text += f"; read the details of {_n(self.details, 'older package')} for its page"
        if self.download_days:
            text += (f"; forgot {_n(self.download_days, 'daily download count')} older than"
                     " the statistics keep")
        if self.stages:
            text += f"; forgot {_n(self.stages, 'expired stage')} and the files staged in them"
        if self.hook_deliveries:
            ended = _n(self.hook_deliveries, "webhook delivery", "webhook deliveries")
            text += f"; forgot {ended} that ended over 30 days ago"
        if self.minted_tokens:
            text += (f"; forgot {_n(self.minted_tokens, 'token')} of trusted publishing"
                     " expired over a day ago")
        if not self.orphans_checked:
            text += ("; the storage cannot list its keys, so gc cannot collect the blobs"
                     " nothing uses")
        if self.upstream_pages or self.upstream_files:
            text += (f"; the upstream cache holds {_n(self.upstream_pages, 'page')} and"
                     f" {_n(self.upstream_files, 'file')} ({self.upstream_bytes:,} bytes),"
                     " kept until `pypireg cache purge`")
        return text


def collect_garbage(
    catalog: Catalog, storage: Storage, staging_dir: str, *,
    staging_max_age: float = STAGING_MAX_AGE, limits: Limits = DEFAULT_LIMITS,
) -> GarbageReport:
    """Remove soft-deleted rows, blobs no row uses, abandoned staging files and what
    interrupted storage writes left, once older than ``staging_max_age`` seconds.

    Safe to run while the registry serves, and as often as you like: a second run finds
    nothing left to do.
    """
    report = GarbageReport()
    report.packages, report.files, keys = catalog.purge_destroyed()
    report.blobs += release_blobs(catalog, storage, keys)
    report.namespaces = catalog.purge_deleted_namespaces()
    # Before the sweep, so that what an interrupted upload stored goes with it.
    report.reservations = catalog.purge_stale_reservations(
        stamp(datetime.fromtimestamp(time.time() - staging_max_age, timezone.utc)))
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
    if isinstance(storage, SweepsLeftovers):
        report.leftovers = storage.sweep_leftovers(time.time() - staging_max_age)
    report.metadata = backfill_metadata(catalog, storage, staging_dir, limits)
    report.details = backfill_details(catalog, storage, limits)
    report.upstream_pages, report.upstream_files, report.upstream_bytes = (
        catalog.upstream_cache_usage())
    catalog.refresh_statistics()
    return report


def backfill_metadata(catalog: Catalog, storage: Storage, staging_dir: str,
                      limits: Limits = DEFAULT_LIMITS) -> int:
    """Give files stored before PEP 658 support their core metadata; returns how many got
    one. Each file is looked at once: one without metadata is marked so."""
    added = 0
    while batch := catalog.files_never_checked_for_metadata():
        for package_file in batch:
            core = _core_metadata_of(storage, package_file, staging_dir, limits)
            if core is None:
                catalog.set_file_metadata(package_file, "", None)
                continue
            sha256 = hashlib.sha256(core).hexdigest()
            key = blob_key(sha256)
            with catalog.write():
                if not storage.exists(key):
                    storage.put_stream(key, io.BytesIO(core))
                catalog.set_file_metadata(package_file, sha256, key)
            added += 1
    return added


def backfill_details(catalog: Catalog, storage: Storage, limits: Limits = DEFAULT_LIMITS
                     ) -> int:
    """Give packages stored before their pages had details (README, license, ...) the
    details of their core metadata; returns how many got some. Each is looked at once."""
    added = 0
    while batch := catalog.packages_without_details():
        for project_id, package_id, key in batch:
            try:
                with storage.open(key) as stream:
                    raw = stream.read(limits.max_metadata_size + 1)
            except KeyError:
                raw = b""
            details = package_details(raw, limits) if raw else {}
            with catalog.write():
                catalog.set_package_details(package_id, details)
                catalog.bump_serial(project_id)  # its kept pages are out of date
            added += bool(details)
    return added


def _core_metadata_of(storage: Storage, package_file: PackageFile, staging_dir: str,
                      limits: Limits) -> bytes | None:
    """Copy the stored file to a temporary one (archives need seeking) and read it."""
    try:
        with storage.open(package_file.storage_key) as source, tempfile.NamedTemporaryFile(
                dir=staging_dir, prefix=BACKFILL_PREFIX) as copy:
            shutil.copyfileobj(source, copy, 1024 * 1024)
            copy.flush()
            return dists.core_metadata(copy.name, package_file.file_name, limits)
    except (KeyError, dists.InvalidDistribution):
        return None


def _sweep_staging(staging_dir: str, max_age: float) -> int:
    cutoff = time.time() - max_age
    removed = 0
    for entry in os.scandir(staging_dir):
        if (entry.name.startswith((STAGING_PREFIX, BACKFILL_PREFIX))
                and entry.stat().st_mtime < cutoff):
            try:
                os.unlink(entry.path)
                removed += 1
            except FileNotFoundError:
                pass
    return removed


def _n(count: int, noun: str, nouns: str | None = None) -> str:
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"

