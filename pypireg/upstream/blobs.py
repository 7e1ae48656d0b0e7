"""Where the cache keeps an upstream file's bytes and its metadata, and how a blob is kept:
stored, then recorded in the catalog, reserved meanwhile."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..storage import blob_key

if TYPE_CHECKING:
    from ..catalog import Catalog


def file_key(sha256: str) -> str:
    """Where a cached upstream file's bytes are kept: as uploaded blobs are, apart."""
    return f"upstream/{blob_key(sha256)}"


def metadata_key(sha256: str) -> str:
    return f"upstream/metadata/{blob_key(sha256).partition('/')[2]}"


def keep_blob(catalog: Catalog, key: str, store: Callable[[], None],
              record: Callable[[], None]) -> None:
    """Store a blob and record it in the catalog, reserved meanwhile so that gc, which
    sweeps blobs no row names, leaves it alone. The record and the release are one write
    transaction: a cold cache keeps many blobs at once, and each of them queues for the
    catalog's write lock."""
    reservations = catalog.reserve_blobs([key])
    try:
        store()
        with catalog.write():
            record()
            catalog.release_reservations(reservations)
    except BaseException:
        catalog.release_reservations(reservations)  # the record failed, or never came
        raise
