"""Moving a whole registry to another catalog and storage (``pypireg migrate``): every row
with its id, and every blob, checked against its sha256 where it lands.

Blobs go first, so the target's rows never point at a file it does not hold. Running it
again copies nothing new and checks every blob again; a target that holds another
registry is refused.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .catalog import CatalogError
from .catalog.copying import TABLES
from .dists import SHA256_HEX
from .forms import STAGING_PREFIX

if TYPE_CHECKING:
    from .app import Registry
    from .protocols import Storage

CHUNK = 1024 * 1024


@dataclass
class MigrationReport:
    rows: dict[str, int] = field(default_factory=dict)  # rows copied, by table
    blobs_copied: int = 0
    blobs_checked: int = 0

    def __str__(self) -> str:
        copied = ", ".join(f"{count} {table}" for table, count in self.rows.items())
        return (f"copied {self.blobs_copied} blobs (all {self.blobs_checked} checked by their"
                f" sha256 on the target) and rows: {copied}")


def migrate_registry(source: Registry, target: Registry,
                     progress: Callable[[int, int], None] | None = None) -> MigrationReport:
    """Copy ``source`` into ``target`` (empty, or an earlier copy of the same registry)."""
    origin = source.catalog.registry_id()
    if not target.catalog.is_empty() and target.catalog.copied_from() != origin:
        raise CatalogError("the target already holds another registry: migrate into an empty"
                           " catalog")
    report = MigrationReport()
    keys = sorted(source.catalog.referenced_keys())
    for done, key in enumerate(keys, 1):
        if not source.storage.exists(key):
            if source.catalog.key_in_use(key, live_only=True):
                raise CatalogError(f"the source has lost the blob {key}, which a live file"
                                   " uses: run pypireg gc on it, or restore the blob")
            continue  # a deleted file's blob, already freed
        if not target.storage.exists(key):
            _copy(source.storage, target.storage, key, target.staging_dir)
            report.blobs_copied += 1
        _check(target.storage, key)
        report.blobs_checked += 1
        if progress:
            progress(done, len(keys))
    for table in TABLES:
        report.rows[table] = sum(target.catalog.import_rows(table, batch, origin)
                                 for batch in source.catalog.export_rows(table))
    target.catalog.keep_last_ids(source.catalog.last_ids())
    return report


def _copy(source: Storage, target: Storage, key: str, staging_dir: str) -> None:
    """Through a local file: the target may move it into place (put_file's contract)."""
    handle, path = tempfile.mkstemp(dir=staging_dir, prefix=STAGING_PREFIX)
    try:
        with source.open(key) as stream, os.fdopen(handle, "wb") as copy:
            shutil.copyfileobj(stream, copy, CHUNK)
        target.put_file(key, path)
    finally:
        if os.path.exists(path):
            os.unlink(path)


def _check(storage: Storage, key: str) -> None:
    """The blob's bytes hash to the digest its key names (keys are content-addressed)."""
    expected = key.rsplit("/", 1)[-1]
    if not SHA256_HEX.fullmatch(expected):
        return  # not a content-addressed key: nothing to compare with
    digest = hashlib.sha256()
    with storage.open(key) as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != expected:
        raise CatalogError(f"the blob {key} differs on the target (sha256"
                           f" {digest.hexdigest()}): remove it there and migrate again")
